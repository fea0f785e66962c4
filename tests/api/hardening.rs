//! Regression tests of the attacks that once worked (issue 16): each names what it did before.

use diesel::RunQueryDsl;
use reqwest::Method;
use serde_json::{Value, json};

use crate::handling::{CHENGGUAN, accepted, actions, assign, post_with};
use crate::helpers::{Demo, TestApp, unit};
use crate::messages::{lanzhou_liaison, leader, message_body, other_citizen, staff, submit};

const TRANSPORT: &str = "01930000-0000-7000-8000-000000000002";

/// A private message in 七里河区 (兰州), accepted by the Lanzhou liaison office.
async fn private_lanzhou_message(app: &TestApp) -> (String, String) {
    let citizen = app.token(Demo::Citizen).await;
    let liaison = lanzhou_liaison(app).await;
    let mut body = message_body("私密的投诉");
    body["visibility"] = json!("private");
    body["region_code"] = json!("620103");
    let m = submit(app, &citizen, body).await;
    let id = m["id"].as_str().unwrap().to_owned();
    let r = app
        .send_with(
            Method::PUT,
            &format!("/api/v1/messages/{id}/classification"),
            Some(&liaison),
            Some(json!({"priority": "routine", "category_id": TRANSPORT})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post_with(
        app,
        &format!("/api/v1/messages/{id}/accept"),
        &liaison,
        json!({}),
        "\"2\"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    (id, liaison)
}

/// An account of 天水 (620500) with a region scope: a leader (linked to 吴建平) or a supervisor.
async fn tianshui(app: &TestApp, role: &str) -> String {
    let admin = app.token(Demo::Admin).await;
    let email = format!("ts.{role}@example.cn");
    let mut body = json!({"email": email, "password": "tianshui password 1",
        "display_name": "天水", "role": role, "scope_region_code": "620500"});
    match role {
        "leader" => body["leader_id"] = json!(leader("吴建平")),
        "supervisor" => body["unit_id"] = json!(unit("天水市人民政府办公室")),
        _ => {}
    }
    let r = app.post("/api/v1/users", &admin, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    app.login(&email, "tianshui password 1").await
}

/// Before: a leader of 天水 recorded a 批示 (201) on a private message of 兰州 that the same
/// account read as 404; the message turned important.
#[actix_web::test]
async fn a_leader_instructs_only_within_their_region() {
    let app = TestApp::spawn().await;
    let (id, liaison) = private_lanzhou_message(&app).await;
    let outsider = tianshui(&app, "leader").await;
    let path = format!("/api/v1/messages/{id}/instructions");

    app.get(&format!("/api/v1/messages/{id}"), &outsider)
        .await
        .assert_problem(404, "not-found");
    let r = app
        .post(&path, &outsider, json!({"body": "请尽快办理"}))
        .await;
    let refused = r.assert_problem(404, "not-found").clone();
    let read = app.get(&format!("/api/v1/messages/{id}"), &outsider).await;
    assert_eq!(
        refused["detail"], read.body["detail"],
        "one detail for both"
    );

    // Nothing changed: no instruction, no event, still routine.
    let m = app.get(&format!("/api/v1/messages/{id}"), &liaison).await;
    assert_eq!(m.body["priority"], "routine", "{}", m.body);
    assert!(
        !actions(&app, &liaison, &id)
            .await
            .contains(&"instruct".to_owned())
    );

    // The mayor of 兰州 (whose region it is) may.
    let mayor = app.token(Demo::Leader).await;
    let r = app.post(&path, &mayor, json!({"body": "请尽快办理"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// Before: `PATCH /users/{own id}` with a province-wide scope answered 200 for a unit admin,
/// and `POST /users` accepted a handler with any scope; the ledger and statistics then covered
/// the whole province.
#[actix_web::test]
async fn unit_administrators_cannot_give_region_scopes() {
    let app = TestApp::spawn().await;
    let ua = app.token(Demo::UnitAdmin).await;
    let me = app.get("/api/v1/me", &ua).await;
    let my_id = me.body["id"].as_str().unwrap().to_owned();
    app.patch(
        &format!("/api/v1/users/{my_id}"),
        &ua,
        json!({"scope_region_code": "620000"}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        "/api/v1/users",
        &ua,
        json!({"email": "wide@example.cn", "password": "a long password", "display_name": "办理",
               "role": "handler", "unit_id": unit("兰州市交通运输局"), "scope_region_code": "620000"}),
    )
    .await
    .assert_problem(403, "forbidden");
    let after = app.get("/api/v1/me", &ua).await;
    assert_eq!(after.body["scope_region_code"], Value::Null);

    // Administrators do not give unit staff a scope either: their territory is their unit's.
    let admin = app.token(Demo::Admin).await;
    let r = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "wide2@example.cn", "password": "a long password", "display_name": "办理",
                   "role": "handler", "unit_id": unit("兰州市交通运输局"), "scope_region_code": "620000"}),
        )
        .await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.failing_fields(), vec!["scope_region_code"]);

    // An account that has one anyway (written before this rule) gets nothing from it.
    let mut conn = app.db.connect();
    diesel::sql_query(
        "UPDATE users SET scope_region_code = '620000' WHERE email = 'unitadmin@liuyan.example'",
    )
    .execute(&mut conn)
    .unwrap();
    let ua = app.token(Demo::UnitAdmin).await;
    let r = app
        .get(
            "/api/v1/statistics/summary?from=2026-01-01&to=2026-12-31",
            &ua,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["scope"]["unit_id"],
        unit("兰州市交通运输局"),
        "unit staff read their unit's figures only: {}",
        r.body
    );
    assert_eq!(r.body["scope"]["region_code"], Value::Null, "{}", r.body);
}

/// Before: another unit's handler got 403 on sign-for but 404 on reading the assignment; a
/// supervisor of another region got 403 on extension approval and supervision closing; a
/// citizen withdrawing someone else's message got 409; the details differed.
#[actix_web::test]
async fn what_a_caller_cannot_read_answers_404_to_every_operation() {
    let app = TestApp::spawn().await;
    let (id, liaison) = private_lanzhou_message(&app).await;
    let r = assign(&app, &liaison, &id, CHENGGUAN, &[]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let assignment = r.body["items"][0]["id"].as_str().unwrap().to_owned();
    let chengguan = staff(&app, "cg@example.cn", "handler", CHENGGUAN).await;
    let outsider_unit = app.token(Demo::Handler).await; // 兰州市交通运输局: not involved

    // Sign-for by another unit: 404 like the read, same detail.
    let read = app
        .get(&format!("/api/v1/assignments/{assignment}"), &outsider_unit)
        .await;
    let read = read.assert_problem(404, "not-found").clone();
    let r = app
        .post(
            &format!("/api/v1/assignments/{assignment}/sign-for"),
            &outsider_unit,
            json!({}),
        )
        .await;
    assert_eq!(r.assert_problem(404, "not-found")["detail"], read["detail"]);

    // The unit signs for it and asks for an extension.
    let r = app
        .post(
            &format!("/api/v1/assignments/{assignment}/sign-for"),
            &chengguan,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .post(
            &format!("/api/v1/assignments/{assignment}/extensions"),
            &chengguan,
            json!({"days": 3, "reason": "需协调供电部门"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let extension = r.body["id"].as_str().unwrap().to_owned();

    // A draft of the unit: another unit's handler may neither read nor change it.
    let r = app
        .post(
            &format!("/api/v1/messages/{id}/replies"),
            &chengguan,
            json!({"kind": "final", "body": "经核实，红绿灯已于本周修复，感谢您的监督。"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let reply = r.body["id"].as_str().unwrap().to_owned();
    let read = app
        .get(&format!("/api/v1/replies/{reply}"), &outsider_unit)
        .await;
    let read = read.assert_problem(404, "not-found").clone();
    let r = app
        .send_with(
            Method::PUT,
            &format!("/api/v1/replies/{reply}"),
            Some(&outsider_unit),
            Some(json!({"body": "改写别人的答复内容，这是越权操作。"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.assert_problem(404, "not-found")["detail"], read["detail"]);

    // A supervisor of 天水 neither sees nor decides it.
    let ts = tianshui(&app, "supervisor").await;
    let r = app.get("/api/v1/extensions?status=pending", &ts).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["items"].as_array().unwrap().is_empty(), "{}", r.body);
    for verb in ["approve", "reject"] {
        let r = app
            .post(
                &format!("/api/v1/extensions/{extension}/{verb}"),
                &ts,
                json!({}),
            )
            .await;
        r.assert_problem(404, "not-found");
    }
    let supervisor = app.token(Demo::Supervisor).await;
    let r = app
        .post(
            &format!("/api/v1/messages/{id}/supervisions"),
            &supervisor,
            json!({"level": "key", "instruction": "请于月底前反馈进展", "due_date": "2099-12-31"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let case = r.body["id"].as_str().unwrap().to_owned();
    let read = app.get(&format!("/api/v1/supervisions/{case}"), &ts).await;
    let read = read.assert_problem(404, "not-found").clone();
    let r = app
        .post(
            &format!("/api/v1/supervisions/{case}/close"),
            &ts,
            json!({"note": "越权"}),
        )
        .await;
    assert_eq!(r.assert_problem(404, "not-found")["detail"], read["detail"]);
    // The supervisor of the province still decides the extension.
    let r = app
        .post(
            &format!("/api/v1/extensions/{extension}/approve"),
            &supervisor,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Withdrawing: someone else's private message is 404; a public one the caller may read
    // is 403 (not 409: the caller is refused before the status is looked at).
    let other = other_citizen(&app).await;
    let r = app
        .send_with(
            Method::POST,
            &format!("/api/v1/messages/{id}/withdraw"),
            Some(&other),
            Some(json!({})),
            &[("if-match", "\"3\"")],
        )
        .await;
    r.assert_problem(404, "not-found");
    let (public_id, _) = accepted(&app, "routine", Some(&liaison)).await;
    let r = app
        .send_with(
            Method::POST,
            &format!("/api/v1/messages/{public_id}/withdraw"),
            Some(&other),
            Some(json!({})),
            &[("if-match", "\"3\"")],
        )
        .await;
    r.assert_problem(403, "forbidden");
}

/// Count the series of the request metrics in a `/metrics` document.
async fn request_series(app: &TestApp) -> usize {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("liuyan_http_request"))
        .count()
}

/// Before: every distinct method became a label with a full histogram (100 requests grew the
/// document by 97 MB). Junk methods and paths now fold into one label each.
#[actix_web::test]
async fn junk_methods_and_paths_do_not_grow_the_metrics() {
    let app = TestApp::spawn().await;
    let send = |method: String, path: String| {
        let app = &app;
        async move {
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            app.client.request(m, app.url(&path)).send().await.unwrap()
        }
    };
    // One of each kind first, so every folded label exists.
    send("JUNK0".into(), "/api/v1/nothing-0".into()).await;
    send("GET".into(), "/api/v1/nothing-0".into()).await;
    request_series(&app).await; // the scrape itself is a series from the next one on
    let before = request_series(&app).await;
    for i in 1..60 {
        let r = send(
            format!("JUNK{i}{}", "X".repeat(i * 100)),
            format!("/api/v1/nothing-{i}"),
        )
        .await;
        assert!(r.status().is_client_error(), "{}", r.status());
        assert_eq!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        send("GET".into(), format!("/x/{i}/{}", "y".repeat(i))).await;
    }
    let after = request_series(&app).await;
    assert_eq!(after, before, "the series count stays fixed under junk");
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !text.contains("JUNK"),
        "no method name of a junk request is a label"
    );
    assert!(
        text.contains("method=\"other\""),
        "junk methods share one label"
    );
}

/// Before: a cursor holding an out-of-range timestamp, such dates as query parameters, and NUL
/// bytes in paths, parameters and JSON strings reached PostgreSQL and answered 500.
#[actix_web::test]
async fn far_dates_and_nul_bytes_are_4xx_and_never_reach_the_database() {
    use base64::Engine;
    let app = TestApp::spawn().await;
    let citizen = app.token(Demo::Citizen).await;
    let admin = app.token(Demo::Admin).await;
    let far = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"["-200000-01-01T00:00:00Z","01930000-0000-7000-8000-000000000002"]"#);
    for (path, token) in [
        (format!("/api/v1/public/messages?cursor={far}"), None),
        (format!("/api/v1/messages?cursor={far}"), Some(&citizen)),
        (format!("/api/v1/assignments?cursor={far}"), Some(&admin)),
        (format!("/api/v1/deadlines?cursor={far}"), Some(&admin)),
        (format!("/api/v1/replies?cursor={far}"), Some(&admin)),
        (
            "/api/v1/messages?submitted_from=-200000-01-01T00:00:00Z".into(),
            Some(&admin),
        ),
        (
            "/api/v1/messages?submitted_to=%2B275760-01-01T00:00:00Z".into(),
            Some(&admin),
        ),
        (
            "/api/v1/alerts?since=-200000-01-01T00:00:00Z".into(),
            Some(&admin),
        ),
        (
            "/api/v1/statistics/summary?from=-20000-01-01".into(),
            Some(&admin),
        ),
    ] {
        let r = app
            .send(Method::GET, &path, token.map(String::as_str), None)
            .await;
        r.assert_problem(422, "validation-failed");
    }
    for path in ["/api/v1/public/messages/%00", "/api/v1/tracking/%00"] {
        let r = app.send(Method::GET, path, Some(&citizen), None).await;
        r.assert_problem(400, "bad-request");
    }
    for path in ["/api/v1/messages?q=%00", "/api/v1/public/messages?q=a%00b"] {
        let r = app.send(Method::GET, path, Some(&citizen), None).await;
        r.assert_problem(422, "validation-failed");
        assert_eq!(r.failing_fields(), vec!["q"], "{path}");
    }
    for path in [
        "/open311/v2/requests/%00.json",
        "/open311/v2/requests.json?start_date=-200000-01-01",
    ] {
        let r = app.send(Method::GET, path, None, None).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(r.body[0]["description"].is_string(), "{}", r.body);
    }
    // NUL inside JSON strings: named as the failing field.
    let r = app
        .send(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(json!({"grant_type": "password", "email": "a\u{0}@b.cn", "password": "x"})),
        )
        .await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.failing_fields(), vec!["email"]);
    let mut body = message_body("标题\u{0}");
    body["address"] = json!("地址");
    let r = app.post("/api/v1/messages", &citizen, body).await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.failing_fields(), vec!["title"]);
}

/// Before: `If-Match: W/"1"` matched version 1. RFC 9110 compares strongly: 412.
#[actix_web::test]
async fn a_weak_etag_never_satisfies_if_match() {
    let app = TestApp::spawn().await;
    let citizen = app.token(Demo::Citizen).await;
    let m = submit(&app, &citizen, message_body("弱标签")).await;
    let id = m["id"].as_str().unwrap();
    let r = app
        .send_with(
            Method::POST,
            &format!("/api/v1/messages/{id}/withdraw"),
            Some(&citizen),
            Some(json!({})),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    r.assert_problem(412, "precondition-failed");
    // If-None-Match compares weakly: W/"1" names version 1.
    let r = app
        .send_with(
            Method::GET,
            &format!("/api/v1/messages/{id}"),
            Some(&citizen),
            None,
            &[("if-none-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(r.status, 304);
    let r = app
        .send_with(
            Method::POST,
            &format!("/api/v1/messages/{id}/withdraw"),
            Some(&citizen),
            Some(json!({})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Before: `/docs/` sent no Content-Security-Policy and nothing sent `nosniff`.
#[actix_web::test]
async fn responses_carry_nosniff_and_a_content_security_policy() {
    let app = TestApp::spawn().await;
    for path in [
        "/docs/",
        "/api/v1/openapi.json",
        "/healthz",
        "/api/v1/nothing",
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        let h = |n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(
            h("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        let csp = h("content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        if path == "/docs/" {
            assert_eq!(r.status(), 200);
            assert!(csp.contains("script-src 'self'"), "{csp}");
            assert!(!csp.contains("unsafe-eval"), "{csp}");
        } else {
            assert!(csp.starts_with("default-src 'none'"), "{path}: {csp}");
        }
    }
}

async fn register(app: &TestApp, email: &str) -> String {
    let r = app
        .send(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": email, "password": "a citizen password", "display_name": "市民"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    app.login(email, "a citizen password").await
}

/// Before: one citizen account created 259 messages in 0.6 s. Now a per-account quota per hour
/// and per day answers 429 with `Retry-After`; other accounts are not affected.
#[actix_web::test]
async fn one_account_cannot_flood_the_intake() {
    let mut settings = crate::helpers::test_settings();
    settings.intake_per_hour = 3;
    settings.intake_per_day = 5;
    let app = TestApp::spawn_with(settings).await;
    // A new account (the demo citizen's seeded messages are recent enough to count).
    let citizen = other_citizen(&app).await;
    let other = register(&app, "third@example.cn").await;
    // Three at once: the per-account lock counts them one after the other.
    let sends = (0..3).map(|i| {
        app.post(
            "/api/v1/messages",
            &citizen,
            message_body(&format!("第{i}条")),
        )
    });
    for r in futures_util::future::join_all(sends).await {
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = app
        .post("/api/v1/messages", &citizen, message_body("第四条"))
        .await;
    r.assert_problem(429, "rate-limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((3000..=3600).contains(&retry), "about an hour: {retry}");
    // Nothing was stored for the refused one; another citizen still writes.
    let mut conn = app.db.connect();
    let n: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "SELECT count(*) FROM messages WHERE title LIKE '第%条'",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(n, 3);
    let r = app
        .post("/api/v1/messages", &other, message_body("另一位市民"))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Staff registering calls for citizens are not counted against anyone.
    let liaison = lanzhou_liaison(&app).await;
    let mut phone = message_body("电话登记");
    phone["source"] = json!("phone");
    phone["contact_name"] = json!("王先生");
    let r = app.post("/api/v1/messages", &liaison, phone).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// Before: connections sending a body one byte every 10 s were never timed out. Now the body
/// has a deadline: 408 problem+json, and the connection is closed.
#[actix_web::test]
async fn a_body_that_trickles_in_is_cut_off_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut settings = crate::helpers::test_settings();
    settings.body_timeout_secs = 1;
    let app = TestApp::spawn_with(settings).await;
    let citizen = app.token(Demo::Citizen).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/messages HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {citizen}\r\n\
         Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{{"
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = async {
        // Keep trickling until the server answers and closes.
        loop {
            let mut buf = [0u8; 4096];
            tokio::select! {
                n = sock.read(&mut buf) => {
                    let n = n.unwrap_or(0);
                    if n == 0 { break; }
                    answer.extend_from_slice(&buf[..n]);
                }
                _ = tokio::time::sleep(std::time::Duration::from_millis(300)) => {
                    if sock.write_all(b" ").await.is_err() { break; }
                }
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .expect("the server gives up on the body within seconds");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(
        answer.contains("urn:liuyan:problem:request-timeout"),
        "{answer}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// Send raw bytes on a fresh connection; the whole answer once the server closes (or 5 s).
async fn raw_exchange(app: &TestApp, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    sock.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        sock.read_to_end(&mut answer),
    )
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Before: an over-long URI and an invalid header byte were answered by the HTTP parser with an
/// empty 400; now they are problem+json like every other error.
#[actix_web::test]
async fn requests_the_parser_refuses_get_a_problem_body() {
    let app = TestApp::spawn().await;
    let long = format!(
        "GET /api/v1/public/messages?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let bad_header = b"GET /api/v1/public/messages HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n";
    for (what, request) in [
        ("long URI", long.as_bytes()),
        ("control byte", &bad_header[..]),
    ] {
        let answer = raw_exchange(&app, request).await;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        assert!(
            head.starts_with("HTTP/1.1 400") || head.starts_with("HTTP/1.1 431"),
            "{what}: {head}"
        );
        assert!(
            head.contains("content-type: application/problem+json"),
            "{what}: {head}"
        );
        let problem: Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: {e}: {body}"));
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:liuyan:problem:"),
            "{problem}"
        );
        assert!(!problem["detail"].as_str().unwrap().is_empty());
    }
    // The server still answers normally afterwards.
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
