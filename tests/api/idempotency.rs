//! Idempotency-Key on POSTs.

use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection;
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
    // Simulate a first request that is still running: its transaction holds the key's lock.
    let me = app.get("/api/v1/me", &token).await;
    let scope = format!("user:{}", me.body["id"].as_str().unwrap());
    let mut conn = app.db.connect();
    conn.batch_execute("BEGIN").unwrap();
    assert!(liuyan::store::idempotency::lock_key(&mut conn, &scope, "busy-key").unwrap());
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
    // The first one ends without an answer (its process died): the key is free at once.
    conn.batch_execute("ROLLBACK").unwrap();
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
    assert!(r.header("idempotent-replayed").is_none());
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn messages_titled(app: &TestApp, title: &str) -> i64 {
    diesel::sql_query("SELECT count(*) AS n FROM messages WHERE title = $1")
        .bind::<diesel::sql_types::Text, _>(title)
        .get_result::<Count>(&mut app.db.connect())
        .unwrap()
        .n
}

/// Issue 26, item 1: the work and the key's outcome commit together. The outcome is made to
/// fail to record (what a crash between the two did: the key never learnt of the work); the
/// client must then not have been told of a success, and the retry must not do the work twice.
#[actix_web::test]
async fn the_outcome_commits_in_the_transaction_of_the_work() {
    let app = TestApp::spawn().await;
    let citizen = app.token(Demo::Citizen).await;
    let mut conn = app.db.connect();
    conn.batch_execute(
        "CREATE FUNCTION no_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.status_code IS NOT NULL THEN RAISE EXCEPTION 'crashed before the outcome'; END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER no_outcome BEFORE INSERT OR UPDATE ON idempotency_keys
           FOR EACH ROW EXECUTE FUNCTION no_outcome();",
    )
    .unwrap();
    let title = "庆阳路红绿灯不亮（一次）";
    let headers = [("idempotency-key", "crash-once")];
    let body = crate::messages::message_body(title);
    let first = app
        .send_with(
            Method::POST,
            "/api/v1/messages",
            Some(&citizen),
            Some(body.clone()),
            &headers,
        )
        .await;
    assert!(
        !first.status.is_success(),
        "a success whose key did not record it: {} {}",
        first.status,
        first.body
    );
    assert_eq!(
        messages_titled(&app, title),
        0,
        "the work rolled back with its outcome"
    );
    conn.batch_execute("DROP TRIGGER no_outcome ON idempotency_keys")
        .unwrap();
    let retry = app
        .send_with(
            Method::POST,
            "/api/v1/messages",
            Some(&citizen),
            Some(body.clone()),
            &headers,
        )
        .await;
    assert_eq!(retry.status, 201, "{}", retry.body);
    let again = app
        .send_with(
            Method::POST,
            "/api/v1/messages",
            Some(&citizen),
            Some(body),
            &headers,
        )
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["id"], retry.body["id"]);
    assert_eq!(messages_titled(&app, title), 1);
}

/// Issue 26, item 2: a request that runs long keeps its key however long it runs. The old
/// 60-second lease is played out by moving it into the past while the request waits on a row
/// lock (what 62 s did): a retry must still get 409, and only one message may exist.
#[actix_web::test]
async fn a_slow_request_keeps_its_key() {
    let app = TestApp::spawn().await;
    let citizen = app.token(Demo::Citizen).await;
    let title = "庆阳路红绿灯不亮（慢）";
    let body = crate::messages::message_body(title);
    // The message's insert checks its leader (FOR KEY SHARE): hold that row.
    let mut locker = app.db.connect();
    locker
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM leaders WHERE id = '{}' FOR UPDATE",
            crate::messages::leader("孙海洋")
        ))
        .unwrap();
    let post = |app: &TestApp| {
        let (base, client, token, body) = (
            app.base.clone(),
            app.client.clone(),
            citizen.clone(),
            body.clone(),
        );
        async move {
            let r = client
                .post(format!("{base}/api/v1/messages"))
                .bearer_auth(token)
                .header("idempotency-key", "slow-key")
                .json(&body)
                .send()
                .await
                .unwrap();
            let replayed = r.headers().get("idempotent-replayed").is_some();
            (r.status().as_u16(), replayed, r.text().await.unwrap())
        }
    };
    let first = actix_web::rt::spawn(post(&app));
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    // The lease of a claim row, if the request has one, runs out.
    diesel::sql_query(
        "UPDATE idempotency_keys SET locked_until = now() - interval '1 second' WHERE key = 'slow-key'",
    )
    .execute(&mut app.db.connect())
    .unwrap();
    let retry = actix_web::rt::spawn(post(&app));
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    locker.batch_execute("COMMIT").unwrap();
    let (first, retry) = (first.await.unwrap(), retry.await.unwrap());
    assert_eq!(first.0, 201, "{}", first.2);
    assert_eq!(
        retry.0, 409,
        "the retry took the running request's key: {}",
        retry.2
    );
    assert!(retry.2.contains("idempotency-key-in-use"), "{}", retry.2);
    assert_eq!(messages_titled(&app, title), 1);
    // Once it has answered, the retry gets that answer.
    let (status, replayed, text) = post(&app).await;
    assert_eq!((status, replayed), (201, true), "{text}");
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
