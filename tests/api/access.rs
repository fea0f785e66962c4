//! The access model (issue 17): who sees which messages and which of their fields, and which
//! role may call which operation — checked before anything else about a request.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Demo, TestApp};

/// Before: a citizen sending an incomplete body to `POST /units` got 422 describing the
/// admin-only schema. The role is checked before the body is read: 403 whatever is sent (401
/// without a token), and the idempotency key of a refused request is not claimed.
#[actix_web::test]
async fn the_role_is_checked_before_the_body_is_read() {
    let app = TestApp::spawn().await;
    let citizen = app.token(Demo::Citizen).await;
    for body in [json!({}), json!({"name": 1}), json!("not an object")] {
        let r = app.post("/api/v1/units", &citizen, body.clone()).await;
        r.assert_problem(403, "forbidden");
        let r = app
            .send(Method::POST, "/api/v1/units", None, Some(body))
            .await;
        r.assert_problem(401, "unauthorized");
    }
    // Not even a malformed body or a wrong content type gets past the role check.
    let r = app
        .client
        .post(app.url("/api/v1/units"))
        .bearer_auth(&citizen)
        .header("content-type", "text/plain")
        .body("{{{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A refused keyed request leaves its key free: the same key then works for a permitted call.
    let key = [("idempotency-key", "role-first-1")];
    let r = app
        .send_with(
            Method::POST,
            "/api/v1/units",
            Some(&citizen),
            Some(json!({})),
            &key,
        )
        .await;
    r.assert_problem(403, "forbidden");
    let mut conn = app.db.connect();
    use diesel::RunQueryDsl;
    let n: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "SELECT count(*) FROM idempotency_keys WHERE key = 'role-first-1'",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(n, 0, "no key is claimed for a refused call");
}

/// Before: leader and analyst accounts without a region scope were accepted and then got
/// contradictory answers (every unit's assessments, 403 on statistics). Region roles are placed
/// when created: a leader takes its leader record's region; none without a region.
#[actix_web::test]
async fn region_roles_are_placed_when_created() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let leader_id = crate::messages::leader("吴建平"); // 天水市 (620500)
    let body = |email: &str, role: &str| json!({"email": email, "password": "a long password", "display_name": "某", "role": role});
    for role in ["leader", "analyst", "supervisor"] {
        let r = app
            .post("/api/v1/users", &admin, body(&format!("{role}@x.cn"), role))
            .await;
        r.assert_problem(422, "validation-failed");
        assert_eq!(r.failing_fields(), vec!["scope_region_code"], "{role}");
    }
    // A linked leader takes the record's region...
    let mut linked = body("ts.leader@x.cn", "leader");
    linked["leader_id"] = json!(leader_id);
    let r = app.post("/api/v1/users", &admin, linked.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["scope_region_code"], "620500");
    // ...and no other.
    let mut wrong = linked.clone();
    wrong["email"] = json!("ts.leader2@x.cn");
    wrong["scope_region_code"] = json!("620100");
    let r = app.post("/api/v1/users", &admin, wrong).await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.failing_fields(), vec!["scope_region_code"]);
    // Such a leader reads its region's statistics and briefings (403 before for want of a scope).
    let token = app.login("ts.leader@x.cn", "a long password").await;
    let r = app
        .get(
            "/api/v1/statistics/summary?from=2026-01-01&to=2026-12-31",
            &token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["scope"]["region_code"], "620500");
    assert_eq!(app.get("/api/v1/briefings", &token).await.status, 200);

    // An account from before the rule, without a scope, sees no unit's assessments (it saw all).
    let mut conn = app.db.connect();
    use diesel::RunQueryDsl;
    diesel::sql_query(
        "UPDATE users SET scope_region_code = NULL WHERE email = 'analyst@liuyan.example'",
    )
    .execute(&mut conn)
    .unwrap();
    let analyst = app.token(Demo::Analyst).await;
    let r = app.get("/api/v1/assessments?year=2026", &analyst).await;
    r.assert_problem(403, "forbidden");
}

