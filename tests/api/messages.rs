//! Messages: intake, visibility, transitions, search and the ledger.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Demo, Resp, TestApp, unit};

pub fn leader(name: &str) -> String {
    liuyan::seed::leader_id(name).to_string()
}

const TRANSPORT: &str = "01930000-0000-7000-8000-000000000002";

/// A valid message to the mayor of Lanzhou (handled by the Lanzhou liaison office).
pub fn message_body(title: &str) -> Value {
    json!({
        "leader_id": leader("孙海洋"), "category_id": TRANSPORT, "kind": "complaint",
        "title": title, "body": "城关区庆阳路与酒泉路交叉口的红绿灯已经坏了三天，请尽快修理。",
        "region_code": "620102", "address": "庆阳路与酒泉路交叉口", "location": {"lat": 36.0611, "lon": 103.8343},
        "visibility": "public", "contact_phone": "13912345678",
        "attachments": [
            {"url": "https://files.example.gov.cn/a.jpg", "media_type": "image/jpeg"},
            {"url": "https://files.example.gov.cn/id-card.jpg", "media_type": "image/jpeg", "private": true}
        ]
    })
}

/// A second citizen, registered through the API.
pub async fn other_citizen(app: &TestApp) -> String {
    let r = app
        .send(Method::POST, "/api/v1/auth/register", None,
            Some(json!({"email": "other@example.cn", "password": "another citizen pw", "display_name": "另一位市民"})))
        .await;
    assert_eq!(r.status, 201);
    app.login("other@example.cn", "another citizen pw").await
}

/// Staff of the Lanzhou liaison office (the intake unit of messages to Lanzhou's leaders).
pub async fn lanzhou_liaison(app: &TestApp) -> String {
    staff(
        app,
        "lz.liaison@example.cn",
        "handler",
        "兰州市领导留言办理工作办公室",
    )
    .await
}

pub async fn staff(app: &TestApp, email: &str, role: &str, unit_name: &str) -> String {
    let admin = app.token(Demo::Admin).await;
    let r = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": email, "password": "staff password 1", "display_name": "工作人员",
            "role": role, "unit_id": unit(unit_name)}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    app.login(email, "staff password 1").await
}

