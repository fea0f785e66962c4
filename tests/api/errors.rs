//! Every way to get a request wrong answers with a precise problem+json, never a 500.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Demo, TestApp, test_settings};

#[actix_web::test]
async fn unknown_routes_are_404_problems() {
    let app = TestApp::spawn().await;
    let r = app
        .send(Method::GET, "/api/v1/no-such-thing", None, None)
        .await;
    r.assert_problem(404, "not-found");
    assert_eq!(r.body["instance"], "/api/v1/no-such-thing");
    app.send(Method::GET, "/nowhere", None, None)
        .await
        .assert_problem(404, "not-found");
}

#[actix_web::test]
async fn wrong_methods_are_405_with_allow() {
    let app = TestApp::spawn().await;
    let r = app.send(Method::DELETE, "/api/v1/units", None, None).await;
    r.assert_problem(405, "method-not-allowed");
    assert_eq!(r.header("allow"), Some("GET, POST"));
    let r = app
        .send(
            Method::PUT,
            &format!("/api/v1/units/{}", uuid::Uuid::new_v4()),
            None,
            None,
        )
        .await;
    r.assert_problem(405, "method-not-allowed");
    assert_eq!(r.header("allow"), Some("GET, PATCH"));
    let r = app.send(Method::POST, "/healthz", None, None).await;
    assert_eq!(r.header("allow"), Some("GET"));
}

