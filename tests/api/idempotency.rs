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

/// The same key, path and body from two accounts are two requests: each creates its message.
/// (Keys scoped by path or by body alone would replay the first account's answer to the second.)
#[actix_web::test]
async fn keys_are_scoped_per_client() {
    let app = TestApp::spawn().await;
    let a = app.token(Demo::Citizen).await;
    let b = crate::messages::other_citizen(&app).await;
    let title = "庆阳路红绿灯不亮（两个账户）";
    let body = crate::messages::message_body(title);
    let headers = [("idempotency-key", "shared-key")];
    let mut ids = Vec::new();
    for token in [&a, &b] {
        let r = app
            .send_with(
                Method::POST,
                "/api/v1/messages",
                Some(token),
                Some(body.clone()),
                &headers,
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert!(r.header("idempotent-replayed").is_none(), "{}", r.body);
        ids.push(r.body["message"]["id"].as_str().unwrap().to_owned());
    }
    assert_ne!(ids[0], ids[1], "two resources");
    assert_eq!(messages_titled(&app, title), 2);
    // Each account's retry replays its own answer.
    for (token, id) in [&a, &b].into_iter().zip(&ids) {
        let r = app
            .send_with(
                Method::POST,
                "/api/v1/messages",
                Some(token),
                Some(body.clone()),
                &headers,
            )
            .await;
        assert_eq!(r.header("idempotent-replayed"), Some("true"));
        assert_eq!(r.body["message"]["id"], id.as_str());
    }
    assert_eq!(messages_titled(&app, title), 2);
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

/// Advisory locks held in the app's database: a request with a key holds one while it runs.
fn advisory_locks(app: &TestApp) -> i64 {
    diesel::sql_query(
        "SELECT count(*) AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
         WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()",
    )
    .get_result::<Count>(&mut app.db.connect())
    .unwrap()
    .n
}

/// Wait (up to 10 s) until a request holds its key's lock.
async fn until_a_key_is_held(app: &TestApp) {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while advisory_locks(app) == 0 {
        assert!(
            std::time::Instant::now() < give_up,
            "the first request never took its key"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A POST of a message as `token` with `key`, from a spawned task: (status, replayed, body).
fn post_message(
    app: &TestApp,
    token: &str,
    key: &'static str,
    body: &serde_json::Value,
) -> impl std::future::Future<Output = (u16, bool, String)> + 'static {
    let (base, client, token, body) = (
        app.base.clone(),
        app.client.clone(),
        token.to_owned(),
        body.clone(),
    );
    async move {
        let r = client
            .post(format!("{base}/api/v1/messages"))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let replayed = r.headers().get("idempotent-replayed").is_some();
        (r.status().as_u16(), replayed, r.text().await.unwrap())
    }
}

/// The answer to a request that must not wait for the one in flight (which waits for the test).
async fn answered_at_once<T>(request: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(5), request)
        .await
        .expect("answered at once, not after the request in flight")
}

/// Hold the mayor's row: a message's insert checks its leader (FOR KEY SHARE), so a request
/// submitting to the mayor waits, in flight, until this transaction ends.
fn hold_the_mayor(app: &TestApp) -> diesel::PgConnection {
    let mut locker = app.db.connect();
    locker
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM leaders WHERE id = '{}' FOR UPDATE",
            crate::messages::leader("孙海洋")
        ))
        .unwrap();
    locker
}

/// A real first request, held in flight: the second with its key is 409, at once; once the
/// first has answered, the key replays its answer.
#[actix_web::test]
async fn a_key_still_in_flight_is_409() {
    let app = TestApp::spawn().await;
    let citizen = app.token(Demo::Citizen).await;
    let title = "庆阳路红绿灯不亮（进行中）";
    let body = crate::messages::message_body(title);
    let mut locker = hold_the_mayor(&app);
    assert_eq!(advisory_locks(&app), 0);
    let first = actix_web::rt::spawn(post_message(&app, &citizen, "busy-key", &body));
    until_a_key_is_held(&app).await;
    let (status, replayed, text) =
        answered_at_once(post_message(&app, &citizen, "busy-key", &body)).await;
    assert_eq!((status, replayed), (409, false), "{text}");
    assert!(text.contains("idempotency-key-in-use"), "{text}");
    assert!(
        !first.is_finished(),
        "the first request was in flight all along"
    );
    locker.batch_execute("COMMIT").unwrap();
    let (status, replayed, text) = first.await.unwrap();
    assert_eq!((status, replayed), (201, false), "{text}");
    let (status, replayed, again) = post_message(&app, &citizen, "busy-key", &body).await;
    assert_eq!((status, replayed), (201, true), "{again}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&again).unwrap()["message"]["id"],
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["message"]["id"]
    );
    assert_eq!(messages_titled(&app, title), 1);
}

/// A holder of the key that ends without an answer (its process died: PostgreSQL ends its
/// transaction) frees the key at once.
#[actix_web::test]
async fn a_key_whose_holder_ends_without_an_answer_is_free_at_once() {
    let app = TestApp::spawn().await;
    let token = app.token(Demo::Admin).await;
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
    let mut locker = hold_the_mayor(&app);
    let first = actix_web::rt::spawn(post_message(&app, &citizen, "slow-key", &body));
    until_a_key_is_held(&app).await;
    // The lease of a claim row, if the request has one, runs out.
    diesel::sql_query(
        "UPDATE idempotency_keys SET locked_until = now() - interval '1 second' WHERE key = 'slow-key'",
    )
    .execute(&mut app.db.connect())
    .unwrap();
    let retry = answered_at_once(post_message(&app, &citizen, "slow-key", &body)).await;
    assert!(!first.is_finished(), "the first request is still running");
    locker.batch_execute("COMMIT").unwrap();
    let first = first.await.unwrap();
    assert_eq!(first.0, 201, "{}", first.2);
    assert_eq!(
        retry.0, 409,
        "the retry took the running request's key: {}",
        retry.2
    );
    assert!(retry.2.contains("idempotency-key-in-use"), "{}", retry.2);
    assert_eq!(messages_titled(&app, title), 1);
    // Once it has answered, the retry gets that answer.
    let (status, replayed, text) = post_message(&app, &citizen, "slow-key", &body).await;
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

fn key_rows(app: &TestApp, condition: &str) -> i64 {
    diesel::sql_query(format!(
        "SELECT count(*) AS n FROM idempotency_keys WHERE {condition}"
    ))
    .get_result::<Count>(&mut app.db.connect())
    .unwrap()
    .n
}

/// Keys are kept 24 hours: housekeeping (which runs when a process starts, then every ten
/// minutes) forgets a key older than that, and its next use runs afresh; a younger one replays.
#[actix_web::test]
async fn keys_are_kept_24_hours_then_forgotten() {
    let app = TestApp::spawn().await;
    let citizen = app.token(Demo::Citizen).await;
    let mut ids = std::collections::HashMap::new();
    for key in ["old-key", "young-key"] {
        let (status, _, text) =
            post_message(&app, &citizen, key, &crate::messages::message_body(key)).await;
        assert_eq!(status, 201, "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        ids.insert(key, v["message"]["id"].as_str().unwrap().to_owned());
    }
    diesel::sql_query(
        "UPDATE idempotency_keys SET created_at = now() - CASE key \
             WHEN 'old-key' THEN interval '24 hours 5 minutes' ELSE interval '23 hours 55 minutes' END \
         WHERE key IN ('old-key', 'young-key')",
    )
    .execute(&mut app.db.connect())
    .unwrap();
    // A replica starting now runs its housekeeping at once.
    let replica = app.replica(crate::helpers::test_settings()).await;
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while key_rows(&app, "key = 'old-key'") > 0 {
        assert!(
            std::time::Instant::now() < give_up,
            "housekeeping never forgot the old key"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(key_rows(&app, "key = 'young-key'"), 1, "kept under 24 h");
    let (status, replayed, text) = post_message(
        &replica,
        &citizen,
        "young-key",
        &crate::messages::message_body("young-key"),
    )
    .await;
    assert_eq!((status, replayed), (201, true), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["message"]["id"], ids["young-key"].as_str());
    let (status, replayed, text) = post_message(
        &replica,
        &citizen,
        "old-key",
        &crate::messages::message_body("old-key"),
    )
    .await;
    assert_eq!((status, replayed), (201, false), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_ne!(v["message"]["id"], ids["old-key"].as_str(), "runs afresh");
    assert_eq!(messages_titled(&app, "old-key"), 2);
}

/// The token endpoints hand out secrets: never stored, never replayed, even with a key and a
/// bearer token (a client that sends both on every request).
#[actix_web::test]
async fn token_endpoints_ignore_idempotency_keys() {
    let app = TestApp::spawn().await;
    let login = json!({"grant_type": "password", "email": Demo::Citizen.email(), "password": "Demo-Citizen-2026"});
    let first = app
        .send(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(login.clone()),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let bearer = first.body["access_token"].as_str().unwrap().to_owned();
    let headers = [("idempotency-key", "token-key")];
    let mut refresh_tokens = Vec::new();
    for _ in 0..2 {
        let r = app
            .send_with(
                Method::POST,
                "/api/v1/auth/token",
                Some(&bearer),
                Some(login.clone()),
                &headers,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.header("idempotent-replayed").is_none());
        refresh_tokens.push(r.body["refresh_token"].as_str().unwrap().to_owned());
    }
    assert_ne!(refresh_tokens[0], refresh_tokens[1], "two logins");
    // Refreshing twice with one refresh token and one key: the second is the reuse of a used
    // refresh token (401), not the first answer again.
    let refresh = json!({"refresh_token": refresh_tokens[0]});
    let headers = [("idempotency-key", "refresh-key")];
    let r = app
        .send_with(
            Method::POST,
            "/api/v1/auth/refresh",
            Some(&bearer),
            Some(refresh.clone()),
            &headers,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .send_with(
            Method::POST,
            "/api/v1/auth/refresh",
            Some(&bearer),
            Some(refresh),
            &headers,
        )
        .await;
    assert!(r.header("idempotent-replayed").is_none());
    r.assert_problem(401, "unauthorized");
    let r = app
        .send_with(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&bearer),
            Some(json!({"refresh_token": refresh_tokens[1]})),
            &[("idempotency-key", "logout-key")],
        )
        .await;
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
    assert_eq!(
        key_rows(&app, "path LIKE '/api/v1/auth/%'"),
        0,
        "nothing stored"
    );
}