pub async fn submit(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app.post("/api/v1/messages", token, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["message"].clone()
}

async fn act(
    app: &TestApp,
    token: &str,
    id: &str,
    action: &str,
    version: i64,
    body: Value,
) -> Resp {
    let path = format!("/api/v1/messages/{id}/{action}");
    let etag = format!("\"{version}\"");
    app.send_with(
        Method::POST,
        &path,
        Some(token),
        Some(body),
        &[("if-match", etag.as_str())],
    )
    .await
}

#[actix_web::test]
async fn a_citizen_submits_and_gets_a_tracking_number_and_receipt() {
    let app = TestApp::spawn().await;
    let citizen = app.token(Demo::Citizen).await;
    let r = app
        .post(
            "/api/v1/messages",
            &citizen,
            message_body("庆阳路口红绿灯坏了"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let m = &r.body["message"];
    assert_eq!(m["status"], "submitted");
    assert_eq!(m["source"], "web");
    let tn = m["tracking_no"].as_str().unwrap();
    let re = regex_like_tracking(tn);
    assert!(re, "tracking number {tn}");
    assert_eq!(r.body["receipt"]["tracking_no"], tn);
    assert_eq!(r.body["receipt"]["chain_head"], m["chain_head"]);
    assert_eq!(r.header("etag"), Some("\"1\""));
    let location = r.header("location").unwrap().to_owned();
    let got = app.get(&location, &citizen).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.body["contact"]["phone"], "13912345678",
        "the author sees their contact data"
    );
    assert_eq!(got.body["attachments"].as_array().unwrap().len(), 2);
    let by_no = app
        .get(&format!("/api/v1/tracking/{}", tn.to_lowercase()), &citizen)
        .await;
    assert_eq!(by_no.body["id"], m["id"]);
    // The default region is the leader's, and it must lie inside the leader's jurisdiction.
    let mut b = message_body("默认地区");
    b.as_object_mut().unwrap().remove("region_code");
    let m = submit(&app, &citizen, b).await;
    assert_eq!(m["region_code"], "620100");
}

fn regex_like_tracking(tn: &str) -> bool {
    let parts: Vec<&str> = tn.split('-').collect();
    parts.len() == 3
        && parts[0] == "GS"
        && parts[1].len() == 4
        && parts[2].len() >= 6
        && parts[1]
            .chars()
            .chain(parts[2].chars())
            .all(|c| c.is_ascii_digit())
}

#[actix_web::test]
async fn every_invalid_field_is_a_422_naming_it_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let citizen = app.token(Demo::Citizen).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("title", json!("短"), "title"),
        ("title", json!("  "), "title"),
        ("body", json!("太短了"), "body"),
        ("body", json!("含有\u{0}空字符的正文内容很长很长"), "body"),
        ("kind", json!("rant"), "kind"),
        ("visibility", json!("friends"), "visibility"),
        ("region_code", json!("620502"), "region_code"),
        ("region_code", json!("6205"), "region_code"),
        (
            "location",
            json!({"lat": 91.0, "lon": 103.0}),
            "location.lat",
        ),
        ("location", json!({"lat": 36.0}), "location.lon"),
        ("contact_phone", json!("12345"), "contact_phone"),
        (
            "attachments",
            json!([{"url": "http://insecure.example/a.jpg", "media_type": "image/jpeg"}]),
            "attachments[0].url",
        ),
        (
            "attachments",
            json!([{"url": "https://[files.example/a.jpg", "media_type": "image/jpeg"}]),
            "attachments[0].url",
        ),
        (
            "attachments",
            json!([{"url": "https://x.example/a.exe", "media_type": "application/x-msdownload"}]),
            "attachments[0].media_type",
        ),
        (
            "attachments",
            Value::Array(vec![
                json!({"url": "https://x.example/a.jpg", "media_type": "image/jpeg"});
                11
            ]),
            "attachments",
        ),
        ("leader_id", json!(uuid::Uuid::new_v4()), "leader_id"),
        ("category_id", json!(uuid::Uuid::new_v4()), "category_id"),
        ("status", json!("accepted"), "status"),
        ("tracking_no", json!("GS-2026-000001"), "tracking_no"),
        ("author_id", json!(uuid::Uuid::new_v4()), "author_id"),
        ("source", json!("phone"), "source"),
        ("contact_name", json!("冒名"), "contact_name"),
    ];
    for (key, value, field) in cases {
        let mut body = message_body("有效的标题");
        body[key] = value;
        let r = app.post("/api/v1/messages", &citizen, body).await;
        r.assert_problem(422, "validation-failed");
        assert!(
            r.failing_fields().contains(&field.to_owned()),
            "{key}: expected {field}, got {:?}",
            r.body
        );
    }
    let mine = app.get("/api/v1/messages?mine=true", &citizen).await;
    assert_eq!(
        mine.body["items"].as_array().unwrap().len(),
        liuyan::seed::MESSAGES.len(),
        "only the seeded ones"
    );
}

#[actix_web::test]
async fn liaison_staff_register_messages_for_their_leaders_only() {
    let app = TestApp::spawn().await;
    let liaison = lanzhou_liaison(&app).await;
    let mut body = message_body("电话反映红绿灯问题");
    body["source"] = json!("phone");
    let r = app.post("/api/v1/messages", &liaison, body.clone()).await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.failing_fields(), vec!["contact_name"]);
    body["contact_name"] = json!("王大爷");
    let m = submit(&app, &liaison, body.clone()).await;
    assert_eq!(m["source"], "phone");
    assert_eq!(m["author_id"], Value::Null);
    assert_eq!(m["contact"]["name"], "王大爷");
    // The provincial liaison office does not handle the mayor of Lanzhou.
    let provincial = app.token(Demo::Liaison).await;
    app.post("/api/v1/messages", &provincial, body.clone())
        .await
        .assert_problem(403, "forbidden");
    // Roles that never register messages.
    for who in [
        Demo::Supervisor,
        Demo::Analyst,
        Demo::Leader,
        Demo::Reviewer,
    ] {
        let token = app.token(who).await;
        app.post("/api/v1/messages", &token, body.clone())
            .await
            .assert_problem(403, "forbidden");
    }
}

