//! Faults: a saturated pool and an unreachable database answer 503 problem+json at once, and a
//! 503 never hides a write that happened.

use std::time::Duration;

use diesel::{RunQueryDsl, sql_query};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{Demo, TestApp, test_settings};

#[actix_web::test]
async fn an_exhausted_pool_answers_503_at_once_and_runs_nothing_late() {
    // One connection, 300 ms to get it.
    let app = TestApp::spawn_with_pool(test_settings(), 1, Duration::from_millis(300)).await;
    let token = app.token(Demo::Admin).await;

    // A slow query holds the only connection.
    let dbh = app.dbh.clone();
    let holder = actix_web::rt::spawn(async move {
        dbh.run(|c| sql_query("SELECT pg_sleep(3)").execute(c))
            .await
    });
    actix_web::rt::time::sleep(Duration::from_millis(200)).await;

    // Many requests at once: every one is refused (none waits for the slow query to end).
    let readies = (0..20).map(|_| app.send(Method::GET, "/readyz", None, None));
    for r in futures_util::future::join_all(readies).await {
        r.assert_problem(503, "service-unavailable");
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    let name = format!("Faults {}", uuid::Uuid::new_v4().simple());
    let r = app
        .post(
            "/api/v1/units",
            &token,
            json!({"name": name, "kind": "department", "region_code": "620100"}),
        )
        .await;
    r.assert_problem(503, "service-unavailable");

    // The slow query ends normally; the service answers again, and the refused write was
    // never applied behind the client's back.
    holder.await.unwrap().expect("the slow query completes");
    let r = app.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let db_url = app.db.url.clone();
    let units = actix_web::web::block(move || {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = <diesel::PgConnection as diesel::Connection>::establish(&db_url).unwrap();
        sql_query("SELECT count(*) AS n FROM units WHERE name = $1")
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result::<N>(&mut conn)
            .unwrap()
            .n
    })
    .await
    .unwrap();
    assert_eq!(units, 0, "a request answered 503 must not write later");
}

#[actix_web::test]
async fn a_database_that_refuses_connections_gives_503_not_500() {
    use diesel::r2d2::{ConnectionManager, Pool};
    // Port 1: nothing listens, every connection attempt is refused at once.
    let pool = Pool::builder()
        .max_size(2)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_millis(300))
        .build_unchecked(ConnectionManager::<diesel::PgConnection>::new(
            "postgres://postgres@127.0.0.1:1/liuyan",
        ));
    let app =
        liuyan::startup::Application::build_with_pool(test_settings(), liuyan::db::Db::new(pool))
            .expect("the server starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.server_handle();
    actix_web::rt::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();

    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.headers()["content-type"], "application/problem+json");
    assert_eq!(ready.headers()["retry-after"], "1");
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["type"], "urn:liuyan:problem:service-unavailable");

    let login = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"grant_type": "password", "email": Demo::Admin.email(), "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 503);
    let body: serde_json::Value = login.json().await.unwrap();
    assert_eq!(body["type"], "urn:liuyan:problem:service-unavailable");
    // Liveness does not need the database.
    let live = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    handle.stop(false).await;
}
