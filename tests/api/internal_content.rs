//! Internal working content stays internal (issue 17, defects 3 and 4): the author's ledger
//! and what integration clients read (change feed, unacknowledged replies, webhooks) follow
//! the access model's classes, and a client with a region scope reads only that subtree.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Demo, TestApp};
use crate::messages::{lanzhou_liaison, message_body, submit};
use crate::replies::in_progress;
use crate::webhooks::{Receiver, UP, deliveries, settings, subscribe};

/// Texts of internal working content written in the story; none may reach a reader without
/// the internal class.
const REVIEW: &str = "同意发布，审核意见甲";
const SUPERVISION: &str = "督办指示：务必本周内解决乙";
const INSTRUCTION: &str = "批示：请城关区高度重视丙";
const VISIT_NOTE: &str = "暗访核查计划丁";
const ROUTING_NOTE: &str = "请办理";
const INTERNAL_TEXTS: &[&str] = &[REVIEW, SUPERVISION, INSTRUCTION, VISIT_NOTE, ROUTING_NOTE];
const INTERNAL_ACTIONS: &[&str] = &[
    "supervise",
    "instruct",
    "draft_reply",
    "submit_reply",
    "approve_reply",
    "plan_visit",
    "alert_raised",
];
/// The reply names the handler (张伟): the board masks staff names.
const REPLY: &str = "经办人张伟已联系施工单位，路口信号灯已于今日修复，恢复正常运行。";
const PRIVATE_TITLE: &str = "私信：家中漏水无人管";

