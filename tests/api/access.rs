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
