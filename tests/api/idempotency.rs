//! Idempotency-Key on POSTs.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Demo, TestApp};

fn unit_body(name: &str) -> serde_json::Value {
    json!({"name": name, "kind": "department", "region_code": "620100"})
}

#[actix_web::test]
async fn a_replay_returns_the_stored_response_and_creates_nothing_new() {
    let app = TestApp::spawn().await;
    let token = app.token(Demo::Admin).await;
    let key = uuid::Uuid::new_v4().to_string();
    let headers = [("idempotency-key", key.as_str())];
    let first = app
        .send_with(
            Method::POST,
            "/api/v1/units",
            Some(&token),
            Some(unit_body("兰州市水务局")),
            &headers,
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert!(first.header("idempotent-replayed").is_none());
    let second = app
        .send_with(
            Method::POST,
            "/api/v1/units",
            Some(&token),
            Some(unit_body("兰州市水务局")),
            &headers,
        )
        .await;
    assert_eq!(second.status, 201);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.body, first.body, "same body");
    assert_eq!(second.header("location"), first.header("location"));
    assert_eq!(second.header("etag"), first.header("etag"));
    let list = app.get("/api/v1/units?q=水务局", &token).await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        1,
        "created once"
    );
}

#[actix_web::test]
async fn the_same_key_with_another_body_is_422() {
    let app = TestApp::spawn().await;
    let token = app.token(Demo::Admin).await;
    let headers = [("idempotency-key", "key-1")];
    let r = app
        .send_with(
            Method::POST,
            "/api/v1/units",
            Some(&token),
            Some(unit_body("兰州市水务局")),
            &headers,
        )
        .await;
    assert_eq!(r.status, 201);
    let r = app
        .send_with(
            Method::POST,
            "/api/v1/units",
            Some(&token),
            Some(unit_body("兰州市林业局")),
            &headers,
        )
        .await;
    r.assert_problem(422, "idempotency-key-reused");
    let list = app.get("/api/v1/units?q=林业局", &token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 0);
}

#[actix_web::test]
async fn keys_are_scoped_per_client() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    // The same key from two different accounts does not collide.
    let headers = [("idempotency-key", "shared-key")];
    let r = app
        .send_with(
            Method::POST,
            "/api/v1/units",
            Some(&admin),
            Some(unit_body("兰州市水务局")),
            &headers,
        )
        .await;
    assert_eq!(r.status, 201);
    let unit_admin = app.token(Demo::UnitAdmin).await;
    let unit = crate::helpers::unit("兰州市交通运输局");
    let body = json!({"email": "new.handler@example.cn", "password": "a long password", "display_name": "新人",
        "role": "handler", "unit_id": unit});
    let r = app
        .send_with(
            Method::POST,
            "/api/v1/users",
            Some(&unit_admin),
            Some(body),
            &headers,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.header("idempotent-replayed").is_none());
}

#[actix_web::test]
async fn a_failed_request_releases_its_key() {
    let app = TestApp::spawn().await;
    let token = app.token(Demo::Admin).await;
    let headers = [("idempotency-key", "retry-me")];
    let bad = json!({"name": "兰州市水务局", "kind": "department", "region_code": "999999"});
    let r = app
        .send_with(
            Method::POST,
            "/api/v1/units",
            Some(&token),
            Some(bad),
            &headers,
        )
        .await;
    assert_eq!(r.status, 422);
    // The corrected request with the same key... is a different body, so it is judged afresh,
    // and the same failing body can be retried too (the failure changed nothing).
    let r = app
        .send_with(
            Method::POST,
            "/api/v1/units",
            Some(&token),
            Some(unit_body("兰州市水务局")),
            &headers,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[actix_web::test]
async fn a_key_still_in_flight_is_409() {
    let app = TestApp::spawn().await;
    let token = app.token(Demo::Admin).await;
    // Simulate a first request that is still running: its claim row exists without a response.
    let me = app.get("/api/v1/me", &token).await;
    let scope = format!("user:{}", me.body["id"].as_str().unwrap());
    let fingerprint = {
        use sha2::{Digest, Sha256};
        let body = serde_json::to_vec(&unit_body("兰州市水务局")).unwrap();
        let mut h = Sha256::new();
        h.update(b"POST\0/api/v1/units\0\0");
        h.update(&body);
        h.finalize().to_vec()
    };
    let mut conn = app.db.connect();
    liuyan::store::idempotency::claim(
        &mut conn,
        &scope,
        "busy-key",
        "POST",
        "/api/v1/units",
        &fingerprint,
    )
    .unwrap();
    let headers = [("idempotency-key", "busy-key")];
    let r = app
        .send_with(
            Method::POST,
            "/api/v1/units",
            Some(&token),
            Some(unit_body("兰州市水务局")),
            &headers,
        )
        .await;
    r.assert_problem(409, "idempotency-key-in-use");
}

#[actix_web::test]
async fn malformed_keys_are_422() {
    let app = TestApp::spawn().await;
    let token = app.token(Demo::Admin).await;
    let long = "k".repeat(300);
    let r = app
        .send_with(
            Method::POST,
            "/api/v1/units",
            Some(&token),
            Some(unit_body("兰州市水务局")),
            &[("idempotency-key", long.as_str())],
        )
        .await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.failing_fields(), vec!["Idempotency-Key"]);
}

#[actix_web::test]
async fn anonymous_registration_is_idempotent_too() {
    let app = TestApp::spawn().await;
    let body =
        json!({"email": "once@example.cn", "password": "a long password", "display_name": "一次"});
    let headers = [("idempotency-key", "register-once")];
    let a = app
        .send_with(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(body.clone()),
            &headers,
        )
        .await;
    let b = app
        .send_with(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(body),
            &headers,
        )
        .await;
    assert_eq!(a.status, 201);
    assert_eq!(b.status, 201);
    assert_eq!(b.header("idempotent-replayed"), Some("true"));
    assert_eq!(a.body["id"], b.body["id"]);
}