/// A message of the demo citizen taken through supervision, a leader's instruction, a
/// reviewed and published reply and a planned (unannounced) visit; and a private message of
/// the same citizen. Returns (public message id, private message id).
async fn story(app: &TestApp) -> (String, String) {
    let liaison = lanzhou_liaison(app).await;
    let id = in_progress(app, &liaison, "routine").await;
    let supervisor = app.token(Demo::Supervisor).await;
    let r = app
        .post(
            &format!("/api/v1/messages/{id}/supervisions"),
            &supervisor,
            json!({"level": "key", "instruction": SUPERVISION, "due_date": "2099-12-31"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app
        .post(
            &format!("/api/v1/messages/{id}/instructions"),
            &app.token(Demo::Leader).await,
            json!({"body": INSTRUCTION}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let handler = app.token(Demo::Handler).await;
    // Important now (the instruction): the liaison office reviews.
    let d = app
        .post(
            &format!("/api/v1/messages/{id}/replies"),
            &handler,
            json!({"kind": "final", "body": REPLY}),
        )
        .await;
    assert_eq!(d.status, 201, "{}", d.body);
    let rid = d.body["id"].as_str().unwrap().to_owned();
    let step = |action: &'static str, token: String, body: Value| {
        let rid = rid.clone();
        async move {
            let r = app
                .post(&format!("/api/v1/replies/{rid}/{action}"), &token, body)
                .await;
            assert_eq!(r.status, 200, "{action}: {}", r.body);
        }
    };
    step("submit", handler.clone(), json!({})).await;
    // The instruction made it important: the liaison office reviews and publishes.
    assert_eq!(
        d.body["review_unit_id"],
        crate::helpers::unit("兰州市领导留言办理工作办公室")
    );
    let approver = crate::messages::staff(
        app,
        &format!("lz.reviewer.{}@example.cn", uuid::Uuid::now_v7().simple()),
        "reviewer",
        "兰州市领导留言办理工作办公室",
    )
    .await;
    step("approve", approver.clone(), json!({"comment": REVIEW})).await;
    step("publish", approver, json!({})).await;
    let r = app
        .post(
            "/api/v1/return-visits",
            &supervisor,
            json!({"message_id": id, "kind": "on_site_check", "note": VISIT_NOTE}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    let mut private = message_body(PRIVATE_TITLE);
    private["visibility"] = json!("private");
    let p = submit(app, &app.token(Demo::Citizen).await, private).await;
    (id, p["id"].as_str().unwrap().to_owned())
}

fn actions(events: &[Value], key: &str) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| e[key].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn assert_no_internal(what: &str, text: &str) {
    for t in INTERNAL_TEXTS {
        assert!(!text.contains(t), "{what} carries `{t}`: {text}");
    }
}

async fn ledger(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/messages/{id}/events?limit=100"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

/// Before: the author's `GET …/events` showed the review comment, the supervision
/// instruction, the leader's instruction and the planned visit (an unannounced check was
/// announced). Now those events are left out and routing notes are left out of the rest.
#[actix_web::test]
async fn the_author_never_sees_internal_working_content() {
    let app = TestApp::spawn().await;
    let (id, _) = story(&app).await;
    let author = app.token(Demo::Citizen).await;
    let events = ledger(&app, &author, &id).await;
    let seen = actions(&events, "action");
    for a in INTERNAL_ACTIONS {
        assert!(!seen.contains(*a), "the author sees `{a}`: {seen:?}");
    }
    for a in ["submit", "accept", "assign", "sign_for", "publish_reply"] {
        assert!(seen.contains(a), "the author misses `{a}`: {seen:?}");
    }
    assert_no_internal(
        "the author's ledger",
        &Value::from(events.clone()).to_string(),
    );
    let assign = events.iter().find(|e| e["action"] == "assign").unwrap();
    assert!(assign["payload"]["lead_unit_id"].is_string(), "{assign}");
    assert!(assign["payload"].get("note").is_none(), "{assign}");
    // The chain still verifies (server side) for the author.
    let v = app
        .get(&format!("/api/v1/messages/{id}/events/verify"), &author)
        .await;
    assert_eq!(v.body["valid"], true, "{}", v.body);

    // Staff in scope read all of it.
    let staff = ledger(&app, &app.token(Demo::Supervisor).await, &id).await;
    let all = Value::from(staff.clone()).to_string();
    for t in [REVIEW, SUPERVISION, INSTRUCTION, ROUTING_NOTE] {
        assert!(all.contains(t), "staff miss `{t}`");
    }
    assert!(actions(&staff, "action").contains("plan_visit"));
}

/// An integration client holding `scopes` (and a region, if given): (id, token).
async fn client(app: &TestApp, scopes: &[&str], region: Option<&str>) -> (String, String) {
    let admin = app.token(Demo::Admin).await;
    let mut body = json!({"name": format!("平台 {}", uuid::Uuid::now_v7()), "scopes": scopes});
    if let Some(r) = region {
        body["region_code"] = json!(r);
    }
    let r = app.post("/api/v1/integration-clients", &admin, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["client"]["region_code"], json!(region));
    let t = app
        .send(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(json!({"grant_type": "client_credentials",
                "client_id": r.body["client"]["client_id"], "client_secret": r.body["client_secret"]})),
        )
        .await;
    assert_eq!(t.status, 200, "{}", t.body);
    (
        r.body["client"]["id"].as_str().unwrap().to_owned(),
        t.body["access_token"].as_str().unwrap().to_owned(),
    )
}

/// Every change the client can read now (the whole feed).
async fn feed(app: &TestApp, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let q = if after.is_empty() {
            "/api/v1/sync/changes?limit=1000".to_owned()
        } else {
            format!("/api/v1/sync/changes?limit=1000&after={after}")
        };
        let r = app.get(&q, token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        out.extend(r.body["changes"].as_array().unwrap().iter().cloned());
        after = r.body["next_cursor"].as_str().unwrap().to_owned();
        if r.body["has_more"] != true {
            return out;
        }
    }
}

fn of_message<'a>(changes: &'a [Value], id: &str) -> Vec<&'a Value> {
    changes
        .iter()
        .filter(|c| c["message"]["id"] == id)
        .collect()
}

/// The published reply as the public board shows it (masked).
async fn board_reply(app: &TestApp, id: &str) -> String {
    let author = app.token(Demo::Citizen).await;
    let m = app.get(&format!("/api/v1/messages/{id}"), &author).await;
    let tracking = m.body["tracking_no"].as_str().unwrap().to_owned();
    let b = app
        .send(
            Method::GET,
            &format!("/api/v1/public/messages/{tracking}"),
            None,
            None,
        )
        .await;
    assert_eq!(b.status, 200, "{}", b.body);
    let body = b.body["replies"][0]["body"].as_str().unwrap().to_owned();
    assert_ne!(body, REPLY, "the board masks the handler's name");
    body
}

/// Before: every client with `sync:read` read instruction texts, review comments, alerts and
/// visit plans in the change feed, and private messages with their titles. Now a client
/// reads the public class of public messages unless granted `sync:personal` (private
/// messages, texts as written) and `sync:internal` (internal working content).
#[actix_web::test]
async fn the_change_feed_follows_the_clients_data_classes() {
    let app = TestApp::spawn().await;
    let (_, minimal) = client(&app, &["sync:read"], None).await;
    let (_, personal) = client(&app, &["sync:read", "sync:personal"], None).await;
    let (_, everything) =
        client(&app, &["sync:read", "sync:personal", "sync:internal"], None).await;
    let (id, private) = story(&app).await;
    let board = board_reply(&app, &id).await;
    // The feed shows a change once no older transaction runs: wait for the last one.
    let start = Instant::now();
    while of_message(&feed(&app, &everything).await, &private).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the feed never caught up"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }

    // Minimal: no internal events or texts, no titles, no private message, masked replies.
    let changes = feed(&app, &minimal).await;
    let mine = of_message(&changes, &id);
    assert!(!mine.is_empty());
    let seen: BTreeSet<String> = mine
        .iter()
        .map(|c| c["action"].as_str().unwrap().to_owned())
        .collect();
    for a in INTERNAL_ACTIONS {
        assert!(!seen.contains(*a), "`{a}` reaches a minimal client");
    }
    assert!(seen.contains("publish_reply"), "{seen:?}");
    assert_no_internal(
        "the minimal feed",
        &Value::from(changes.clone()).to_string(),
    );
    assert!(of_message(&changes, &private).is_empty(), "private message");
    assert!(
        !Value::from(changes.clone())
            .to_string()
            .contains(PRIVATE_TITLE)
    );
    let created = mine.iter().find(|c| c["action"] == "submit").unwrap();
    assert!(created["data"].get("title").is_none(), "{created}");
    let published = mine
        .iter()
        .find(|c| c["action"] == "publish_reply")
        .unwrap();
    assert_eq!(published["reply"]["body"], board.as_str(), "{published}");
    // The unacknowledged replies: masked the same way.
    let u = app
        .get("/api/v1/sync/replies/unacknowledged?limit=100", &minimal)
        .await;
    assert_eq!(u.status, 200, "{}", u.body);
    let listed = u.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["message_id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["body"], board.as_str());

    // Personal: the private message with its title, texts as written; still nothing internal.
    let changes = feed(&app, &personal).await;
    assert_no_internal(
        "the personal feed",
        &Value::from(changes.clone()).to_string(),
    );
    let p = of_message(&changes, &private);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0]["data"]["title"], PRIVATE_TITLE);
    let published = of_message(&changes, &id)
        .into_iter()
        .find(|c| c["action"] == "publish_reply")
        .unwrap();
    assert_eq!(published["reply"]["body"], REPLY);

    // Internal too: everything.
    let changes = feed(&app, &everything).await;
    let all = Value::from(changes.clone()).to_string();
    for t in [
        REVIEW,
        SUPERVISION,
        INSTRUCTION,
        ROUTING_NOTE,
        PRIVATE_TITLE,
    ] {
        assert!(
            all.contains(t),
            "`{t}` missing for a client holding every class"
        );
    }
    let seen: BTreeSet<String> = of_message(&changes, &id)
        .iter()
        .map(|c| c["action"].as_str().unwrap().to_owned())
        .collect();
    for a in ["supervise", "instruct", "approve_reply", "plan_visit"] {
        assert!(seen.contains(a), "`{a}` missing: {seen:?}");
    }

    // A token asking for less than the client holds reads less.
    let narrowed = token_with_scope(&app, "sync:read").await;
    assert_no_internal(
        "a narrowed token's feed",
        &Value::from(feed(&app, &narrowed).await).to_string(),
    );
}

/// A client holding every class, and a token of it that asks for `scope` only.
async fn token_with_scope(app: &TestApp, scope: &str) -> String {
    let admin = app.token(Demo::Admin).await;
    let r = app
        .post(
            "/api/v1/integration-clients",
            &admin,
            json!({"name": "窄令牌平台", "scopes": ["sync:read", "sync:personal", "sync:internal"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let t = app
        .send(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(json!({"grant_type": "client_credentials", "scope": scope,
                "client_id": r.body["client"]["client_id"], "client_secret": r.body["client_secret"]})),
        )
        .await;
    assert_eq!(t.status, 200, "{}", t.body);
    t.body["access_token"].as_str().unwrap().to_owned()
}

const ALL_TYPES: &[&str] = &[
    "message.created",
    "message.updated",
    "message.status_changed",
    "reply.published",
    "reply.imported",
    "reply.acknowledged",
    "feedback.received",
];

/// Wait until `sub` has at least one delivery and all are delivered; the bodies received.
async fn delivered(app: &TestApp, token: &str, sub: &str, receiver: &Receiver) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let all = deliveries(app, token, sub, "").await;
        if !all.is_empty()
            && all.iter().all(|d| d["status"] == "delivered")
            && receiver.hits().len() >= all.len()
        {
            return receiver
                .hits()
                .iter()
                .map(|h| serde_json::from_slice(&h.body).unwrap())
                .collect();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not delivered: {all:#?}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

fn about<'a>(bodies: &'a [Value], id: &str) -> Vec<&'a Value> {
    bodies
        .iter()
        .filter(|b| b["data"]["message_id"] == id)
        .collect()
}

/// Before: every subscription got every event with its full details: instruction texts,
/// review comments, alerts, visit plans, private messages' titles. Now the outbox delivers
/// what the client's data classes and region allow, projected the same way as the feed.
#[actix_web::test]
async fn webhook_deliveries_follow_the_clients_data_classes_and_region() {
    let app = TestApp::spawn_with(settings(50, 0.005, true)).await;
    let (_, minimal) = client(&app, &["webhooks:manage"], None).await;
    let (_, full) = client(
        &app,
        &["webhooks:manage", "sync:personal", "sync:internal"],
        None,
    )
    .await;
    // Tianshui: the story happens in Lanzhou.
    let (_, elsewhere) = client(&app, &["webhooks:manage", "sync:internal"], Some("620500")).await;
    let (_, lanzhou) = client(&app, &["webhooks:manage"], Some("620100")).await;
    let receivers: Vec<Receiver> = (0..4)
        .map(|_| Receiver::reserve(UP, Duration::ZERO))
        .collect();
    let handles: Vec<_> = receivers.iter().map(Receiver::listen).collect();
    let mut subs = Vec::new();
    for (token, r) in [&minimal, &full, &elsewhere, &lanzhou]
        .into_iter()
        .zip(&receivers)
    {
        subs.push(subscribe(&app, token, &r.url(), ALL_TYPES).await.0);
    }
    let (id, private) = story(&app).await;
    // Something in the far region, so the Tianshui client's receiver hears of it.
    let mut tianshui = message_body("天水市秦州区路灯不亮");
    tianshui["region_code"] = json!("620502");
    tianshui["leader_id"] = json!(crate::messages::leader("吴建平"));
    let far = submit(&app, &app.token(Demo::Citizen).await, tianshui).await;
    let far = far["id"].as_str().unwrap().to_owned();

    let minimal_bodies = delivered(&app, &minimal, &subs[0], &receivers[0]).await;
    let text = Value::from(minimal_bodies.clone()).to_string();
    assert_no_internal("the minimal client's webhooks", &text);
    assert!(!text.contains(PRIVATE_TITLE));
    assert!(about(&minimal_bodies, &private).is_empty());
    let mine = about(&minimal_bodies, &id);
    let seen: BTreeSet<String> = mine
        .iter()
        .map(|b| b["data"]["action"].as_str().unwrap().to_owned())
        .collect();
    for a in INTERNAL_ACTIONS {
        assert!(!seen.contains(*a), "`{a}` delivered to a minimal client");
    }
    assert!(seen.contains("publish_reply"), "{seen:?}");
    let created = mine
        .iter()
        .find(|b| b["data"]["action"] == "submit")
        .unwrap();
    assert!(
        created["data"]["payload"].get("title").is_none(),
        "{created}"
    );
    assert!(created["data"]["payload"]["kind"].is_string(), "{created}");

    let full_bodies = delivered(&app, &full, &subs[1], &receivers[1]).await;
    let text = Value::from(full_bodies.clone()).to_string();
    for t in [REVIEW, SUPERVISION, INSTRUCTION, PRIVATE_TITLE] {
        assert!(
            text.contains(t),
            "`{t}` missing for a client holding every class"
        );
    }
    assert!(text.contains("\"plan_visit\""), "the visit plan missing");

    // Region scopes: the Tianshui client hears only of Tianshui, the Lanzhou one only of
    // Lanzhou.
    let far_bodies = delivered(&app, &elsewhere, &subs[2], &receivers[2]).await;
    assert!(about(&far_bodies, &id).is_empty(), "{far_bodies:?}");
    assert!(!about(&far_bodies, &far).is_empty());
    let near = delivered(&app, &lanzhou, &subs[3], &receivers[3]).await;
    assert!(!about(&near, &id).is_empty());
    assert!(about(&near, &far).is_empty(), "{near:?}");
    for h in handles {
        h.stop(false).await;
    }
}

/// Before: a client could not be limited to a region (`region_code` was an unknown field).
/// Now it is set at creation or by `PATCH`, must name an existing region, and limits the
/// change feed to that subtree.
#[actix_web::test]
async fn a_client_with_a_region_reads_only_that_subtree() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    for bad in ["999999", "62010", "abcdef"] {
        let r = app
            .post(
                "/api/v1/integration-clients",
                &admin,
                json!({"name": "无效区域", "scopes": ["sync:read"], "region_code": bad}),
            )
            .await;
        r.assert_problem(422, "validation-failed");
        assert_eq!(r.failing_fields(), vec!["region_code".to_owned()], "{bad}");
    }
    let (tianshui_id, tianshui) = client(&app, &["sync:read"], Some("620500")).await;
    let (_, lanzhou) = client(&app, &["sync:read"], Some("620100")).await;
    let (id, private) = story(&app).await;
    // The Lanzhou client reads the message once its changes are readable (no older
    // transaction of the server runs); then the Tianshui client reads none of them.
    let start = Instant::now();
    loop {
        let changes = feed(&app, &lanzhou).await;
        assert!(of_message(&changes, &private).is_empty(), "private");
        if !of_message(&changes, &id).is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the feed never caught up"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(of_message(&feed(&app, &tianshui).await, &id).is_empty());

    // Widened to the whole province (null), the same client reads it at once.
    let path = format!("/api/v1/integration-clients/{tianshui_id}");
    let c = app.get(&path, &admin).await;
    assert_eq!(c.body["region_code"], "620500");
    let etag = c.header("etag").unwrap().to_owned();
    let r = app
        .send_with(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"region_code": "999999"})),
            &[("if-match", etag.as_str())],
        )
        .await;
    r.assert_problem(422, "validation-failed");
    let r = app
        .send_with(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"region_code": null})),
            &[("if-match", etag.as_str())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["region_code"].is_null());
    assert!(!of_message(&feed(&app, &tianshui).await, &id).is_empty());
}

#[derive(QueryableByName)]
struct Rule {
    #[diesel(sql_type = diesel::sql_types::Text)]
    action: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    event_class: String,
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Text>)]
    public_fields: Vec<String>,
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Text>)]
    personal_fields: Vec<String>,
}

