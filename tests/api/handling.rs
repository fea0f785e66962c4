//! Handling: assignments, claims, sign-for, returns, transfers, clarification, extensions,
//! deadlines, the scheduler, supervision and instructions.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use diesel::RunQueryDsl;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Demo, Resp, TestApp, test_settings, unit};
use crate::messages::{lanzhou_liaison, message_body, staff, submit};
use liuyan::clock::Clock;

const TRANSPORT: &str = "01930000-0000-7000-8000-000000000002";
pub const CHENGGUAN: &str = "兰州市城关区人民政府";
pub const QILIHE: &str = "兰州市七里河区人民政府";
pub const TRANSPORT_BUREAU: &str = "兰州市交通运输局";

/// Shanghai local time to UTC.
pub fn local(s: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap();
    chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .from_local_datetime(&naive)
        .unwrap()
        .with_timezone(&Utc)
}

pub async fn post_with(app: &TestApp, path: &str, token: &str, body: Value, etag: &str) -> Resp {
    app.send_with(
        Method::POST,
        path,
        Some(token),
        Some(body),
        &[("if-match", etag)],
    )
    .await
}

/// Submit, classify and accept a message to the mayor of Lanzhou (region 城关区); returns its id
/// and the Lanzhou liaison office's token.
pub async fn accepted(app: &TestApp, priority: &str, liaison: Option<&str>) -> (String, String) {
    let author = app.token(Demo::Citizen).await;
    let liaison = match liaison {
        Some(t) => t.to_owned(),
        None => lanzhou_liaison(app).await,
    };
    let m = submit(app, &author, message_body("红绿灯损坏")).await;
    let id = m["id"].as_str().unwrap().to_owned();
    let c = app
        .send_with(
            Method::PUT,
            &format!("/api/v1/messages/{id}/classification"),
            Some(&liaison),
            Some(json!({"priority": priority, "category_id": TRANSPORT})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.body);
    let a = post_with(
        app,
        &format!("/api/v1/messages/{id}/accept"),
        &liaison,
        json!({}),
        "\"2\"",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    (id, liaison)
}

pub async fn assign(app: &TestApp, token: &str, id: &str, lead: &str, co: &[&str]) -> Resp {
    let co: Vec<String> = co.iter().map(|u| unit(u)).collect();
    app.post(
        &format!("/api/v1/messages/{id}/assignments"),
        token,
        json!({"lead_unit_id": unit(lead), "co_unit_ids": co, "note": "请办理"}),
    )
    .await
}

pub async fn message(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app.get(&format!("/api/v1/messages/{id}"), token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

pub async fn actions(app: &TestApp, token: &str, id: &str) -> Vec<String> {
    let r = app
        .get(&format!("/api/v1/messages/{id}/events?limit=100"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

fn deadline<'a>(assignment: &'a Value, kind: &str) -> &'a Value {
    assignment["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} deadline in {assignment}"))
}

#[actix_web::test]
async fn a_message_travels_assignment_sign_for_clarification_and_extension() {
    let clock = Clock::manual(local("2026-11-23T09:00")); // a Monday
    let mut settings = test_settings();
    settings.clock = clock.clone();
    let app = TestApp::spawn_with(settings).await;
    let (id, liaison) = accepted(&app, "important", None).await;
    let chengguan = staff(&app, "cg.handler@example.cn", "handler", CHENGGUAN).await;
    let bureau = app.token(Demo::Handler).await; // 兰州市交通运输局
    let author = app.token(Demo::Citizen).await;
    let supervisor = app.token(Demo::Supervisor).await;

    // Assign: lead 城关区, co-handler the transport bureau; both get a sign-for deadline of one
    // working day (Tuesday).
    let r = assign(&app, &liaison, &id, CHENGGUAN, &[TRANSPORT_BUREAU]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let lead = r.body["items"][0].clone();
    let co = r.body["items"][1].clone();
    assert_eq!(lead["role"], "lead");
    assert_eq!(lead["status"], "pending");
    assert_eq!(co["role"], "co_handler");
    assert!(
        r.headers["location"]
            .to_str()
            .unwrap()
            .ends_with(lead["id"].as_str().unwrap())
    );
    let sign = deadline(&lead, "sign_for");
    assert_eq!(sign["due_at"], "2026-11-24T16:00:00Z");
    assert_eq!(sign["state"], "on_track");
    assert_eq!(sign["working_days_left"], 2);
    let m = message(&app, &liaison, &id).await;
    assert_eq!(m["status"], "assigned");
    assert_eq!(m["unit_id"], unit(CHENGGUAN));
    // Assigning again is a conflict: the message is no longer unassigned.
    assign(&app, &liaison, &id, QILIHE, &[])
        .await
        .assert_problem(409, "conflict");

    // The co-handler signs for first: the message stays assigned.
    let lead_id = lead["id"].as_str().unwrap();
    let co_id = co["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/api/v1/assignments/{co_id}/sign-for"),
            &bureau,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(message(&app, &liaison, &id).await["status"], "assigned");
    // A co-handler cannot sign for the lead's assignment, nor twice for its own.
    app.post(
        &format!("/api/v1/assignments/{lead_id}/sign-for"),
        &bureau,
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        &format!("/api/v1/assignments/{co_id}/sign-for"),
        &bureau,
        json!({}),
    )
    .await
    .assert_problem(409, "conflict");

    // The lead signs for on Tuesday afternoon, in time; If-Match on the assignment is checked.
    clock.set(local("2026-11-24T15:00"));
    post_with(
        &app,
        &format!("/api/v1/assignments/{lead_id}/sign-for"),
        &chengguan,
        json!({"note": "已签收"}),
        "\"9\"",
    )
    .await
    .assert_problem(412, "precondition-failed");
    let r = post_with(
        &app,
        &format!("/api/v1/assignments/{lead_id}/sign-for"),
        &chengguan,
        json!({"note": "已签收"}),
        "\"1\"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "signed_for");
    assert_eq!(deadline(&r.body, "sign_for")["state"], "met");
    let reply = deadline(&r.body, "reply");
    // Five working days after Tuesday 24 Nov: 25, 26, 27, 30 Nov, 1 Dec.
    assert_eq!(reply["due_at"], "2026-12-01T16:00:00Z");
    assert_eq!(reply["limit_days"], 5);
    let reply_id = reply["id"].as_str().unwrap().to_owned();
    assert_eq!(message(&app, &liaison, &id).await["status"], "in_progress");

    // Clarification on Wednesday, answered the next Monday: the clock pauses; the working days
    // after Wednesday up to Monday (Thu, Fri, Mon) are added.
    clock.set(local("2026-11-25T10:00"));
    let r = app
        .post(
            &format!("/api/v1/messages/{id}/clarifications"),
            &chengguan,
            json!({"question": "请提供具体门牌号"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let cid = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        message(&app, &liaison, &id).await["status"],
        "awaiting_clarification"
    );
    let r = app
        .get(
            &format!("/api/v1/deadlines?message_id={id}&kind=reply"),
            &supervisor,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["items"][0]["state"], "paused");
    assert!(r.body["items"][0]["due_at"].is_null());
    // Another citizen (who sees the public message) cannot answer; the author can, once.
    let other = crate::messages::other_citizen(&app).await;
    let answer = format!("/api/v1/messages/{id}/clarifications/{cid}/answer");
    app.post(&answer, &other, json!({"answer": "不是我的"}))
        .await
        .assert_problem(403, "forbidden");
    clock.set(local("2026-11-30T09:00"));
    let r = app
        .post(&answer, &author, json!({"answer": "庆阳路100号"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    app.post(&answer, &author, json!({"answer": "again"}))
        .await
        .assert_problem(409, "conflict");
    assert_eq!(message(&app, &liaison, &id).await["status"], "in_progress");
    let r = app
        .get(
            &format!("/api/v1/deadlines/{reply_id}/explanation"),
            &supervisor,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["count"]["paused_days"], 3);
    assert_eq!(r.body["count"]["total_days"], 8);
    assert_eq!(r.body["count"]["due_date"], "2026-12-04");
    assert_eq!(r.body["deadline"]["due_at"], "2026-12-04T16:00:00Z");
    assert_eq!(r.body["start"]["action"], "sign_for");
    assert_eq!(r.body["pauses"].as_array().unwrap().len(), 1);

    // Extension: policy allows 2 and 15 days in all.
    let ext = format!("/api/v1/assignments/{lead_id}/extensions");
    app.post(&ext, &chengguan, json!({"days": 16, "reason": "太多"}))
        .await
        .assert_problem(422, "validation-failed");
    app.post(
        &ext,
        &bureau,
        json!({"days": 3, "reason": "协办单位不能申请"}),
    )
    .await
    .assert_problem(403, "forbidden");
    let r = app
        .post(
            &ext,
            &chengguan,
            json!({"days": 3, "reason": "需协调供电部门"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let x = r.body["id"].as_str().unwrap().to_owned();
    app.post(&ext, &chengguan, json!({"days": 1, "reason": "再来一个"}))
        .await
        .assert_problem(409, "conflict");
    // Only a supervisor decides.
    app.post(
        &format!("/api/v1/extensions/{x}/approve"),
        &chengguan,
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    let r = app
        .get("/api/v1/extensions?status=pending", &supervisor)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["items"][0]["id"], x);
    let r = app
        .post(
            &format!("/api/v1/extensions/{x}/approve"),
            &supervisor,
            json!({"note": "同意"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "approved");
    app.post(
        &format!("/api/v1/extensions/{x}/reject"),
        &supervisor,
        json!({}),
    )
    .await
    .assert_problem(409, "conflict");
    let r = app
        .get(
            &format!("/api/v1/deadlines/{reply_id}/explanation"),
            &supervisor,
        )
        .await;
    assert_eq!(r.body["count"]["total_days"], 11);
    assert_eq!(r.body["deadline"]["due_at"], "2026-12-09T16:00:00Z");
    assert_eq!(r.body["extensions"][0]["days"], 3);

    // The co-handler contributes; the lead sees it in the history.
    let r = app
        .post(
            &format!("/api/v1/assignments/{co_id}/contribution"),
            &bureau,
            json!({"text": "信号灯已于今日修复"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "completed");
    let r = app
        .get(&format!("/api/v1/messages/{id}/assignments"), &chengguan)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["items"][1]["contribution"], "信号灯已于今日修复");

    // Every step is in the ledger, and the chain holds.
    let acts = actions(&app, &liaison, &id).await;
    for a in [
        "assign",
        "sign_for",
        "request_clarification",
        "answer_clarification",
        "request_extension",
        "approve_extension",
        "contribute",
    ] {
        assert!(acts.iter().any(|x| x == a), "{a} missing from {acts:?}");
    }
    let v = app
        .get(&format!("/api/v1/messages/{id}/events/verify"), &liaison)
        .await;
    assert_eq!(v.body["valid"], true, "{}", v.body);
}

#[actix_web::test]
async fn returns_transfers_and_disputes() {
    let app = TestApp::spawn().await;
    let (id, liaison) = accepted(&app, "routine", None).await;
    let chengguan = staff(&app, "cg@example.cn", "handler", CHENGGUAN).await;
    let qilihe = staff(&app, "qlh@example.cn", "handler", QILIHE).await;
    let supervisor = app.token(Demo::Supervisor).await;

    // 城关区 returns it: back to the liaison office, accepted and unassigned.
    let r = assign(&app, &liaison, &id, CHENGGUAN, &[TRANSPORT_BUREAU]).await;
    let a1 = r.body["items"][0]["id"].as_str().unwrap().to_owned();
    let co = r.body["items"][1]["id"].as_str().unwrap().to_owned();
    let bureau = app.token(Demo::Handler).await;
    // A co-handler cannot return the message.
    app.post(
        &format!("/api/v1/assignments/{co}/return"),
        &bureau,
        json!({"reason": "not_our_jurisdiction", "note": "不归我们"}),
    )
    .await
    .assert_problem(403, "forbidden");
    let r = app
        .post(
            &format!("/api/v1/assignments/{a1}/return"),
            &chengguan,
            json!({"reason": "not_our_jurisdiction", "note": "属七里河区", "suggested_unit_id": unit(QILIHE)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "returned");
    assert_eq!(deadline(&r.body, "sign_for")["state"], "met");
    let m = message(&app, &liaison, &id).await;
    assert_eq!(m["status"], "accepted");
    assert!(m["unit_id"].is_null());
    let r = app.get(&format!("/api/v1/assignments/{co}"), &bureau).await;
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(deadline(&r.body, "sign_for")["state"], "cancelled");

    // Re-assigned to 七里河, which signs for; then the liaison office transfers it to 城关区.
    let r = assign(&app, &liaison, &id, QILIHE, &[]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let a2 = r.body["items"][0]["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/assignments/{a2}/sign-for"),
            &qilihe,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Only the liaison office or a supervisor transfers.
    app.post(
        &format!("/api/v1/assignments/{a2}/transfer"),
        &qilihe,
        json!({"unit_id": unit(CHENGGUAN), "note": "转城关区"}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        &format!("/api/v1/assignments/{a2}/transfer"),
        &liaison,
        json!({"unit_id": unit(QILIHE), "note": "同一单位"}),
    )
    .await
    .assert_problem(422, "validation-failed");
    let r = app
        .post(
            &format!("/api/v1/assignments/{a2}/transfer"),
            &liaison,
            json!({"unit_id": unit(CHENGGUAN), "note": "经核实转城关区办理"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["origin"], "transferred");
    assert_eq!(r.body["status"], "pending");
    let a3 = r.body["id"].as_str().unwrap().to_owned();
    let old = app
        .get(&format!("/api/v1/assignments/{a2}"), &liaison)
        .await;
    assert_eq!(old.body["status"], "transferred");
    assert_eq!(old.body["transferred_to"], a3);
    assert_eq!(deadline(&old.body, "reply")["state"], "cancelled");
    let m = message(&app, &liaison, &id).await;
    assert_eq!(m["status"], "assigned");
    assert_eq!(m["unit_id"], unit(CHENGGUAN));
    // 七里河 no longer sees the new assignment; its inbox still holds its own.
    app.get(&format!("/api/v1/assignments/{a3}"), &qilihe)
        .await
        .assert_problem(404, "not-found");
    let inbox = app
        .get(
            &format!("/api/v1/assignments?unit_id={}", unit(QILIHE)),
            &qilihe,
        )
        .await;
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    assert_eq!(inbox.body["items"].as_array().unwrap().len(), 1);
    app.get(
        &format!("/api/v1/assignments?unit_id={}", unit(CHENGGUAN)),
        &qilihe,
    )
    .await
    .assert_problem(403, "forbidden");

    // 城关区 returns it a second time: now the units dispute it.
    let r = app
        .post(
            &format!("/api/v1/assignments/{a3}/return"),
            &chengguan,
            json!({"reason": "belongs_to_lower_level", "note": "应由街道办理"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assign(&app, &liaison, &id, QILIHE, &[])
        .await
        .assert_problem(403, "forbidden");
    // 七里河 lies outside 城关区: no claim at all; the city's transport bureau (territory:
    // all of 兰州) may claim in general, but not a disputed message.
    app.post(&format!("/api/v1/messages/{id}/claims"), &qilihe, json!({}))
        .await
        .assert_problem(403, "forbidden");
    app.post(&format!("/api/v1/messages/{id}/claims"), &bureau, json!({}))
        .await
        .assert_problem(409, "conflict");
    let r = assign(&app, &supervisor, &id, QILIHE, &[]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let history = app
        .get(&format!("/api/v1/messages/{id}/assignments"), &supervisor)
        .await;
    let statuses: Vec<&str> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "returned",
            "cancelled",
            "transferred",
            "returned",
            "pending"
        ]
    );
    // The liaison office's inbox holds the other units' assignments on its messages, in pages.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = app
            .get(
                &format!("/api/v1/assignments?limit=2&cursor={cursor}"),
                &liaison,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        for a in r.body["items"].as_array().unwrap() {
            seen.push(a["id"].as_str().unwrap().to_owned());
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    let mut expected: Vec<String> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    expected.reverse(); // newest first
    assert_eq!(seen, expected);
    // 城关区 sees only its own two.
    let own = app.get("/api/v1/assignments", &chengguan).await;
    assert_eq!(
        own.body["items"].as_array().unwrap().len(),
        2,
        "{}",
        own.body
    );
    let acts = actions(&app, &liaison, &id).await;
    assert_eq!(acts.iter().filter(|a| *a == "return").count(), 2);
    assert_eq!(acts.iter().filter(|a| *a == "transfer").count(), 1);
}

#[actix_web::test]
async fn claims_need_territory_and_only_one_wins() {
    let app = TestApp::spawn().await;
    let (id, _) = accepted(&app, "routine", None).await;
    // A unit of another city may not claim a message in 城关区.
    let tianshui = staff(&app, "ts@example.cn", "handler", "天水市秦州区人民政府").await;
    app.post(
        &format!("/api/v1/messages/{id}/claims"),
        &tianshui,
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    // Reviewers and citizens hold no claim permission at all.
    let reviewer = app.token(Demo::Reviewer).await;
    app.post(
        &format!("/api/v1/messages/{id}/claims"),
        &reviewer,
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    // What a unit may claim: accepted, unassigned messages in its territory.
    let chengguan = staff(&app, "cg@example.cn", "handler", CHENGGUAN).await;
    let bureau = app.token(Demo::Handler).await;
    let claimable = |token: String| {
        let app = &app;
        async move {
            let r = app
                .get("/api/v1/messages?claimable=true&limit=100", &token)
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert!(claimable(chengguan.clone()).await.contains(&id));
    assert!(claimable(bureau.clone()).await.contains(&id));
    assert!(!claimable(tianshui.clone()).await.contains(&id));
    let citizen = app.token(Demo::Citizen).await;
    app.get("/api/v1/messages?claimable=true", &citizen)
        .await
        .assert_problem(403, "forbidden");
    app.get("/api/v1/messages?claimable=null", &bureau)
        .await
        .assert_problem(422, "validation-failed");
    // Handlers of two territorial units race: exactly one claim wins.
    let path = format!("/api/v1/messages/{id}/claims");
    let tries = (0..20).map(|i| {
        let token = if i % 2 == 0 { &chengguan } else { &bureau };
        app.post(&path, token, json!({"note": "认领"}))
    });
    let results = futures_util::future::join_all(tries).await;
    let won: Vec<&Resp> = results.iter().filter(|r| r.status == 201).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(results.iter().all(|r| r.status == 201 || r.status == 409));
    let a = &won[0].body;
    assert_eq!(a["origin"], "claimed");
    assert_eq!(a["status"], "signed_for");
    assert_eq!(deadline(a, "reply")["limit_days"], 15);
    let liaison = lanzhou_liaison_token(&app).await;
    assert_eq!(message(&app, &liaison, &id).await["status"], "in_progress");
    assert!(!claimable(chengguan.clone()).await.contains(&id));
}

async fn lanzhou_liaison_token(app: &TestApp) -> String {
    app.login("lz.liaison@example.cn", "staff password 1").await
}

#[actix_web::test]
async fn roles_outside_handling_are_refused() {
    let app = TestApp::spawn().await;
    let (id, liaison) = accepted(&app, "routine", None).await;
    let r = assign(&app, &liaison, &id, CHENGGUAN, &[]).await;
    let a = r.body["items"][0]["id"].as_str().unwrap().to_owned();
    let citizen = app.token(Demo::Citizen).await;
    let analyst = app.token(Demo::Analyst).await;
    let reviewer = app.token(Demo::Reviewer).await;
    let provincial_liaison = app.token(Demo::Liaison).await;
    // Permission table: (token, method, path, body, expected status).
    let cases: Vec<(&str, Method, String, Value, u16)> = vec![
        (
            &citizen,
            Method::POST,
            format!("/api/v1/messages/{id}/assignments"),
            json!({"lead_unit_id": unit(QILIHE)}),
            403,
        ),
        (
            &analyst,
            Method::POST,
            format!("/api/v1/messages/{id}/assignments"),
            json!({"lead_unit_id": unit(QILIHE)}),
            403,
        ),
        (
            &reviewer,
            Method::POST,
            format!("/api/v1/messages/{id}/assignments"),
            json!({"lead_unit_id": unit(QILIHE)}),
            403,
        ),
        // The provincial liaison office is not this message's intake unit: it sees the public
        // message, but not its assignments, so moving one is 404 like reading it.
        (
            &provincial_liaison,
            Method::POST,
            format!("/api/v1/assignments/{a}/transfer"),
            json!({"unit_id": unit(QILIHE), "note": "x"}),
            404,
        ),
        (
            &citizen,
            Method::GET,
            "/api/v1/assignments".into(),
            Value::Null,
            403,
        ),
        (
            &citizen,
            Method::GET,
            "/api/v1/deadlines".into(),
            Value::Null,
            403,
        ),
        (
            &citizen,
            Method::GET,
            "/api/v1/supervisions".into(),
            Value::Null,
            403,
        ),
        (
            &citizen,
            Method::POST,
            format!("/api/v1/assignments/{a}/sign-for"),
            json!({}),
            403,
        ),
        (
            &analyst,
            Method::POST,
            format!("/api/v1/assignments/{a}/sign-for"),
            json!({}),
            403,
        ),
        (
            &reviewer,
            Method::POST,
            format!("/api/v1/assignments/{a}/sign-for"),
            json!({}),
            403,
        ),
        (
            &liaison,
            Method::POST,
            format!("/api/v1/assignments/{a}/sign-for"),
            json!({}),
            403,
        ),
        (
            &liaison,
            Method::POST,
            format!("/api/v1/messages/{id}/supervisions"),
            json!({"level": "key", "instruction": "x", "due_date": "2099-01-01"}),
            403,
        ),
        (
            &analyst,
            Method::POST,
            format!("/api/v1/messages/{id}/instructions"),
            json!({"body": "x"}),
            403,
        ),
        (
            &citizen,
            Method::POST,
            format!("/api/v1/messages/{id}/instructions"),
            json!({"body": "x"}),
            403,
        ),
    ];
    for (token, method, path, body, expected) in cases {
        let body = if body.is_null() { None } else { Some(body) };
        let r = app.send(method.clone(), &path, Some(token), body).await;
        assert_eq!(r.status.as_u16(), expected, "{method} {path}: {}", r.body);
    }
    let r = app.send(Method::GET, "/api/v1/deadlines", None, None).await;
    r.assert_problem(401, "unauthorized");
}

/// (start, priority, sign-for due date, reply due date, view time, state, working days left,
/// working days late): local Asia/Shanghai times, computed by hand against the 2026 demo calendar
/// (holidays Jan 1–3, Feb 15–23, Apr 4–6, May 1–5, Jun 19–21, Sep 25–27, Oct 1–7; make-up days
/// Sun Jan 4, Sat Feb 14, Sat Feb 28, Sat May 9, Sun Sep 20, Sat Oct 10; nothing known of 2027,
/// so 1 Jan 2027 counts as an ordinary Friday). The start day is never counted.
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<i64>,
    Option<i64>,
);
const FIXTURE: &[Case] = &[
    // Mon before Mid-Autumn/National Day: 29, 30 Sep, 8, 9, 10 (make-up Sat) Oct.
    (
        "2026-09-28T10:00",
        "important",
        "2026-09-29",
        "2026-10-10",
        "2026-09-29T09:00",
        "on_track",
        Some(5),
        None,
    ),
    (
        "2026-09-28T10:00",
        "routine",
        "2026-09-29",
        "2026-10-23",
        "2026-10-20T09:00",
        "on_track",
        Some(4),
        None,
    ),
    // Late on 30 Sep (15:30 UTC, still 30 Sep locally): the holiday week is skipped.
    (
        "2026-09-30T23:30",
        "important",
        "2026-10-08",
        "2026-10-13",
        "2026-10-08T09:00",
        "on_track",
        Some(5),
        None,
    ),
    (
        "2026-09-30T23:30",
        "routine",
        "2026-10-08",
        "2026-10-27",
        "2026-10-21T18:00",
        "on_track",
        Some(5),
        None,
    ),
    // Starting on a holiday.
    (
        "2026-10-01T09:00",
        "important",
        "2026-10-08",
        "2026-10-13",
        "2026-10-09T09:00",
        "on_track",
        Some(4),
        None,
    ),
    (
        "2026-10-01T09:00",
        "routine",
        "2026-10-08",
        "2026-10-27",
        "2026-10-23T12:00",
        "on_track",
        Some(3),
        None,
    ),
    (
        "2026-10-03T15:00",
        "important",
        "2026-10-08",
        "2026-10-13",
        "2026-10-14T09:00",
        "overdue",
        None,
        Some(1),
    ),
    (
        "2026-10-03T15:00",
        "routine",
        "2026-10-08",
        "2026-10-27",
        "2026-10-05T09:00",
        "on_track",
        Some(15),
        None,
    ),
    // Friday evening before the make-up Saturday: the Saturday is day 1.
    (
        "2026-10-09T17:00",
        "important",
        "2026-10-10",
        "2026-10-15",
        "2026-10-16T09:00",
        "overdue",
        None,
        Some(1),
    ),
    (
        "2026-10-09T17:00",
        "routine",
        "2026-10-10",
        "2026-10-29",
        "2026-10-30T09:00",
        "overdue",
        None,
        Some(1),
    ),
    // Starting on a make-up Saturday; viewed the next Saturday: overdue but 0 working days late.
    (
        "2026-10-10T08:00",
        "important",
        "2026-10-12",
        "2026-10-16",
        "2026-10-17T09:00",
        "overdue",
        None,
        Some(0),
    ),
    (
        "2026-10-10T08:00",
        "routine",
        "2026-10-12",
        "2026-10-30",
        "2026-10-31T10:00",
        "overdue",
        None,
        Some(0),
    ),
    // Year boundary.
    (
        "2026-12-30T10:00",
        "important",
        "2026-12-31",
        "2027-01-06",
        "2027-01-05T10:00",
        "on_track",
        Some(2),
        None,
    ),
    (
        "2026-12-30T10:00",
        "routine",
        "2026-12-31",
        "2027-01-20",
        "2027-01-20T23:00",
        "due_soon",
        Some(1),
        None,
    ),
    (
        "2026-12-31T23:59",
        "important",
        "2027-01-01",
        "2027-01-07",
        "2027-01-08T08:00",
        "overdue",
        None,
        Some(1),
    ),
    (
        "2026-12-31T23:59",
        "routine",
        "2027-01-01",
        "2027-01-21",
        "2027-01-01T08:00",
        "on_track",
        Some(15),
        None,
    ),
    // Spring Festival with both make-up Saturdays.
    (
        "2026-02-12T09:00",
        "important",
        "2026-02-13",
        "2026-02-26",
        "2026-02-27T09:00",
        "overdue",
        None,
        Some(1),
    ),
    (
        "2026-02-12T09:00",
        "routine",
        "2026-02-13",
        "2026-03-11",
        "2026-03-10T09:00",
        "on_track",
        Some(2),
        None,
    ),
    (
        "2026-02-14T09:00",
        "important",
        "2026-02-24",
        "2026-02-28",
        "2026-02-28T09:00",
        "due_soon",
        Some(1),
        None,
    ),
    (
        "2026-02-14T09:00",
        "routine",
        "2026-02-24",
        "2026-03-13",
        "2026-03-09T09:00",
        "on_track",
        Some(5),
        None,
    ),
    // Labour Day.
    (
        "2026-04-30T16:00",
        "important",
        "2026-05-06",
        "2026-05-11",
        "2026-05-08T09:00",
        "on_track",
        Some(3),
        None,
    ),
    (
        "2026-04-30T16:00",
        "routine",
        "2026-05-06",
        "2026-05-25",
        "2026-05-25T09:00",
        "due_soon",
        Some(1),
        None,
    ),
    // Dragon Boat.
    (
        "2026-06-18T11:00",
        "important",
        "2026-06-22",
        "2026-06-26",
        "2026-06-25T17:00",
        "on_track",
        Some(2),
        None,
    ),
    (
        "2026-06-18T11:00",
        "routine",
        "2026-06-22",
        "2026-07-10",
        "2026-07-15T09:00",
        "overdue",
        None,
        Some(3),
    ),
    // A make-up Sunday counts.
    (
        "2026-09-18T10:00",
        "important",
        "2026-09-20",
        "2026-09-24",
        "2026-09-24T09:00",
        "due_soon",
        Some(1),
        None,
    ),
    (
        "2026-09-18T10:00",
        "routine",
        "2026-09-20",
        "2026-10-15",
        "2026-10-16T09:00",
        "overdue",
        None,
        Some(1),
    ),
    // Ordinary weeks.
    (
        "2026-11-20T10:00",
        "important",
        "2026-11-23",
        "2026-11-27",
        "2026-11-27T10:00",
        "due_soon",
        Some(1),
        None,
    ),
    (
        "2026-11-20T10:00",
        "routine",
        "2026-11-23",
        "2026-12-11",
        "2026-12-14T10:00",
        "overdue",
        None,
        Some(1),
    ),
    // 00:30 local is the previous day in UTC: the local date decides.
    (
        "2026-11-26T00:30",
        "important",
        "2026-11-27",
        "2026-12-03",
        "2026-12-03T12:00",
        "due_soon",
        Some(1),
        None,
    ),
    (
        "2026-11-26T00:30",
        "routine",
        "2026-11-27",
        "2026-12-17",
        "2026-12-17T12:00",
        "due_soon",
        Some(1),
        None,
    ),
    // New Year's Day: day 1 is the make-up Sunday 4 Jan.
    (
        "2026-01-01T10:00",
        "important",
        "2026-01-04",
        "2026-01-08",
        "2026-01-08T10:00",
        "due_soon",
        Some(1),
        None,
    ),
    (
        "2026-05-09T10:00",
        "routine",
        "2026-05-11",
        "2026-05-29",
        "2026-06-01T10:00",
        "overdue",
        None,
        Some(1),
    ),
];

fn due_at(date: &str) -> String {
    // End of the local day: 16:00 UTC of that date.
    format!("{date}T16:00:00Z")
}

#[actix_web::test]
async fn the_deadlines_view_matches_a_hand_computed_fixture() {
    let clock = Clock::manual(local("2026-01-01T08:00"));
    let mut settings = test_settings();
    settings.clock = clock.clone();
    let app = TestApp::spawn_with(settings).await;
    let liaison = lanzhou_liaison(&app).await;
    let chengguan = staff(&app, "cg@example.cn", "handler", CHENGGUAN).await;
    let supervisor = app.token(Demo::Supervisor).await;
    assert!(FIXTURE.len() >= 30);
    for (start, priority, sign_due, reply_due, view, state, left, late) in FIXTURE {
        let case = format!("{start} {priority}");
        clock.set(local(start));
        let (id, _) = accepted(&app, priority, Some(&liaison)).await;
        let r = assign(&app, &liaison, &id, CHENGGUAN, &[]).await;
        assert_eq!(r.status, 201, "{case}: {}", r.body);
        assert_eq!(
            deadline(&r.body["items"][0], "sign_for")["due_at"],
            due_at(sign_due),
            "{case}"
        );
        let a = r.body["items"][0]["id"].as_str().unwrap().to_owned();
        let r = app
            .post(
                &format!("/api/v1/assignments/{a}/sign-for"),
                &chengguan,
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{case}: {}", r.body);

        clock.set(local(view));
        let r = app
            .get(&format!("/api/v1/deadlines?message_id={id}"), &supervisor)
            .await;
        assert_eq!(r.status, 200, "{case}: {}", r.body);
        let rows = r.body["items"].as_array().unwrap();
        assert_eq!(rows.len(), 2, "{case}");
        let sign = rows.iter().find(|d| d["kind"] == "sign_for").unwrap();
        assert_eq!(sign["state"], "met", "{case}");
        let reply = rows.iter().find(|d| d["kind"] == "reply").unwrap();
        assert_eq!(reply["due_at"], due_at(reply_due), "{case}");
        assert_eq!(reply["state"], *state, "{case}");
        assert_eq!(reply["working_days_left"].as_i64(), *left, "{case}");
        assert_eq!(reply["working_days_late"].as_i64(), *late, "{case}");
        // The state filter agrees with the row.
        let r = app
            .get(
                &format!("/api/v1/deadlines?message_id={id}&state={state}"),
                &supervisor,
            )
            .await;
        assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{case}");
    }

    // The whole view, sorted by due time, paged 7 at a time, at one moment.
    clock.set(local("2026-10-14T09:00"));
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = app
            .get(
                &format!(
                    "/api/v1/deadlines?kind=reply&unit_id={}&limit=7&cursor={cursor}",
                    unit(CHENGGUAN)
                ),
                &supervisor,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        for d in r.body["items"].as_array().unwrap() {
            seen.push(d["due_at"].as_str().unwrap().to_owned());
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    let mut expected: Vec<String> = FIXTURE.iter().map(|c| due_at(c.3)).collect();
    expected.sort();
    assert_eq!(seen, expected);
    let overdue = app
        .get(
            "/api/v1/deadlines?kind=reply&state=overdue&limit=100",
            &supervisor,
        )
        .await;
    let n = FIXTURE
        .iter()
        .filter(|c| {
            local("2026-10-14T09:00")
                >= DateTime::parse_from_rfc3339(&due_at(c.3))
                    .unwrap()
                    .with_timezone(&Utc)
        })
        .count();
    assert_eq!(overdue.body["items"].as_array().unwrap().len(), n);
}

#[actix_web::test]
async fn the_scheduler_raises_each_alarm_once_across_replicas() {
    let clock = Clock::manual(local("2026-11-23T09:00"));
    let mut settings = test_settings();
    settings.clock = clock.clone();
    let app = TestApp::spawn_with(settings).await;
    let (id, liaison) = accepted(&app, "important", None).await;
    let r = assign(&app, &liaison, &id, CHENGGUAN, &[TRANSPORT_BUREAU]).await;
    assert_eq!(r.status, 201, "{}", r.body);

    // Two days later both sign-for deadlines (due Tuesday) are overdue. Eight "replicas" (each
    // its own connection, as separate processes would have) run the scheduler at once, twice.
    let later = local("2026-11-25T10:00");
    let url = app.db.url.clone();
    let passes: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut conn = crate::helpers::establish(&url);
                let a = liuyan::scheduler::run_once(&mut conn, later).unwrap();
                let b = liuyan::scheduler::run_once(&mut conn, later).unwrap();
                (a.due_soon + b.due_soon, a.overdue + b.overdue)
            })
        })
        .collect();
    let mut totals = passes
        .into_iter()
        .map(|t| t.join().unwrap())
        .fold((0, 0), |acc, x| (acc.0 + x.0, acc.1 + x.1));
    // A replica skips a message another one holds locked; a later tick raises what is left.
    let mut conn = app.db.connect();
    let last = liuyan::scheduler::run_once(&mut conn, later).unwrap();
    totals = (totals.0 + last.due_soon, totals.1 + last.overdue);
    assert_eq!(totals, (2, 2), "one due-soon and one overdue per deadline");
    let acts = actions(&app, &liaison, &id).await;
    assert_eq!(acts.iter().filter(|a| *a == "deadline_due_soon").count(), 2);
    assert_eq!(acts.iter().filter(|a| *a == "deadline_overdue").count(), 2);
    // Escalated to the province's supervisor (the only one whose scope contains 城关区).
    clock.set(later);
    let supervisor = app.token(Demo::Supervisor).await;
    let r = app
        .get(
            &format!("/api/v1/deadlines?message_id={id}&state=overdue"),
            &supervisor,
        )
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2, "{}", r.body);
    let me = app.get("/api/v1/me", &supervisor).await;
    assert_eq!(r.body["items"][0]["escalated_to"], json!([me.body["id"]]));
    let events = app
        .get(&format!("/api/v1/messages/{id}/events?limit=100"), &liaison)
        .await;
    let overdue = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "deadline_overdue")
        .unwrap();
    assert_eq!(overdue["actor_role"], "system");
    // Nothing more to raise.
    let again = liuyan::scheduler::run_once(&mut conn, later).unwrap();
    assert_eq!(again, liuyan::scheduler::Raised::default());
}

#[actix_web::test]
async fn supervision_cases_and_leader_instructions() {
    let app = TestApp::spawn().await;
    let (id, liaison) = accepted(&app, "routine", None).await;
    let r = assign(&app, &liaison, &id, CHENGGUAN, &[]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let chengguan = staff(&app, "cg@example.cn", "handler", CHENGGUAN).await;
    let supervisor = app.token(Demo::Supervisor).await;
    let bureau = app.token(Demo::Handler).await;

    let open =
        json!({"level": "key", "instruction": "请于月底前反馈进展", "due_date": "2099-12-31"});
    let r = app
        .post(
            &format!("/api/v1/messages/{id}/supervisions"),
            &supervisor,
            open.clone(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sid = r.body["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/api/v1/messages/{id}/supervisions"),
        &supervisor,
        open,
    )
    .await
    .assert_problem(409, "conflict");
    app.post(
        &format!("/api/v1/messages/{id}/supervisions"),
        &supervisor,
        json!({"level": "key", "instruction": "x", "due_date": "2001-01-01"}),
    )
    .await
    .assert_problem(422, "validation-failed");
    // The lead unit reports; a unit not handling the message cannot (nor read the case).
    let report = format!("/api/v1/supervisions/{sid}/reports");
    app.post(&report, &bureau, json!({"body": "无关单位"}))
        .await
        .assert_problem(404, "not-found");
    let r = app
        .post(&report, &chengguan, json!({"body": "已安排维修"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["reports"][0]["body"], "已安排维修");
    let r = app
        .get("/api/v1/supervisions?status=open", &chengguan)
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.body);
    let r = app.get("/api/v1/supervisions?status=open", &bureau).await;
    assert!(r.body["items"].as_array().unwrap().is_empty());
    let close = format!("/api/v1/supervisions/{sid}/close");
    app.post(&close, &chengguan, json!({"note": "自己关"}))
        .await
        .assert_problem(403, "forbidden");
    let r = app
        .post(&close, &supervisor, json!({"note": "已办结"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "closed");
    app.post(&report, &chengguan, json!({"body": "晚了"}))
        .await
        .assert_problem(409, "conflict");

    // The mayor instructs (for himself); the liaison office records another leader's.
    let leader = app.token(Demo::Leader).await;
    let path = format!("/api/v1/messages/{id}/instructions");
    let r = app
        .post(&path, &leader, json!({"body": "请尽快解决并报结果"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["leader_id"], crate::messages::leader("孙海洋"));
    app.post(
        &path,
        &leader,
        json!({"leader_id": crate::messages::leader("赵文博"), "body": "冒名"}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(&path, &liaison, json!({"body": "未写领导"}))
        .await
        .assert_problem(422, "validation-failed");
    let r = app
        .post(
            &path,
            &liaison,
            json!({"leader_id": crate::messages::leader("赵文博"), "body": "同意孙市长意见"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let m = message(&app, &liaison, &id).await;
    assert_eq!(m["priority"], "important");
    let r = app.get(&path, &chengguan).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    let acts = actions(&app, &liaison, &id).await;
    for a in [
        "supervise",
        "report_progress",
        "close_supervision",
        "instruct",
    ] {
        assert!(acts.iter().any(|x| x == a), "{a} missing");
    }
}

/// Two server processes on one database race 100 claims on one message: one wins. Both run the
/// deadline scheduler every second: each alarm is raised once.
#[actix_web::test]
async fn two_server_processes_race_claims_with_one_winner() {
    // Set up in the past (the in-process app's clock), so that a sign-for deadline is long
    // overdue by the real clock the two server processes use.
    let clock = Clock::manual(local("2026-01-05T09:00"));
    let mut settings = test_settings();
    settings.clock = clock.clone();
    let app = TestApp::spawn_with(settings).await;
    let (late, liaison) = accepted(&app, "routine", None).await;
    let r = assign(&app, &liaison, &late, QILIHE, &[]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (id, _) = accepted(&app, "routine", Some(&liaison)).await;
    let chengguan = staff(&app, "cg@example.cn", "handler", CHENGGUAN).await;
    let bureau = app.token(Demo::Handler).await;
    let mut servers = Vec::new();
    let mut bases = Vec::new();
    for _ in 0..2 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_liuyan"))
            .arg("serve")
            .env("DATABASE_URL", &app.db.url)
            .env("LIUYAN_PORT", port.to_string())
            .env("LIUYAN_MIGRATE_ON_START", "false")
            .env("LIUYAN_RATE_PER_SECOND", "100000")
            .env("LIUYAN_RATE_BURST", "100000")
            .env("LIUYAN_SCHEDULER_INTERVAL_SECS", "1")
            .env("LIUYAN_DB_POOL_SIZE", "4")
            // One winner is the point, not latency: on a loaded machine 50 claims queued behind
            // one row lock may wait longer than the default 500 ms.
            .env("LIUYAN_DB_POOL_TIMEOUT_MS", "10000")
            .env("LIUYAN_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        servers.push(KillOnDrop(child));
        bases.push(format!("http://127.0.0.1:{port}"));
    }
    let client = reqwest::Client::new();
    for base in &bases {
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = client.get(format!("{base}/readyz")).send().await
                && r.status() == 200
            {
                ready = true;
                break;
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(ready, "{base} did not start");
    }
    let tries = (0..100).map(|i| {
        let token = if i % 2 == 0 { &chengguan } else { &bureau };
        let base = &bases[i % 2];
        client
            .post(format!("{base}/api/v1/messages/{id}/claims"))
            .bearer_auth(token)
            .json(&json!({"note": "认领"}))
            .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(tries)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        99,
        "{statuses:?}"
    );
    let mut conn = app.db.connect();
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let n: N = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM assignments WHERE message_id = '{id}'"
    ))
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(n.n, 1);

    // The overdue sign-for deadline of the other message gets exactly one due-soon and one
    // overdue alarm, however often both schedulers pass.
    let alarms = |conn: &mut diesel::PgConnection, action: &str| -> i64 {
        diesel::sql_query(format!(
            "SELECT count(*) AS n FROM message_events WHERE message_id = '{late}' AND action = '{action}'"
        ))
        .get_result::<N>(conn)
        .unwrap()
        .n
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while alarms(&mut conn, "deadline_overdue") == 0 {
        assert!(std::time::Instant::now() < deadline, "no overdue alarm");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Two more completed passes of each process's scheduler (the first may have begun before
    // the alarm): a duplicate alarm would have been raised in one of them.
    crate::helpers::wait_for_passes(&bases, "scheduler", 2, std::time::Duration::from_secs(30))
        .await;
    assert_eq!(alarms(&mut conn, "deadline_due_soon"), 1);
    assert_eq!(alarms(&mut conn, "deadline_overdue"), 1);
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_web::test]
async fn calendar_and_policy_edits_move_running_deadlines_only() {
    // The demo calendar (seeded) has no holiday in late November 2026.
    let clock = Clock::manual(local("2026-11-23T09:00")); // Monday
    let mut settings = test_settings();
    settings.clock = clock.clone();
    let app = TestApp::spawn_with(settings).await;
    let admin = app.token(Demo::Admin).await;
    let supervisor = app.token(Demo::Supervisor).await;
    let liaison = lanzhou_liaison(&app).await;
    let chengguan = staff(&app, "cg@example.cn", "handler", CHENGGUAN).await;
    let (a, _) = accepted(&app, "important", Some(&liaison)).await;
    let r = assign(&app, &liaison, &a, CHENGGUAN, &[]).await;
    let assignment = r.body["items"][0]["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/assignments/{assignment}/sign-for"),
            &chengguan,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sign = deadline(&r.body, "sign_for").clone();
    let reply = deadline(&r.body, "reply").clone();
    assert_eq!(sign["state"], "met");
    assert_eq!(reply["due_at"], "2026-11-30T16:00:00Z"); // 24, 25, 26, 27, 30 Nov

    // A holiday on Thursday 26 Nov: the running reply deadline moves a working day later; the
    // met sign-for deadline keeps its due time and verdict.
    let r = app
        .send(
            Method::PUT,
            "/api/v1/calendar/days/2026-11-26",
            Some(&admin),
            Some(json!({"working": false, "note": "临时调整"})),
        )
        .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.body);
    let now = deadline_rows(&app, &supervisor, &a).await;
    let find =
        |rows: &[Value], kind: &str| rows.iter().find(|d| d["kind"] == kind).unwrap().clone();
    assert_eq!(find(&now, "reply")["due_at"], "2026-12-01T16:00:00Z");
    assert_eq!(find(&now, "sign_for")["due_at"], sign["due_at"]);
    assert_eq!(find(&now, "sign_for")["state"], "met");

    // The important default policy goes from 5 to 7 working days: the running deadline follows,
    // recorded with the policy's new version.
    let path = "/api/v1/deadline-policies/00000000-0000-7000-8000-00000000d001";
    let p = app.get(path, &admin).await;
    let etag = p.headers["etag"].to_str().unwrap().to_owned();
    let r = app
        .send_with(
            Method::PATCH,
            path,
            Some(&admin),
            Some(json!({"reply_days": 7})),
            &[("if-match", etag.as_str())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let now = deadline_rows(&app, &supervisor, &a).await;
    let reply_now = find(&now, "reply");
    // 24, 25, 27, 30 Nov, 1, 2, 3 Dec (26 Nov is now a holiday).
    assert_eq!(reply_now["due_at"], "2026-12-03T16:00:00Z");
    assert_eq!(reply_now["limit_days"], 7);
    assert_eq!(reply_now["policy_version"], 2);
    assert_eq!(find(&now, "sign_for")["due_at"], sign["due_at"]);

    // Removing the holiday again brings the day back.
    let r = app
        .send(
            Method::DELETE,
            "/api/v1/calendar/days/2026-11-26",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let now = deadline_rows(&app, &supervisor, &a).await;
    assert_eq!(find(&now, "reply")["due_at"], "2026-12-02T16:00:00Z");
}

async fn deadline_rows(app: &TestApp, token: &str, message: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/deadlines?message_id={message}"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

/// Intake steps (accept, classify) run through the one transition runner like every other
/// step: a unit handling the message learns why it may not (409 for the status), a territorial
/// unit with no part in a message not yet public learns nothing of it (404, also for handling
/// steps), and a co-handler of a private message is not told it does not exist.
#[actix_web::test]
async fn every_step_judges_the_callers_part_the_same_way() {
    let app = TestApp::spawn().await;
    let liaison = lanzhou_liaison(&app).await;
    let bureau = app.token(Demo::Handler).await;
    let author = app.token(Demo::Citizen).await;
    let etag = |m: &Value| format!("\"{}\"", m["version"]);

    // The lead unit (the transport bureau) of a message in progress.
    let id = crate::replies::in_progress(&app, &liaison, "routine").await;
    let m = message(&app, &liaison, &id).await;
    let path = format!("/api/v1/messages/{id}/accept");
    post_with(&app, &path, &bureau, json!({}), &etag(&m))
        .await
        .assert_problem(409, "conflict");

    // A public message still `submitted` in the bureau's territory (all of 兰州): the bureau may
    // claim messages there, but this one is not public yet.
    let m = submit(&app, &author, message_body("路灯不亮")).await;
    let fresh = m["id"].as_str().unwrap();
    post_with(
        &app,
        &format!("/api/v1/messages/{fresh}/accept"),
        &bureau,
        json!({}),
        &etag(&m),
    )
    .await
    .assert_problem(404, "not-found");
    app.post(
        &format!("/api/v1/messages/{fresh}/replies"),
        &bureau,
        json!({"kind": "interim", "body": "正在核实情况，请耐心等待。"}),
    )
    .await
    .assert_problem(404, "not-found");

    // A private message led by the bureau with 城关区 co-handling it.
    let mut body = message_body("私信：楼道堆放杂物");
    body["visibility"] = json!("private");
    let m = submit(&app, &author, body).await;
    let private = m["id"].as_str().unwrap();
    let r = post_with(
        &app,
        &format!("/api/v1/messages/{private}/accept"),
        &liaison,
        json!({}),
        &etag(&m),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = assign(&app, &liaison, private, TRANSPORT_BUREAU, &[CHENGGUAN]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let chengguan = staff(&app, "cg@example.cn", "handler", CHENGGUAN).await;
    let m = message(&app, &liaison, private).await;
    post_with(
        &app,
        &format!("/api/v1/messages/{private}/accept"),
        &chengguan,
        json!({}),
        &etag(&m),
    )
    .await
    .assert_problem(409, "conflict");
}