/// Submit (as `citizen`), classify and accept a message to the mayor of 兰州; returns its id.
async fn accepted_message(
    app: &TestApp,
    liaison: &str,
    citizen: &str,
    visibility: &str,
    body: &str,
) -> String {
    let mut m = crate::messages::message_body("路灯不亮");
    m["visibility"] = json!(visibility);
    m["body"] = json!(body);
    let m = crate::messages::submit(app, citizen, m).await;
    let id = m["id"].as_str().unwrap().to_owned();
    let r = app
        .send_with(
            Method::PUT,
            &format!("/api/v1/messages/{id}/classification"),
            Some(liaison),
            Some(json!({"priority": "routine", "category_id": "01930000-0000-7000-8000-000000000002"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = crate::handling::post_with(
        app,
        &format!("/api/v1/messages/{id}/accept"),
        liaison,
        json!({}),
        "\"2\"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    id
}

/// Before: `?claimable=true` gave a provincial department's handler every accepted, unassigned
/// message of the province, private ones with their full body, `author_id`, address and GPS
/// position. Now claiming is for public messages, shown in their public projection.
#[actix_web::test]
async fn the_claimable_list_shows_public_messages_without_personal_data() {
    let app = TestApp::spawn().await;
    let citizen = app.token(Demo::Citizen).await;
    let liaison = crate::messages::lanzhou_liaison(&app).await;
    let private = accepted_message(
        &app,
        &liaison,
        &citizen,
        "private",
        "私密投诉，我的电话13912345678，请勿公开。",
    )
    .await;
    let public = accepted_message(
        &app,
        &liaison,
        &citizen,
        "public",
        "路灯坏了很久，我的电话13912345678。",
    )
    .await;
    let dept = crate::messages::staff(&app, "dept@x.cn", "handler", "甘肃省交通运输厅").await;
    let r = app
        .get("/api/v1/messages?claimable=true&limit=100", &dept)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.body["items"].as_array().unwrap();
    assert!(
        items.iter().all(|m| m["id"] != private),
        "a private message is not claimable"
    );
    let shown = items
        .iter()
        .find(|m| m["id"] == public)
        .expect("the public one is");
    for field in [
        "author_id",
        "address",
        "location",
        "contact",
        "intake_unit_id",
    ] {
        assert!(shown[field].is_null(), "{field}: {shown}");
    }
    let text = shown.to_string();
    assert!(!text.contains("13912345678"), "{text}");
    assert!(
        !text.contains("id-card.jpg"),
        "private attachments stay private: {text}"
    );
    // Claiming the private one is 404, as reading it is.
    let r = app
        .post(
            &format!("/api/v1/messages/{private}/claims"),
            &dept,
            json!({"note": "认领"}),
        )
        .await;
    r.assert_problem(404, "not-found");
}

/// Before: a second citizen got `我的电话13912345678` reading a public message by id, by tracking
/// number or through a search, while the anonymous board masked it.
#[actix_web::test]
async fn logged_in_strangers_get_the_boards_masking() {
    let app = TestApp::spawn().await;
    let author = app.token(Demo::Citizen).await;
    let liaison = crate::messages::lanzhou_liaison(&app).await;
    let id = accepted_message(
        &app,
        &liaison,
        &author,
        "public",
        "路灯坏了很久，我的电话13912345678，身份证620102199001011234。",
    )
    .await;
    let other = crate::messages::other_citizen(&app).await;
    let m = app.get(&format!("/api/v1/messages/{id}"), &other).await;
    assert_eq!(m.status, 200, "{}", m.body);
    let tracking = m.body["tracking_no"].as_str().unwrap().to_owned();
    let reads = [
        m.body.clone(),
        app.get(&format!("/api/v1/tracking/{tracking}"), &other)
            .await
            .body,
        app.get("/api/v1/messages?q=%E8%B7%AF%E7%81%AF&limit=100", &other)
            .await
            .body,
    ];
    for read in &reads {
        let text = read.to_string();
        assert!(text.contains("路灯"), "{text}");
        assert!(!text.contains("13912345678"), "{text}");
        assert!(!text.contains("620102199001011234"), "{text}");
    }
    // The author still reads what they wrote.
    let own = app.get(&format!("/api/v1/messages/{id}"), &author).await;
    assert!(own.body["body"].as_str().unwrap().contains("13912345678"));
}