#[actix_web::test]
async fn malformed_json_is_400() {
    let app = TestApp::spawn().await;
    let token = app.token(Demo::Admin).await;
    let r = app
        .client
        .post(app.url("/api/v1/units"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"name": "未完"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["type"], "urn:liuyan:problem:bad-request");
    assert!(body["detail"].as_str().unwrap().contains("malformed JSON"));
}

#[actix_web::test]
async fn wrong_content_type_is_415() {
    let app = TestApp::spawn().await;
    let token = app.token(Demo::Admin).await;
    let r = app
        .client
        .post(app.url("/api/v1/units"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

#[actix_web::test]
async fn bodies_over_the_limit_are_413() {
    let mut settings = test_settings();
    settings.body_limit_bytes = 1024;
    let app = TestApp::spawn_with(settings).await;
    let token = app.token(Demo::Admin).await;
    let big = json!({"name": "长".repeat(2000), "kind": "department", "region_code": "620100"});
    let r = app.post("/api/v1/units", &token, big.clone()).await;
    r.assert_problem(413, "payload-too-large");
    // Also when the body is streamed without a Content-Length.
    let bytes = serde_json::to_vec(&big).unwrap();
    let stream = futures_util::stream::iter(
        bytes
            .chunks(100)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let r = app
        .client
        .post(app.url("/api/v1/units"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[actix_web::test]
async fn validation_names_every_failing_field() {
    let app = TestApp::spawn().await;
    let token = app.token(Demo::Admin).await;
    // Field rules: every failing field at once.
    let r = app
        .post(
            "/api/v1/units",
            &token,
            json!({"name": "", "kind": "department", "region_code": "62"}),
        )
        .await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.failing_fields(), vec!["name", "region_code"]);
    // Unknown field.
    let r = app
        .post(
            "/api/v1/units",
            &token,
            json!({"name": "某局", "kind": "department", "region_code": "620100", "colour": "red"}),
        )
        .await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.body["errors"][0]["field"], "colour");
    assert_eq!(r.body["errors"][0]["code"], "unknown_field");
    // Server-owned fields cannot be mass-assigned.
    for field in ["id", "version", "created_at"] {
        let mut body = json!({"name": "某局", "kind": "department", "region_code": "620100"});
        body[field] = json!("x");
        let r = app.post("/api/v1/units", &token, body).await;
        r.assert_problem(422, "validation-failed");
        assert_eq!(r.body["errors"][0]["field"], field);
        assert_eq!(r.body["errors"][0]["code"], "read_only");
    }
    // Missing field, wrong type, bad enum value.
    let r = app
        .post(
            "/api/v1/units",
            &token,
            json!({"kind": "department", "region_code": "620100"}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["field"], "name");
    assert_eq!(r.body["errors"][0]["code"], "required");
    let r = app
        .post(
            "/api/v1/units",
            &token,
            json!({"name": 5, "kind": "department", "region_code": "620100"}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["field"], "name");
    let r = app
        .post(
            "/api/v1/units",
            &token,
            json!({"name": "某局", "kind": "ministry", "region_code": "620100"}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["field"], "kind");
    assert_eq!(r.body["errors"][0]["code"], "invalid_value");
    // A region that does not exist is named too.
    let r = app
        .post(
            "/api/v1/units",
            &token,
            json!({"name": "某局", "kind": "department", "region_code": "999999"}),
        )
        .await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.body["errors"][0]["field"], "region_code");
    // Nothing was created by any of it.
    let r = app.get("/api/v1/units?q=某局", &token).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 0);
}

#[actix_web::test]
async fn bad_query_parameters_are_422() {
    let app = TestApp::spawn().await;
    let token = app.token(Demo::Admin).await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("kind=ministry", "kind"),
        ("region_code=12", "region_code"),
        ("active=maybe", "active"),
    ] {
        let r = app.get(&format!("/api/v1/units?{query}"), &token).await;
        r.assert_problem(422, "validation-failed");
        assert_eq!(r.failing_fields(), vec![field], "{query}");
    }
}

#[actix_web::test]
async fn auth_failures_are_401_with_www_authenticate() {
    let app = TestApp::spawn().await;
    let r = app.send(Method::GET, "/api/v1/units", None, None).await;
    r.assert_problem(401, "unauthorized");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"liuyan\"")
    );
    let r = app
        .send_with(
            Method::GET,
            "/api/v1/units",
            None,
            None,
            &[("authorization", "Basic YTpi")],
        )
        .await;
    r.assert_problem(401, "unauthorized");
}

#[actix_web::test]
async fn the_token_endpoint_is_rate_limited_with_retry_after() {
    let mut settings = test_settings();
    settings.auth_rate_per_minute = 3;
    settings.rate_per_second = 1;
    settings.rate_burst = 5;
    let app = TestApp::spawn_with(settings).await;
    for left in [2, 1, 0] {
        let r = app
            .login_response("nobody@example.org", "wrong password!")
            .await;
        assert_eq!(r.status, 401);
        assert_eq!(r.header("ratelimit-limit"), Some("3"));
        assert_eq!(
            r.header("ratelimit-remaining"),
            Some(left.to_string().as_str())
        );
    }
    let r = app
        .login_response("nobody@example.org", "wrong password!")
        .await;
    r.assert_problem(429, "rate-limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // The 429 says where the client stands too: nothing left, full again within the minute
    // (three attempts, one every 20 s).
    assert_eq!(r.header("ratelimit-limit"), Some("3"));
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
    let reset: u64 = r.header("ratelimit-reset").unwrap().parse().unwrap();
    assert!(
        (retry..=60).contains(&reset),
        "reset {reset}, retry {retry}"
    );
    // The general budget of the same address is untouched by the token endpoint's: a limited
    // path (not a probe, which is never limited) answers with its whole burst but one.
    let r = app
        .send(Method::GET, "/api/v1/public/messages", None, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("ratelimit-limit"), Some("5"));
    assert_eq!(r.header("ratelimit-remaining"), Some("4"));
}

/// The general budget is per account: one account spending all of it leaves another account
/// (and anonymous callers) on the same address with their whole budget.
#[actix_web::test]
async fn one_accounts_budget_does_not_spend_anothers() {
    let mut settings = test_settings();
    settings.rate_per_second = 1;
    settings.rate_burst = 5;
    let app = TestApp::spawn_with(settings).await;
    // Logging in counts against the token endpoint's budget, not the general one.
    let a = app.token(Demo::Handler).await;
    let b = app.token(Demo::Reviewer).await;
    let mut limited = None;
    for _ in 0..8 {
        let r = app.get("/api/v1/categories", &a).await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    let limited = limited.expect("account A runs out of its budget");
    limited.assert_problem(429, "rate-limited");
    assert_eq!(limited.header("ratelimit-remaining"), Some("0"));
    for (who, token, path) in [
        ("B", Some(b.as_str()), "/api/v1/categories"),
        ("anonymous", None, "/api/v1/public/messages"),
    ] {
        let r = app.send(Method::GET, path, token, None).await;
        assert_eq!(r.status, 200, "{who}: {}", r.body);
        assert_eq!(r.header("ratelimit-limit"), Some("5"), "{who}");
        assert_eq!(
            r.header("ratelimit-remaining"),
            Some("4"),
            "{who} starts with a full budget"
        );
    }
    // A is still limited (its budget refills at one a second, not by B's requests).
    let again = app.get("/api/v1/categories", &a).await;
    assert!(
        again.status == 429 || again.header("ratelimit-remaining") == Some("0"),
        "{} {:?}",
        again.status,
        again.header("ratelimit-remaining")
    );
}

#[actix_web::test]
async fn the_general_rate_limit_applies_per_client() {
    let mut settings = test_settings();
    settings.rate_per_second = 1;
    settings.rate_burst = 5;
    let app = TestApp::spawn_with(settings).await;
    let mut limited = 0;
    let mut remaining = Vec::new();
    for _ in 0..12 {
        let r = app
            .send(Method::GET, "/api/v1/public/messages", None, None)
            .await;
        // Every answer says where the client stands (draft-ietf-httpapi-ratelimit-headers).
        assert_eq!(r.header("ratelimit-limit"), Some("5"), "{}", r.status);
        let left: u32 = r.header("ratelimit-remaining").unwrap().parse().unwrap();
        let reset: u64 = r.header("ratelimit-reset").unwrap().parse().unwrap();
        assert!(reset <= 5, "full again within 5 s at one a second: {reset}");
        if r.status == 429 {
            r.assert_problem(429, "rate-limited");
            assert!(r.header("retry-after").is_some());
            assert_eq!(left, 0);
            limited += 1;
        } else {
            remaining.push(left);
        }
    }
    assert!(limited >= 5, "{limited} requests limited");
    // The budget counts down (a second may pass on a slow machine and give one back).
    assert_eq!(remaining[0], 4, "{remaining:?}");
    assert!(remaining.contains(&0), "{remaining:?}");
    // Probes are never limited, and say nothing of it.
    let probe = app.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(probe.status, 200);
    assert_eq!(probe.header("ratelimit-limit"), None);
}

/// Two transactions locking the same rows in opposite orders: PostgreSQL aborts one, and the
/// service reports that as a retryable 503 (nothing was changed), not as an internal error.
#[test]
fn a_deadlock_is_a_retryable_conflict() {
    use diesel::Connection;
    use diesel::RunQueryDsl;
    use std::sync::{Arc, Barrier};
    let db = crate::helpers::ScratchDb::new(None);
    let mut setup = db.connect();
    diesel::sql_query("CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)")
        .execute(&mut setup)
        .unwrap();
    diesel::sql_query("INSERT INTO t (id) VALUES (1), (2)")
        .execute(&mut setup)
        .unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let runs: Vec<_> = [(1, 2), (2, 1)]
        .into_iter()
        .map(|(first, second)| {
            let url = db.url.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut conn = crate::helpers::establish(&url);
                conn.transaction::<_, diesel::result::Error, _>(|conn| {
                    diesel::sql_query(format!("UPDATE t SET n = n + 1 WHERE id = {first}"))
                        .execute(conn)?;
                    barrier.wait();
                    diesel::sql_query(format!("UPDATE t SET n = n + 1 WHERE id = {second}"))
                        .execute(conn)?;
                    Ok(())
                })
            })
        })
        .collect();
    let results: Vec<_> = runs.into_iter().map(|r| r.join().unwrap()).collect();
    let failed: Vec<_> = results.into_iter().filter_map(Result::err).collect();
    assert_eq!(failed.len(), 1, "exactly one of the two is aborted");
    let err = liuyan::db::DbError::from(failed.into_iter().next().unwrap());
    assert!(
        matches!(err, liuyan::db::DbError::Unavailable(ref m) if m.contains("retry")),
        "{err:?}"
    );
}