#[derive(QueryableByName)]
struct Projected {
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    details: Value,
}

/// The webhook outbox (SQL) and the feed and ledger (Rust) read one table of event kinds:
/// the database's copy is the access model's, row for row, and projects the same.
#[actix_web::test]
async fn the_outbox_reads_the_access_models_table_of_event_kinds() {
    use liuyan::app::access::{Classes, EVENT_RULES, project_event};
    let app = TestApp::spawn().await;
    let mut conn = app.db.connect();
    let rows: Vec<Rule> = diesel::sql_query(
        "SELECT action, event_class, public_fields, personal_fields FROM ledger_event_classes ORDER BY action",
    )
    .load(&mut conn)
    .unwrap();
    let sorted = |v: &[&str]| {
        let mut v: Vec<String> = v.iter().map(|s| (*s).to_owned()).collect();
        v.sort();
        v
    };
    let mut from_code: Vec<(String, String, Vec<String>, Vec<String>)> = EVENT_RULES
        .iter()
        .map(|r| {
            (
                r.action.as_str().to_owned(),
                r.event.as_str().to_owned(),
                sorted(r.public),
                sorted(r.personal),
            )
        })
        .collect();
    from_code.sort();
    let from_db: Vec<(String, String, Vec<String>, Vec<String>)> = rows
        .into_iter()
        .map(|r| {
            let (mut p, mut q) = (r.public_fields, r.personal_fields);
            p.sort();
            q.sort();
            (r.action, r.event_class, p, q)
        })
        .collect();
    assert_eq!(from_db, from_code);

    // And the SQL projection is `project_event`, for every kind and class.
    let payload = json!({"title": "t", "note": "n", "unit_id": "u", "comment": "c",
        "reason": "r", "answer": "a", "kind": "k", "reply_id": "x", "other": 1});
    for rule in EVENT_RULES {
        for (personal, internal) in [(false, false), (true, false), (false, true), (true, true)] {
            let classes = Classes { personal, internal };
            let Some(expected) = project_event(rule.action.as_str(), &payload, classes) else {
                continue;
            };
            let got: Projected =
                diesel::sql_query("SELECT ledger_event_details($1, $2, $3, $4) AS details")
                    .bind::<diesel::sql_types::Text, _>(rule.action.as_str())
                    .bind::<diesel::sql_types::Jsonb, _>(&payload)
                    .bind::<diesel::sql_types::Bool, _>(personal)
                    .bind::<diesel::sql_types::Bool, _>(internal)
                    .get_result(&mut conn)
                    .unwrap();
            assert_eq!(got.details, expected, "{} {classes:?}", rule.action);
        }
    }
}

/// The new scopes and the region are in the OpenAPI document.
#[actix_web::test]
async fn the_data_scopes_are_in_the_spec() {
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string("openapi/openapi.json").unwrap()).unwrap();
    let scopes = spec["components"]["schemas"]["ClientScope"].to_string();
    for s in ["sync:personal", "sync:internal"] {
        assert!(scopes.contains(s), "{scopes}");
    }
    for schema in [
        "IntegrationClientDto",
        "NewIntegrationClient",
        "UpdateIntegrationClient",
    ] {
        assert!(
            spec["components"]["schemas"][schema]["properties"]["region_code"].is_object(),
            "{schema}"
        );
    }
}