#[actix_web::test]
async fn visibility_never_leaks_private_messages_or_personal_data() {
    let app = TestApp::spawn().await;
    let author = app.token(Demo::Citizen).await;
    let other = other_citizen(&app).await;
    let liaison = lanzhou_liaison(&app).await;
    let tianshui = staff(
        &app,
        "ts.liaison@example.cn",
        "handler",
        "天水市领导留言办理工作办公室",
    )
    .await;
    let supervisor = app.token(Demo::Supervisor).await;
    let transport_handler = app.token(Demo::Handler).await;

    let mut private = message_body("私密留言");
    private["visibility"] = json!("private");
    let private = submit(&app, &author, private).await;
    let public = submit(&app, &author, message_body("公开留言")).await;
    let (pid, uid) = (
        private["id"].as_str().unwrap(),
        public["id"].as_str().unwrap(),
    );

    // Outsiders: 404 for the private one; the public one only once accepted.
    for token in [&other, &tianshui, &transport_handler] {
        app.get(&format!("/api/v1/messages/{pid}"), token)
            .await
            .assert_problem(404, "not-found");
        app.get(&format!("/api/v1/messages/{uid}"), token)
            .await
            .assert_problem(404, "not-found");
        app.get(&format!("/api/v1/messages/{pid}/events"), token)
            .await
            .assert_problem(404, "not-found");
    }
    let tn = private["tracking_no"].as_str().unwrap();
    app.get(&format!("/api/v1/tracking/{tn}"), &other)
        .await
        .assert_problem(404, "not-found");

    // The intake unit sees everything, contact included; a supervisor in scope all but contact.
    let seen = app.get(&format!("/api/v1/messages/{pid}"), &liaison).await;
    assert_eq!(seen.body["contact"]["phone"], "13912345678");
    let seen = app
        .get(&format!("/api/v1/messages/{pid}"), &supervisor)
        .await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.body["contact"], Value::Null);
    assert_eq!(seen.body["address"], "庆阳路与酒泉路交叉口");

    // Accepted public message: others see it without personal data.
    let accepted = act(&app, &liaison, uid, "accept", 1, json!({})).await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    let seen = app.get(&format!("/api/v1/messages/{uid}"), &other).await;
    assert_eq!(seen.status, 200);
    for field in [
        "author_id",
        "contact",
        "address",
        "location",
        "chain_head",
        "intake_unit_id",
        "event_count",
    ] {
        assert_eq!(
            seen.body[field],
            Value::Null,
            "{field} hidden from the public"
        );
    }
    let attachments = seen.body["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1, "private attachments hidden");
    assert!(!seen.body.to_string().contains("13912345678"));
    app.get(&format!("/api/v1/messages/{uid}/events"), &other)
        .await
        .assert_problem(404, "not-found");

    // Lists follow the same rules.
    let list = app.get("/api/v1/messages?limit=100", &other).await;
    let ids: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&uid) && !ids.contains(&pid));
    assert!(!list.body.to_string().contains("13912345678"));
    let list = app.get("/api/v1/messages?limit=100", &tianshui).await;
    assert!(!list.body.to_string().contains(pid));
    let list = app
        .get("/api/v1/messages?limit=100&q=%E7%A7%81%E5%AF%86", &liaison)
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn intake_transitions_follow_the_table() {
    let app = TestApp::spawn().await;
    let author = app.token(Demo::Citizen).await;
    let liaison = lanzhou_liaison(&app).await;
    let m = submit(&app, &author, message_body("待受理留言")).await;
    let id = m["id"].as_str().unwrap();

    // State changes need If-Match: missing 428, stale 412.
    let path = format!("/api/v1/messages/{id}/accept");
    let r = app
        .send(Method::POST, &path, Some(&liaison), Some(json!({})))
        .await;
    r.assert_problem(428, "precondition-required");
    act(&app, &liaison, id, "accept", 7, json!({}))
        .await
        .assert_problem(412, "precondition-failed");

    // Who may: not the author, not another unit (which cannot even see it).
    act(&app, &author, id, "accept", 1, json!({}))
        .await
        .assert_problem(403, "forbidden");
    let provincial = app.token(Demo::Liaison).await;
    act(&app, &provincial, id, "accept", 1, json!({}))
        .await
        .assert_problem(404, "not-found");

    // Classify, then accept; accepting twice is a conflict.
    let etag = "\"1\"";
    let c = app
        .send_with(Method::PUT, &format!("/api/v1/messages/{id}/classification"), Some(&liaison),
            Some(json!({"priority": "important", "category_id": TRANSPORT, "tags": ["红绿灯", "红绿灯", " 城关 "]})),
            &[("if-match", etag)])
        .await;
    assert_eq!(c.status, 200, "{}", c.body);
    assert_eq!(c.body["priority"], "important");
    assert_eq!(c.body["tags"], json!(["城关", "红绿灯"]));
    let r = app
        .send(
            Method::PUT,
            &format!("/api/v1/messages/{id}/classification"),
            Some(&liaison),
            Some(json!({"priority": "routine", "category_id": TRANSPORT})),
        )
        .await;
    r.assert_problem(428, "precondition-required");
    let a = act(&app, &liaison, id, "accept", 2, json!({"note": "予以受理"})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["status"], "accepted");
    assert!(a.body["accepted_at"].is_string());
    act(&app, &liaison, id, "accept", 3, json!({}))
        .await
        .assert_problem(409, "conflict");
    act(
        &app,
        &liaison,
        id,
        "reject",
        3,
        json!({"reason": "out_of_scope", "note": "x"}),
    )
    .await
    .assert_problem(409, "conflict");
    // Withdrawal after acceptance is too late.
    act(&app, &author, id, "withdraw", 3, json!({}))
        .await
        .assert_problem(409, "conflict");
}

