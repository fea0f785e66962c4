//! Revocation of access tokens before they expire: deactivating an account or an integration
//! client, logging out and replaying a used refresh token void the tokens concerned within a
//! couple of seconds, on every replica, and leave everybody else's alone.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Demo, Resp, TestApp, test_settings};
use crate::webhooks::{client, switch_client};

/// How long a revocation may take to reach a replica.
const WITHIN: Duration = Duration::from_secs(2);

/// Poll `path` with `token` until it answers 401 (it must answer `ok` until then); fails after
/// `WITHIN`. Returns the 401.
async fn rejected_soon(app: &TestApp, path: &str, token: &str, ok: u16) -> Resp {
    let start = Instant::now();
    loop {
        let r = app.get(path, token).await;
        if r.status == 401 {
            r.assert_problem(401, "unauthorized");
            assert!(r.header("www-authenticate").is_some());
            return r;
        }
        assert_eq!(r.status.as_u16(), ok, "{}", r.body);
        assert!(
            start.elapsed() < WITHIN,
            "the token still works {WITHIN:?} after its revocation"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn me_id(app: &TestApp, token: &str) -> String {
    let me = app.get("/api/v1/me", token).await;
    assert_eq!(me.status, 200, "{}", me.body);
    me.body["id"].as_str().unwrap().to_owned()
}

async fn login(app: &TestApp, who: Demo) -> Value {
    let u = liuyan::seed::USERS
        .iter()
        .find(|u| u.email == who.email())
        .unwrap();
    let r = app.login_response(u.email, u.password).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

async fn post_refresh(app: &TestApp, rt: &Value) -> Resp {
    app.send(
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({ "refresh_token": rt })),
    )
    .await
}

#[actix_web::test]
async fn deactivating_an_account_voids_its_access_tokens_within_seconds() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let analyst = app.token(Demo::Analyst).await;
    let second_login = app.token(Demo::Analyst).await;
    let citizen = app.token(Demo::Citizen).await;
    let id = me_id(&app, &analyst).await;
    let r = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = rejected_soon(&app, "/api/v1/me", &analyst, 200).await;
    assert_eq!(r.body["detail"], "the access token has been revoked");
    // Every login of the account, not only one.
    app.get("/api/v1/me", &second_login)
        .await
        .assert_problem(401, "unauthorized");
    // Other accounts are not affected.
    assert_eq!(app.get("/api/v1/me", &citizen).await.status, 200);
    assert_eq!(app.get("/api/v1/me", &admin).await.status, 200);

    // Reactivated: a new login works at once; the old tokens stay void.
    let r = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"active": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh = app.token(Demo::Analyst).await;
    assert_eq!(app.get("/api/v1/me", &fresh).await.status, 200);
    assert_eq!(app.get("/api/v1/me", &analyst).await.status, 401);
}

#[actix_web::test]
async fn a_new_password_voids_the_access_tokens_issued_before_it() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let reviewer = app.token(Demo::Reviewer).await;
    let id = me_id(&app, &reviewer).await;
    let r = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"password": "a brand new password"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    rejected_soon(&app, "/api/v1/me", &reviewer, 200).await;
    let fresh = app
        .login("reviewer@liuyan.example", "a brand new password")
        .await;
    assert_eq!(app.get("/api/v1/me", &fresh).await.status, 200);
}

#[actix_web::test]
async fn logout_voids_the_access_tokens_of_that_login_only() {
    let app = TestApp::spawn().await;
    let first = login(&app, Demo::Handler).await;
    let other = login(&app, Demo::Handler).await;
    let access = first["access_token"].as_str().unwrap().to_owned();
    // A token of the same login, rotated once: also void after the logout.
    let rotated = post_refresh(&app, &first["refresh_token"]).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let rotated_access = rotated.body["access_token"].as_str().unwrap().to_owned();
    let r = app
        .send(
            Method::POST,
            "/api/v1/auth/logout",
            None,
            Some(json!({"refresh_token": rotated.body["refresh_token"]})),
        )
        .await;
    assert_eq!(r.status, 204);
    rejected_soon(&app, "/api/v1/me", &access, 200).await;
    rejected_soon(&app, "/api/v1/me", &rotated_access, 200).await;
    // The same account's other login keeps working.
    let other_access = other["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/me", other_access).await.status, 200);
    assert_eq!(
        post_refresh(&app, &other["refresh_token"]).await.status,
        200
    );
}

#[actix_web::test]
async fn a_replayed_refresh_token_voids_the_access_tokens_of_its_login() {
    let app = TestApp::spawn().await;
    let stolen = login(&app, Demo::Citizen).await;
    let other = login(&app, Demo::Citizen).await;
    let rotated = post_refresh(&app, &stolen["refresh_token"]).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    // The used token again: theft is assumed and the login is ended.
    post_refresh(&app, &stolen["refresh_token"])
        .await
        .assert_problem(401, "unauthorized");
    for token in [&stolen["access_token"], &rotated.body["access_token"]] {
        rejected_soon(&app, "/api/v1/me", token.as_str().unwrap(), 200).await;
    }
    let other_access = other["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/me", other_access).await.status, 200);
}

