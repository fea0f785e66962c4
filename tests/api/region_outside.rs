//! From outside a region (issue 24): a supervisor, an analyst and a leader of 天水 (620500)
//! against a private message of 兰州 in handling, with everything handling leaves around it
//! (deadlines, an extension request, a supervision case, a visit, an alert, an instruction, a
//! clarification). Every read is 404 or leaves the rows out, every action is 404, statistics of
//! 兰州 are 403. Each case also runs as the counterpart inside the region (the demo supervisor
//! and analyst of the province, the mayor of 兰州), who must see the row: so no case passes
//! because the fixture lacks what it looks for.

use reqwest::Method;
use serde_json::{Value, json};

use crate::handling::{TRANSPORT_BUREAU, assign, post_with};
use crate::helpers::{Demo, Resp, TestApp, unit};
use crate::messages::{lanzhou_liaison, leader, message_body, submit};
use crate::replies::sign_for;

/// What someone outside the region must get.
enum Hidden {
    /// 404 (the detail of a read of it, never 403).
    NotFound,
    /// 200 with no item whose `key` is `value` (or 404 for a filter naming the hidden row).
    Without(&'static str, String),
    /// 200 with no line containing `value` (a CSV download).
    NotInText(String),
    /// 403: a region filter outside one's own.
    Forbidden,
}

enum IfMatch {
    None,
    Message,
    Fixed(&'static str),
}

struct Case {
    what: &'static str,
    method: Method,
    /// The spec's path template, for the operation's `x-allowed-roles`.
    template: &'static str,
    path: String,
    body: Option<Value>,
    /// `If-Match` to send: the message's current ETag, or a fixed one (so that only the
    /// region can refuse).
    if_match: IfMatch,
    hidden: Hidden,
}

fn case(
    what: &'static str,
    method: Method,
    template: &'static str,
    path: String,
    body: Option<Value>,
    hidden: Hidden,
) -> Case {
    Case {
        what,
        method,
        template,
        path,
        body,
        if_match: IfMatch::None,
        hidden,
    }
}

/// An account of 天水 with a region scope (a leader takes 吴建平's region).
async fn tianshui(app: &TestApp, role: &str) -> String {
    let admin = app.token(Demo::Admin).await;
    let email = format!("outside.{role}@example.cn");
    let mut body = json!({"email": email, "password": "tianshui password 1",
        "display_name": "天水", "role": role});
    match role {
        "leader" => body["leader_id"] = json!(leader("吴建平")),
        "supervisor" => {
            body["unit_id"] = json!(unit("天水市人民政府办公室"));
            body["scope_region_code"] = json!("620500");
        }
        _ => body["scope_region_code"] = json!("620500"),
    }
    let r = app.post("/api/v1/users", &admin, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["scope_region_code"], "620500", "{}", r.body);
    app.login(&email, "tianshui password 1").await
}

fn id_of(r: &Resp, what: &str) -> String {
    assert!(r.status.is_success(), "{what}: {} {}", r.status, r.body);
    r.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no id in {}", r.body))
        .to_owned()
}

/// Ids of the fixture.
struct Fixture {
    message: String,
    /// The second message, with a published reply and a planned visit.
    answered: String,
    tracking_no: String,
    assignment: String,
    deadline: String,
    extension: String,
    supervision: String,
    visit: String,
    alert: String,
    instruction: String,
    clarification: String,
}

/// A private message to the mayor of 兰州 (城关区), assigned to and signed for by the transport
/// bureau; returns its id and tracking number.
async fn private_in_progress(app: &TestApp, liaison: &str, body: &str) -> (String, String) {
    let citizen = app.token(Demo::Citizen).await;
    let mut b = message_body("工地欠薪");
    b["visibility"] = json!("private");
    b["body"] = json!(body);
    let m = submit(app, &citizen, b).await;
    let message = m["id"].as_str().unwrap().to_owned();
    let tracking_no = m["tracking_no"].as_str().unwrap().to_owned();
    let r = app
        .send_with(
            Method::PUT,
            &format!("/api/v1/messages/{message}/classification"),
            Some(liaison),
            Some(json!({"priority": "routine", "category_id": "01930000-0000-7000-8000-000000000002"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post_with(
        app,
        &format!("/api/v1/messages/{message}/accept"),
        liaison,
        json!({}),
        "\"2\"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = assign(app, liaison, &message, TRANSPORT_BUREAU, &[]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    sign_for(app, &app.token(Demo::Handler).await, &message).await;
    (message, tracking_no)
}

/// A private message of 兰州 whose text trips the demo keyword rule (an alert), in handling:
/// supervised, instructed, an extension requested and a clarification asked. The visit is
/// planned on a second private message of 兰州, answered (visits follow a reply).
async fn fixture(app: &TestApp) -> Fixture {
    let liaison = lanzhou_liaison(app).await;
    let handler = app.token(Demo::Handler).await;
    let supervisor = app.token(Demo::Supervisor).await;
    let (message, tracking_no) = private_in_progress(
        app,
        &liaison,
        "工地欠薪半年，工人们商量要去市政府集体上访，请领导重视。",
    )
    .await;
    let (answered, _) = private_in_progress(
        app,
        &liaison,
        "小区门前道路坑洼多年，雨天积水严重，请尽快修复。",
    )
    .await;
    crate::replies::publish(
        app,
        &answered,
        "final",
        "经核实，该路段已列入本年度道路维修计划，已于11月24日完成修补。感谢您的监督。",
    )
    .await;
    let r = app
        .get(&format!("/api/v1/messages/{message}/assignments"), &handler)
        .await;
    let assignment = r.body["items"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["role"] == "lead"))
        .and_then(|a| a["id"].as_str())
        .unwrap_or_else(|| panic!("no lead assignment: {}", r.body))
        .to_owned();
    let r = app
        .get(
            &format!("/api/v1/deadlines?message_id={message}&kind=reply"),
            &supervisor,
        )
        .await;
    let deadline = r.body["items"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no reply deadline: {}", r.body))
        .to_owned();
    let r = app
        .get("/api/v1/alerts?kind=keyword&limit=100", &supervisor)
        .await;
    let alert = r.body["items"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|a| a["details"]["tracking_no"] == tracking_no)
        })
        .and_then(|a| a["id"].as_str())
        .unwrap_or_else(|| panic!("no alert for {tracking_no}: {}", r.body))
        .to_owned();

    let r = app
        .post(
            &format!("/api/v1/assignments/{assignment}/extensions"),
            &handler,
            json!({"days": 3, "reason": "需协调供电部门"}),
        )
        .await;
    let extension = id_of(&r, "extension");
    let r = app
        .post(
            &format!("/api/v1/messages/{message}/supervisions"),
            &supervisor,
            json!({"level": "key", "instruction": "限期办结", "due_date": "2099-12-31"}),
        )
        .await;
    let supervision = id_of(&r, "supervision");
    let r = app
        .post(
            &format!("/api/v1/messages/{message}/instructions"),
            &app.token(Demo::Leader).await,
            json!({"body": "请交通局尽快解决"}),
        )
        .await;
    let instruction = id_of(&r, "instruction");
    let r = app
        .post(
            "/api/v1/return-visits",
            &supervisor,
            json!({"message_id": answered, "kind": "on_site_check", "note": "实地核查"}),
        )
        .await;
    let visit = id_of(&r, "visit");
    let r = app
        .post(
            &format!("/api/v1/messages/{message}/clarifications"),
            &handler,
            json!({"question": "请提供具体工地名称"}),
        )
        .await;
    let clarification = id_of(&r, "clarification");
    Fixture {
        message,
        answered,
        tracking_no,
        assignment,
        deadline,
        extension,
        supervision,
        visit,
        alert,
        instruction,
        clarification,
    }
}

/// `x-allowed-roles` of every operation, by method and path template.
fn allowed_roles() -> std::collections::HashMap<(String, String), Vec<String>> {
    let spec: Value = serde_json::from_str(&liuyan::openapi::to_pretty_json(
        &liuyan::startup::openapi_spec(),
    ))
    .unwrap();
    let mut out = std::collections::HashMap::new();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            if let Some(roles) = op["x-allowed-roles"].as_array() {
                let roles = roles.iter().filter_map(|r| r.as_str()).map(str::to_owned);
                out.insert((method.to_uppercase(), path.clone()), roles.collect());
            }
        }
    }
    out
}

async fn call(app: &TestApp, c: &Case, token: &str, message: &str) -> Resp {
    let etag = match c.if_match {
        IfMatch::None => None,
        IfMatch::Fixed(e) => Some(e.to_owned()),
        IfMatch::Message => {
            // The message in the path: /api/v1/messages/{id}/…
            let message = c.path.split('/').nth(4).unwrap_or(message);
            let admin = app.token(Demo::Admin).await;
            let r = app
                .get(&format!("/api/v1/messages/{message}"), &admin)
                .await;
            Some(r.header("etag").expect("an ETag").to_owned())
        }
    };
    let headers: Vec<(&str, &str)> = etag.iter().map(|e| ("if-match", e.as_str())).collect();
    app.send_with(
        c.method.clone(),
        &c.path,
        Some(token),
        c.body.clone(),
        &headers,
    )
    .await
}

fn items(r: &Resp) -> &Vec<Value> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {} {}", r.status, r.body))
}

/// True when `r` is what an outsider must get for `hidden`.
fn is_hidden(r: &Resp, hidden: &Hidden) -> bool {
    match hidden {
        Hidden::NotFound => r.status == 404,
        Hidden::Without(key, value) => {
            r.status == 404 || (r.status == 200 && !items(r).iter().any(|i| i[*key] == **value))
        }
        Hidden::NotInText(value) => {
            r.status == 200 && r.body.as_str().is_some_and(|t| !t.contains(value.as_str()))
        }
        Hidden::Forbidden => r.status == 403,
    }
}

/// True when `r` is what someone of the region gets: the row is there.
fn is_seen(r: &Resp, hidden: &Hidden) -> bool {
    match hidden {
        // An action may succeed, or be refused by the status (409) or because a control
        // before it changed the row (412): never hidden.
        Hidden::NotFound => r.status.is_success() || r.status == 409 || r.status == 412,
        Hidden::Without(key, value) => {
            r.status == 200 && items(r).iter().any(|i| i[*key] == **value)
        }
        Hidden::NotInText(value) => {
            r.status == 200 && r.body.as_str().is_some_and(|t| t.contains(value.as_str()))
        }
        Hidden::Forbidden => r.status == 200,
    }
}

#[actix_web::test]
async fn region_staff_of_tianshui_see_nothing_of_a_lanzhou_message_in_handling() {
    let app = TestApp::spawn().await;
    let f = fixture(&app).await;
    let outsiders = [
        ("supervisor", tianshui(&app, "supervisor").await),
        ("analyst", tianshui(&app, "analyst").await),
        ("leader", tianshui(&app, "leader").await),
    ];
    let insiders = [
        ("supervisor", app.token(Demo::Supervisor).await),
        ("analyst", app.token(Demo::Analyst).await),
        ("leader", app.token(Demo::Leader).await),
    ];
    let today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive();
    let period = format!("from={today}&to={today}");
    let m = &f.message;
    use Hidden::*;
    let get = Method::GET;
    let post = Method::POST;
    let note = || Some(json!({"note": "核查"}));
    #[rustfmt::skip]
    let mut cases = vec![
        // Reads first, then the actions (whose counterparts inside may change state).
        case("message", get.clone(), "/api/v1/messages/{id}", format!("/api/v1/messages/{m}"), None, NotFound),
        case("message list", get.clone(), "/api/v1/messages", "/api/v1/messages?limit=100".into(), None, Without("id", m.clone())),
        case("message list, its region", get.clone(), "/api/v1/messages", "/api/v1/messages?limit=100&region_code=620102".into(), None, Without("id", m.clone())),
        case("message search", get.clone(), "/api/v1/messages", "/api/v1/messages?limit=100&q=%E9%9B%86%E4%BD%93%E4%B8%8A%E8%AE%BF".into(), None, Without("id", m.clone())),
        case("ledger of the message", get.clone(), "/api/v1/messages/{id}/events", format!("/api/v1/messages/{m}/events"), None, NotFound),
        case("assignments of the message", get.clone(), "/api/v1/messages/{id}/assignments", format!("/api/v1/messages/{m}/assignments"), None, NotFound),
        case("deadlines", get.clone(), "/api/v1/deadlines", "/api/v1/deadlines?limit=100".into(), None, Without("message_id", m.clone())),
        case("deadlines of the message", get.clone(), "/api/v1/deadlines", format!("/api/v1/deadlines?message_id={m}"), None, Without("message_id", m.clone())),
        case("deadline explanation", get.clone(), "/api/v1/deadlines/{id}/explanation", format!("/api/v1/deadlines/{}/explanation", f.deadline), None, NotFound),
        case("extensions", get.clone(), "/api/v1/extensions", "/api/v1/extensions?limit=100".into(), None, Without("id", f.extension.clone())),
        case("extensions of the assignment", get.clone(), "/api/v1/extensions", format!("/api/v1/extensions?assignment_id={}", f.assignment), None, Without("id", f.extension.clone())),
        case("supervisions", get.clone(), "/api/v1/supervisions", "/api/v1/supervisions?limit=100".into(), None, Without("id", f.supervision.clone())),
        case("supervisions of the message", get.clone(), "/api/v1/supervisions", format!("/api/v1/supervisions?message_id={m}"), None, Without("id", f.supervision.clone())),
        case("supervision", get.clone(), "/api/v1/supervisions/{id}", format!("/api/v1/supervisions/{}", f.supervision), None, NotFound),
        case("visits", get.clone(), "/api/v1/return-visits", "/api/v1/return-visits?limit=100".into(), None, Without("id", f.visit.clone())),
        case("visits of the message", get.clone(), "/api/v1/return-visits", format!("/api/v1/return-visits?message_id={}", f.answered), None, Without("id", f.visit.clone())),
        case("visit", get.clone(), "/api/v1/return-visits/{id}", format!("/api/v1/return-visits/{}", f.visit), None, NotFound),
        case("alerts", get.clone(), "/api/v1/alerts", "/api/v1/alerts?limit=100".into(), None, Without("id", f.alert.clone())),
        case("alert", get.clone(), "/api/v1/alerts/{id}", format!("/api/v1/alerts/{}", f.alert), None, NotFound),
        case("instructions", get.clone(), "/api/v1/messages/{id}/instructions", format!("/api/v1/messages/{m}/instructions"), None, Without("id", f.instruction.clone())),
        case("clarifications", get.clone(), "/api/v1/messages/{id}/clarifications", format!("/api/v1/messages/{m}/clarifications"), None, Without("id", f.clarification.clone())),
        case("statistics of 兰州", get.clone(), "/api/v1/statistics/summary", format!("/api/v1/statistics/summary?{period}&region_code=620100"), None, Forbidden),
        case("breakdown of 兰州", get.clone(), "/api/v1/statistics/breakdown", format!("/api/v1/statistics/breakdown?{period}&by=unit&region_code=620100"), None, Forbidden),
        case("ledger export of 兰州", get.clone(), "/api/v1/ledger", format!("/api/v1/ledger?{period}&region_code=620100"), None, Forbidden),
        case("ledger export", get.clone(), "/api/v1/ledger", format!("/api/v1/ledger?{period}&format=csv"), None, NotInText(f.tracking_no.clone())),
        case("acknowledge the alert", post.clone(), "/api/v1/alerts/{id}/acknowledge", format!("/api/v1/alerts/{}/acknowledge", f.alert), note(), NotFound),
        case("close the supervision", post.clone(), "/api/v1/supervisions/{id}/close", format!("/api/v1/supervisions/{}/close", f.supervision), note(), NotFound),
        case("record the visit", post.clone(), "/api/v1/return-visits/{id}/result", format!("/api/v1/return-visits/{}/result", f.visit), Some(json!({"visited_on": today, "method": "on_site", "visitor": "王某", "finding": "resolved"})), NotFound),
        case("plan a visit", post.clone(), "/api/v1/return-visits", "/api/v1/return-visits".into(), Some(json!({"message_id": f.answered, "kind": "return_visit"})), NotFound),
        case("supervise", post.clone(), "/api/v1/messages/{id}/supervisions", format!("/api/v1/messages/{m}/supervisions"), Some(json!({"level": "general", "instruction": "请办理", "due_date": "2099-12-31"})), NotFound),
        case("instruct", post.clone(), "/api/v1/messages/{id}/instructions", format!("/api/v1/messages/{m}/instructions"), Some(json!({"body": "请尽快办理"})), NotFound),
        case("approve the extension", post.clone(), "/api/v1/extensions/{id}/approve", format!("/api/v1/extensions/{}/approve", f.extension), Some(json!({})), NotFound),
        case("reopen", post.clone(), "/api/v1/messages/{id}/reopen", format!("/api/v1/messages/{m}/reopen"), note(), NotFound),
        case("close", post.clone(), "/api/v1/messages/{id}/close", format!("/api/v1/messages/{m}/close"), note(), NotFound),
        case("reopen the answered one", post.clone(), "/api/v1/messages/{id}/reopen", format!("/api/v1/messages/{}/reopen", f.answered), note(), NotFound),
        case("close the answered one", post.clone(), "/api/v1/messages/{id}/close", format!("/api/v1/messages/{}/close", f.answered), note(), NotFound),
    ];
    for c in cases.iter_mut() {
        if c.template.starts_with("/api/v1/messages/{id}/") && c.method == Method::POST {
            c.if_match = IfMatch::Message;
        } else if c.template == "/api/v1/extensions/{id}/approve"
            || c.template == "/api/v1/alerts/{id}/acknowledge"
        {
            c.if_match = IfMatch::Fixed("\"1\"");
        }
    }

    let roles = allowed_roles();
    let mut checked = 0;
    let mut failures = Vec::new();
    for c in &cases {
        let key = (c.method.to_string(), c.template.to_owned());
        let allowed = roles
            .get(&key)
            .unwrap_or_else(|| panic!("{}: no operation {key:?} in the spec", c.what));
        for ((role, outsider), (_, insider)) in outsiders.iter().zip(&insiders) {
            if !allowed.iter().any(|a| a == role) {
                continue; // the role walk covers the role check
            }
            let r = call(&app, c, outsider, m).await;
            let problem_body = r.status != 404 || r.body["status"] == 404;
            if !is_hidden(&r, &c.hidden) || !problem_body {
                failures.push(format!(
                    "{} as a {role} of 天水: {} {}",
                    c.what, r.status, r.body
                ));
            }
            let r = call(&app, c, insider, m).await;
            if !is_seen(&r, &c.hidden) {
                failures.push(format!(
                    "{} as a {role} of the region (the control): {} {}",
                    c.what, r.status, r.body
                ));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every case ran for at least one of the three roles.
    assert!(checked >= cases.len(), "{checked} checks");
}