#[actix_web::test]
async fn rejection_withdrawal_and_resubmission() {
    let app = TestApp::spawn().await;
    let author = app.token(Demo::Citizen).await;
    let liaison = lanzhou_liaison(&app).await;
    let original = submit(&app, &author, message_body("原始留言")).await;
    let dup = submit(&app, &author, message_body("重复留言")).await;
    let vague = submit(&app, &author, message_body("信息不全的留言")).await;
    let mine = submit(&app, &author, message_body("想撤回的留言")).await;

    // Duplicate needs the original.
    let r = act(
        &app,
        &liaison,
        dup["id"].as_str().unwrap(),
        "reject",
        1,
        json!({"reason": "duplicate", "note": "重复"}),
    )
    .await;
    assert_eq!(r.failing_fields(), vec!["duplicate_of"]);
    let r = act(
        &app,
        &liaison,
        dup["id"].as_str().unwrap(),
        "reject",
        1,
        json!({"reason": "duplicate", "note": "重复", "duplicate_of": original["id"]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["rejection"]["duplicate_of"], original["id"]);
    // A duplicate cannot be resubmitted.
    act(
        &app,
        &author,
        dup["id"].as_str().unwrap(),
        "resubmit",
        2,
        json!({}),
    )
    .await
    .assert_problem(409, "conflict");

    // Insufficient information: the author amends and resubmits; it is submitted again.
    let vid = vague["id"].as_str().unwrap();
    let r = act(
        &app,
        &liaison,
        vid,
        "reject",
        1,
        json!({"reason": "insufficient_information", "note": "请补充地点"}),
    )
    .await;
    assert_eq!(r.body["status"], "rejected");
    let other = other_citizen(&app).await;
    act(&app, &other, vid, "resubmit", 2, json!({}))
        .await
        .assert_problem(404, "not-found");
    let r = act(
        &app,
        &author,
        vid,
        "resubmit",
        2,
        json!({"body": "补充：地点在城关区庆阳路与酒泉路交叉口东北角。"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "submitted");
    assert_eq!(r.body["rejection"], Value::Null);
    assert!(r.body["body"].as_str().unwrap().starts_with("补充"));
    let found = app
        .get("/api/v1/messages?q=%E4%B8%9C%E5%8C%97%E8%A7%92", &liaison)
        .await;
    assert_eq!(
        found.body["items"].as_array().unwrap().len(),
        1,
        "search sees the amended text"
    );

    // Withdrawal: only the author, only before acceptance.
    let wid = mine["id"].as_str().unwrap();
    act(&app, &liaison, wid, "withdraw", 1, json!({}))
        .await
        .assert_problem(403, "forbidden");
    let r = act(
        &app,
        &author,
        wid,
        "withdraw",
        1,
        json!({"note": "问题已解决"}),
    )
    .await;
    assert_eq!(r.body["status"], "withdrawn");
    act(&app, &liaison, wid, "accept", 2, json!({}))
        .await
        .assert_problem(409, "conflict");
    let r = app
        .send_with(
            Method::PUT,
            &format!("/api/v1/messages/{wid}/classification"),
            Some(&liaison),
            Some(json!({"priority": "routine", "category_id": TRANSPORT})),
            &[("if-match", "\"2\"")],
        )
        .await;
    r.assert_problem(409, "conflict");
}

#[actix_web::test]
async fn submissions_are_idempotent() {
    let app = TestApp::spawn().await;
    let citizen = app.token(Demo::Citizen).await;
    let headers = [("idempotency-key", "submit-once-7")];
    let a = app
        .send_with(
            Method::POST,
            "/api/v1/messages",
            Some(&citizen),
            Some(message_body("只提交一次")),
            &headers,
        )
        .await;
    let b = app
        .send_with(
            Method::POST,
            "/api/v1/messages",
            Some(&citizen),
            Some(message_body("只提交一次")),
            &headers,
        )
        .await;
    assert_eq!((a.status.as_u16(), b.status.as_u16()), (201, 201));
    assert_eq!(b.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        a.body["message"]["tracking_no"],
        b.body["message"]["tracking_no"]
    );
    let list = app
        .get(
            "/api/v1/messages?mine=true&q=%E5%8F%AA%E6%8F%90%E4%BA%A4",
            &citizen,
        )
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn the_ledger_records_every_step_and_detects_tampering() {
    let app = TestApp::spawn().await;
    let author = app.token(Demo::Citizen).await;
    let liaison = lanzhou_liaison(&app).await;
    let m = submit(&app, &author, message_body("账本测试")).await;
    let id = m["id"].as_str().unwrap();
    let receipt_head = m["chain_head"].as_str().unwrap().to_owned();
    app.send_with(
        Method::PUT,
        &format!("/api/v1/messages/{id}/classification"),
        Some(&liaison),
        Some(json!({"priority": "routine", "category_id": TRANSPORT})),
        &[("if-match", "\"1\"")],
    )
    .await;
    act(&app, &liaison, id, "accept", 2, json!({"note": "受理"})).await;

    let events = app
        .get(&format!("/api/v1/messages/{id}/events"), &liaison)
        .await;
    assert_eq!(events.status, 200);
    let items = events.body["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["submit", "classify", "accept"]);
    assert_eq!(
        items[0]["hash"],
        receipt_head.as_str(),
        "the receipt is the first event's hash"
    );
    assert_eq!(items[1]["prev_hash"], items[0]["hash"]);
    assert_eq!(items[2]["from_status"], "submitted");
    assert_eq!(items[2]["to_status"], "accepted");
    assert!(items[2]["actor_id"].is_string(), "staff see who acted");
    let for_author = app
        .get(&format!("/api/v1/messages/{id}/events"), &author)
        .await;
    assert_eq!(
        for_author.body["items"][2]["actor_id"],
        Value::Null,
        "the citizen sees the role, not the person"
    );
    let page = app
        .get(&format!("/api/v1/messages/{id}/events?limit=2"), &liaison)
        .await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = app
        .get(
            &format!("/api/v1/messages/{id}/events?limit=2&cursor={cursor}"),
            &liaison,
        )
        .await;
    assert_eq!(rest.body["items"][0]["seq"], 3);

    let ok = app
        .get(&format!("/api/v1/messages/{id}/events/verify"), &author)
        .await;
    assert_eq!(ok.body["valid"], true, "{}", ok.body);
    assert_eq!(ok.body["events_checked"], 3);

    // The database refuses edits and deletes of the ledger: its own trigger says so (not, say,
    // a foreign key that happens to be in the way).
    use diesel::RunQueryDsl;
    let mut conn = app.db.connect();
    for (op, sql) in [
        (
            "UPDATE",
            format!("UPDATE message_events SET payload = '{{}}' WHERE message_id = '{id}'"),
        ),
        (
            "DELETE",
            format!("DELETE FROM message_events WHERE message_id = '{id}' AND seq = 3"),
        ),
        ("TRUNCATE", "TRUNCATE message_events CASCADE".to_owned()),
    ] {
        let err = diesel::sql_query(&sql)
            .execute(&mut conn)
            .expect_err(op)
            .to_string();
        assert!(
            err.contains(&format!(
                "message_events is append-only: {op} is not allowed"
            )),
            "{op}: {err}"
        );
    }

    // Behind the API's back (the table owner switches the guard off): verification says where
    // the chain breaks. A middle event edited: that event, though later ones still link to it.
    let guarded = |conn: &mut diesel::PgConnection, sql: &str| {
        diesel::sql_query(
            "ALTER TABLE message_events DISABLE TRIGGER message_events_no_update_delete",
        )
        .execute(conn)
        .unwrap();
        let n = diesel::sql_query(sql).execute(conn).unwrap();
        diesel::sql_query(
            "ALTER TABLE message_events ENABLE TRIGGER message_events_no_update_delete",
        )
        .execute(conn)
        .unwrap();
        assert_eq!(n, 1, "{sql}");
    };
    guarded(
        &mut conn,
        &format!(
            "UPDATE message_events SET payload = jsonb_set(payload, '{{note}}', '\"不予受理\"', true) WHERE message_id = '{id}' AND seq = 2"
        ),
    );
    let bad = app
        .get(&format!("/api/v1/messages/{id}/events/verify"), &liaison)
        .await;
    assert_eq!(bad.body["valid"], false, "{}", bad.body);
    assert_eq!(bad.body["broken_at_seq"], 2, "{}", bad.body);
    assert_eq!(
        bad.body["reason"], "the event's content does not match its hash",
        "{}",
        bad.body
    );
    // Another message's middle event deleted: the chain breaks at the event after the gap.
    let other = submit(&app, &author, message_body("账本删除测试")).await;
    let other = other["id"].as_str().unwrap();
    app.send_with(
        Method::PUT,
        &format!("/api/v1/messages/{other}/classification"),
        Some(&liaison),
        Some(json!({"priority": "routine", "category_id": TRANSPORT})),
        &[("if-match", "\"1\"")],
    )
    .await;
    act(&app, &liaison, other, "accept", 2, json!({"note": "受理"})).await;
    let ok = app
        .get(&format!("/api/v1/messages/{other}/events/verify"), &liaison)
        .await;
    assert_eq!(
        (ok.body["valid"].clone(), ok.body["events_checked"].clone()),
        (json!(true), json!(3)),
        "{}",
        ok.body
    );
    guarded(
        &mut conn,
        &format!("DELETE FROM message_events WHERE message_id = '{other}' AND seq = 2"),
    );
    let bad = app
        .get(&format!("/api/v1/messages/{other}/events/verify"), &liaison)
        .await;
    assert_eq!(bad.body["valid"], false, "{}", bad.body);
    assert_eq!(bad.body["broken_at_seq"], 3, "{}", bad.body);
    assert_eq!(
        bad.body["reason"], "an event is missing before this one",
        "{}",
        bad.body
    );
}

#[actix_web::test]
async fn search_filters_sorting_and_pagination() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let citizen = app.token(Demo::Citizen).await;
    // Chinese substring search.
    let mut b = message_body("路口红绿灯坏了");
    b["body"] = json!("这个路口的信号灯一直不亮，请有关部门尽快处理。");
    submit(&app, &citizen, b).await;
    let hits = app
        .get(
            "/api/v1/messages?q=%E7%BA%A2%E7%BB%BF%E7%81%AF&limit=100",
            &admin,
        )
        .await; // 红绿灯
    let titles: Vec<&str> = hits.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"路口红绿灯坏了"), "{titles:?}");
    for m in hits.body["items"].as_array().unwrap() {
        let text = format!(
            "{}{}",
            m["title"].as_str().unwrap(),
            m["body"].as_str().unwrap()
        );
        assert!(
            text.contains("红绿灯"),
            "every hit contains the text: {text}"
        );
    }
    let none = app
        .get("/api/v1/messages?q=%E9%9D%92%E6%B5%B7%E6%B9%96", &admin)
        .await; // 青海湖
    assert_eq!(none.body["items"].as_array().unwrap().len(), 0);
    app.get("/api/v1/messages?q=%E7%81%AF", &admin)
        .await
        .assert_problem(422, "validation-failed"); // one char

    // Filters against the seeded messages.
    let count = |r: &Resp| r.body["items"].as_array().unwrap().len();
    let accepted = app
        .get("/api/v1/messages?status=accepted&limit=100", &admin)
        .await;
    assert_eq!(count(&accepted), 4);
    assert!(
        accepted.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["status"] == "accepted")
    );
    let important = app
        .get("/api/v1/messages?priority=important&limit=100", &admin)
        .await;
    assert_eq!(count(&important), 3);
    let tianshui = app
        .get("/api/v1/messages?region_code=620500&limit=100", &admin)
        .await;
    assert_eq!(count(&tianshui), 1);
    let to_mayor = app
        .get(
            &format!("/api/v1/messages?leader_id={}&limit=100", leader("孙海洋")),
            &admin,
        )
        .await;
    assert_eq!(count(&to_mayor), 5);
    let lanzhou_office = app
        .get(
            &format!(
                "/api/v1/messages?unit_id={}&limit=100",
                unit("兰州市领导留言办理工作办公室")
            ),
            &admin,
        )
        .await;
    assert_eq!(count(&lanzhou_office), 6);
    let transport = app
        .get(
            &format!("/api/v1/messages?category_id={TRANSPORT}&status=accepted"),
            &admin,
        )
        .await;
    assert_eq!(count(&transport), 2);
    let kinds = app.get("/api/v1/messages?kind=consultation", &admin).await;
    assert_eq!(count(&kinds), 3);
    let future = app
        .get(
            "/api/v1/messages?submitted_from=2100-01-01T00:00:00Z",
            &admin,
        )
        .await;
    assert_eq!(count(&future), 0);
    let past = app
        .get("/api/v1/messages?submitted_to=2000-01-01T00:00:00Z", &admin)
        .await;
    assert_eq!(count(&past), 0);
    app.get("/api/v1/messages?submitted_from=yesterday", &admin)
        .await
        .assert_problem(422, "validation-failed");

    // Keyset pages cover everything once, newest first, in both sort orders.
    for sort in ["submitted_at", "last_activity_at"] {
        let mut seen: Vec<String> = Vec::new();
        let mut times: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/messages?sort={sort}&limit=3&cursor={c}"),
                None => format!("/api/v1/messages?sort={sort}&limit=3"),
            };
            let r = app.get(&path, &admin).await;
            for m in r.body["items"].as_array().unwrap() {
                seen.push(m["id"].as_str().unwrap().to_owned());
                times.push(m[sort].as_str().unwrap().to_owned());
            }
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "no duplicates across pages");
        assert_eq!(seen.len(), liuyan::seed::MESSAGES.len() + 1);
        let mut sorted = times.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(times, sorted, "newest first by {sort}");
    }
}