#[actix_web::test]
async fn a_deactivated_integration_client_loses_its_tokens_within_seconds() {
    let app = TestApp::spawn().await;
    let (id, token) = client(&app, "联络平台", &["sync:read", "webhooks:manage"]).await;
    let (_, bystander) = client(&app, "另一平台", &["sync:read"]).await;
    let feed = "/api/v1/sync/changes?limit=1";
    assert_eq!(app.get(feed, &token).await.status, 200);
    switch_client(&app, &id, false).await;
    rejected_soon(&app, feed, &token, 200).await;
    let r = app
        .post(
            "/api/v1/webhooks",
            &token,
            json!({"url": "http://127.0.0.1:9/hooks", "event_types": ["message.created"]}),
        )
        .await;
    r.assert_problem(401, "unauthorized");
    assert_eq!(app.get(feed, &bystander).await.status, 200);
}

/// Settings whose backstop reload never comes during a test: what arrives, arrives by
/// notification (or by the load after a reconnect).
fn notifications_only() -> liuyan::configuration::Settings {
    let mut s = test_settings();
    s.revocation_reload_secs = 3600;
    s
}

#[actix_web::test]
async fn a_revocation_through_one_replica_reaches_the_other_within_seconds() {
    let a = TestApp::spawn_with(notifications_only()).await;
    let b = a.replica(notifications_only()).await;
    let admin = a.token(Demo::Admin).await;
    let analyst = a.token(Demo::Analyst).await;
    let handler = login(&b, Demo::Handler).await;
    let citizen = b.token(Demo::Citizen).await;
    assert_eq!(b.get("/api/v1/me", &analyst).await.status, 200);
    let id = me_id(&a, &analyst).await;
    let r = a
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    rejected_soon(&b, "/api/v1/me", &analyst, 200).await;
    // A logout through B reaches A.
    let r = b
        .send(
            Method::POST,
            "/api/v1/auth/logout",
            None,
            Some(json!({"refresh_token": handler["refresh_token"]})),
        )
        .await;
    assert_eq!(r.status, 204);
    rejected_soon(
        &a,
        "/api/v1/me",
        handler["access_token"].as_str().unwrap(),
        200,
    )
    .await;
    for replica in [&a, &b] {
        assert_eq!(replica.get("/api/v1/me", &citizen).await.status, 200);
    }
    // A replica started later knows the revocations from the start.
    let c = a.replica(notifications_only()).await;
    rejected_soon(&c, "/api/v1/me", &analyst, 200).await;
    assert_eq!(c.get("/api/v1/me", &citizen).await.status, 200);
}

#[derive(diesel::QueryableByName)]
struct Terminated {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[actix_web::test]
async fn the_listener_reconnects_and_catches_up_after_losing_its_connection() {
    let a = TestApp::spawn_with(notifications_only()).await;
    let b = a.replica(notifications_only()).await;
    let admin = b.token(Demo::Admin).await;
    let analyst = a.token(Demo::Analyst).await;
    let id = me_id(&a, &analyst).await;
    // End both listeners' sessions (as a server restart or a network cut would), once both
    // are connected.
    let listeners = |sql: &str| {
        diesel::RunQueryDsl::get_result::<Terminated>(
            diesel::sql_query(format!(
                "SELECT {sql} AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = 'liuyan-revocations'"
            )),
            &mut a.db.connect(),
        )
        .unwrap()
        .n
    };
    let start = Instant::now();
    while listeners("count(*)") < 2 {
        assert!(start.elapsed() < WITHIN, "the listeners did not connect");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listeners("count(pg_terminate_backend(pid))"), 2);
    // Written through B while A's listener is away: A learns it when it is back.
    let r = b
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    rejected_soon(&a, "/api/v1/me", &analyst, 200).await;
}

#[actix_web::test]
async fn without_the_database_tokens_verify_against_the_last_known_set() {
    // The listener cannot connect at all (nothing listens on that loopback port): requests are
    // not refused for it (fail open), and what this process revokes itself is enforced.
    let mut s = test_settings();
    s.listen_database_url = Some("postgres://liuyan@127.0.0.1:1/liuyan".into());
    let app = TestApp::spawn_with(s).await;
    let admin = app.token(Demo::Admin).await;
    let analyst = app.token(Demo::Analyst).await;
    assert_eq!(app.get("/api/v1/me", &analyst).await.status, 200);
    let id = me_id(&app, &analyst).await;
    let r = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    app.get("/api/v1/me", &analyst)
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(app.get("/api/v1/me", &admin).await.status, 200);
}
