use reqwest::Method;

use crate::helpers::TestApp;

#[actix_web::test]
async fn healthz_and_readyz_answer_ok() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz"] {
        let r = app.send(Method::GET, path, None, None).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.body["status"], "ok");
        assert!(r.header("x-request-id").is_some());
    }
}

#[actix_web::test]
async fn readyz_is_503_problem_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    // Take the database away behind the service's back.
    let name = app.db.name.clone();
    actix_web::web::block(move || {
        use diesel::{Connection, RunQueryDsl};
        let mut conn = diesel::PgConnection::establish(&format!(
            "{}/postgres",
            crate::helpers::ScratchDb::server_of(&name)
        ))
        .unwrap();
        diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut conn)
            .unwrap();
    })
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let r = app.send(Method::GET, "/readyz", None, None).await;
    r.assert_problem(503, "service-unavailable");
    assert!(r.header("retry-after").is_some());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(6),
        "fails fast"
    );
    // Liveness does not depend on the database.
    assert_eq!(
        app.send(Method::GET, "/healthz", None, None).await.status,
        200
    );
}

#[actix_web::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::spawn().await;
    app.send(Method::GET, "/healthz", None, None).await;
    app.send(Method::GET, "/api/v1/units", None, None).await;
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains(
            r#"liuyan_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/api/v1/units",status="401""#),
        "{text}"
    );
    assert!(text.contains("liuyan_http_request_duration_seconds_bucket"));
    assert!(text.contains("liuyan_db_pool_max_connections 4"));
}

#[actix_web::test]
async fn docs_page_and_spec_are_served_without_the_internet() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("swagger"), "Swagger UI page");
    assert!(!html.contains("cdn."), "no assets from a CDN");
    let js = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200, "bundled assets are served by us");
    let config = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert!(
        config
            .text()
            .await
            .unwrap()
            .contains("/api/v1/openapi.json")
    );
    let spec = app
        .send(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(spec.status, 200);
    assert_eq!(spec.body["openapi"], "3.1.0");
}

#[actix_web::test]
async fn request_ids_are_honoured_or_generated() {
    let app = TestApp::spawn().await;
    let r = app
        .send_with(
            Method::GET,
            "/healthz",
            None,
            None,
            &[("x-request-id", "client-abc.123")],
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("client-abc.123"));
    // A hostile value is replaced, not echoed.
    let long = "x".repeat(300);
    let r = app
        .send_with(
            Method::GET,
            "/healthz",
            None,
            None,
            &[("x-request-id", long.as_str())],
        )
        .await;
    let id = r.header("x-request-id").unwrap();
    assert_ne!(id, long);
    assert!(uuid::Uuid::parse_str(id).is_ok());
    // And errors carry it in the body.
    let r = app
        .send_with(
            Method::GET,
            "/api/v1/me",
            None,
            None,
            &[("x-request-id", "trace-42")],
        )
        .await;
    assert_eq!(
        r.assert_problem(401, "unauthorized")["request_id"],
        "trace-42"
    );
}

#[actix_web::test]
async fn cors_is_off_by_default_and_answers_configured_origins() {
    // Same-origin browser requests carry Origin too; with no CORS configured they just work.
    let app = TestApp::spawn().await;
    let r = app
        .send_with(
            Method::GET,
            "/healthz",
            None,
            None,
            &[("origin", "http://127.0.0.1:8080")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());

    let mut settings = crate::helpers::test_settings();
    settings.cors_origins = "https://board.example.gov.cn".into();
    let app = TestApp::spawn_with(settings).await;
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/units"))
        .header("origin", "https://board.example.gov.cn")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, idempotency-key",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://board.example.gov.cn"
    );
    let r = app
        .send_with(
            Method::GET,
            "/healthz",
            None,
            None,
            &[("origin", "https://board.example.gov.cn")],
        )
        .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://board.example.gov.cn")
    );
    let exposed = r
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_owned();
    assert!(
        exposed.contains("etag") && exposed.contains("x-request-id"),
        "{exposed}"
    );
}
