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
    // Port 1: nothing listens, every connection attempt is refused at once.
    let pool = liuyan::db::build_pool_unchecked(
        "postgres://postgres@127.0.0.1:1/liuyan",
        &liuyan::db::PoolOptions {
            max_size: 2,
            connection_timeout: Duration::from_millis(300),
            statement_cache: true,
        },
    );
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

/// A server that accepts connections and never answers (stuck, or behind a half-open path): a
/// connection attempt gives up after libpq's connect timeout (5 s unless the URL says otherwise)
/// instead of holding the pool's connecting thread for ever, so the pool recovers with the
/// database.
#[test]
fn a_server_that_never_answers_is_given_up_on_within_the_connect_timeout() {
    use diesel::Connection;
    // The kernel accepts connections into the backlog; nobody ever reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let url = liuyan::db::with_connection_defaults(&format!(
        "postgres://postgres@127.0.0.1:{port}/liuyan"
    ));
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let failed = diesel::PgConnection::establish(&url).is_err();
        let _ = done.send((failed, started.elapsed()));
    });
    let (failed, took) = outcome
        .recv_timeout(Duration::from_secs(30))
        .expect("the attempt ends instead of hanging");
    assert!(failed);
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(15),
        "gave up after {took:?}"
    );
    drop(silent);
}

/// Send a request whose headers declare a 100 MB body but send only a few bytes of it; return
/// the response head. The server must answer from the headers alone: were it waiting for the
/// body, the read would time out.
async fn declare_100_mb(port: u16, path: &str, headers: &[(&str, &str)]) -> String {
    use std::io::{Read, Write};
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        100 * 1024 * 1024
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n{\"name\": \"");
    actix_web::web::block(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).expect("an answer before the body is sent");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn a_100_mb_body_is_refused_from_its_content_length() {
    let app = TestApp::spawn().await;
    let token = app.token(Demo::Admin).await;
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let bearer = format!("Bearer {token}");
    let json = ("Content-Type", "application/json");
    let cases: [(&str, Vec<(&str, &str)>); 4] = [
        ("/api/v1/units", vec![json, ("Authorization", &bearer)]),
        // The idempotency layer buffers bodies to fingerprint them: it checks first too.
        (
            "/api/v1/units",
            vec![
                json,
                ("Authorization", &bearer),
                ("Idempotency-Key", "faults-100mb"),
            ],
        ),
        ("/api/v1/auth/token", vec![json]),
        (
            "/open311/v2/requests.json",
            vec![("Content-Type", "application/x-www-form-urlencoded")],
        ),
    ];
    for (path, headers) in cases {
        let head = declare_100_mb(port, path, &headers).await;
        assert!(head.starts_with("HTTP/1.1 413"), "{path}: {head}");
        if !path.starts_with("/open311") {
            assert!(
                head.to_ascii_lowercase()
                    .contains("content-type: application/problem+json"),
                "{path}: {head}"
            );
        }
    }
}

#[actix_web::test]
async fn absurd_limits_and_cursors_are_refused_with_the_field() {
    let app = TestApp::spawn().await;
    let token = app.token(Demo::Admin).await;
    let deep = "A".repeat(4000);
    for (query, field) in [
        ("limit=99999999999999999999", "limit"),
        ("limit=4294967295", "limit"),
        ("limit=-1", "limit"),
        ("limit=1e9", "limit"),
        ("cursor=%00%FF", "cursor"),
        (&format!("cursor={deep}") as &str, "cursor"),
    ] {
        for list in ["/api/v1/units", "/api/v1/messages"] {
            let r = app.get(&format!("{list}?{query}"), &token).await;
            r.assert_problem(422, "validation-failed");
            assert_eq!(r.failing_fields(), vec![field], "{list}?{query}");
        }
    }
    // A 48 KB cursor (about the most an HTTP client sends; actix-http refuses longer request
    // heads with 431) is refused on its length, before any decoding.
    let huge = "x".repeat(48 * 1024);
    let r = app
        .get(&format!("/api/v1/units?cursor={huge}"), &token)
        .await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.failing_fields(), vec!["cursor"]);
}

/// The real binary, SIGTERMed while a request is in flight: the request completes, new
/// connections are refused, the scheduler stops cleanly, the process exits 0.
#[actix_web::test]
async fn sigterm_finishes_in_flight_requests_and_exits_0() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let db = actix_web::web::block(crate::helpers::seeded_db)
        .await
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_liuyan"))
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("LIUYAN_HOST", "127.0.0.1")
        .env("LIUYAN_PORT", "0")
        .env("LIUYAN_WORKERS", "1")
        .env("LIUYAN_MIGRATE_ON_START", "false")
        .env("LIUYAN_SCHEDULER_INTERVAL_SECS", "1")
        .env("LIUYAN_LOG_FORMAT", "json")
        .env("LIUYAN_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // Every output line, from both streams, as it comes.
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    for stream in [
        Box::new(out) as Box<dyn std::io::Read + Send>,
        Box::new(err) as Box<dyn std::io::Read + Send>,
    ] {
        let tx = lines_tx.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
    }
    drop(lines_tx);
    let mut log = Vec::new();
    let port: u16 = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no listening line; output: {log:#?}"));
        log.push(line.clone());
        if let Some(rest) = line
            .split("liuyan is listening on http://127.0.0.1:")
            .nth(1)
        {
            break rest
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap();
        }
    };
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let u = liuyan::seed::USERS
        .iter()
        .find(|u| u.email == Demo::Admin.email())
        .unwrap();
    let login: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"grant_type": "password", "email": u.email, "password": u.password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();

    // Hold the units table so a request for it stays in flight until we let go.
    let mut lock = db.connect();
    diesel::connection::SimpleConnection::batch_execute(
        &mut lock,
        "BEGIN; LOCK TABLE units IN ACCESS EXCLUSIVE MODE",
    )
    .unwrap();
    let slow = actix_web::rt::spawn(
        client
            .get(format!("{base}/api/v1/units"))
            .bearer_auth(&token)
            .send(),
    );
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    assert!(!slow.is_finished(), "the request is in flight");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "new connections are refused once stopping"
    );
    assert!(child.try_wait().unwrap().is_none(), "still finishing");

    // Let the request through: it completes normally, then the process ends.
    diesel::connection::SimpleConnection::batch_execute(&mut lock, "COMMIT").unwrap();
    let r = slow
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(r.status(), 200);
    let page: serde_json::Value = r.json().await.unwrap();
    assert!(!page["items"].as_array().unwrap().is_empty());

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "the process exits");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    };
    log.extend(lines.iter());
    assert_eq!(status.code(), Some(0), "exit status; output: {log:#?}");
    let text = log.join("\n");
    assert!(text.contains("scheduler stopped"), "{text}");
    assert!(text.contains("shutdown complete"), "{text}");
    assert!(!text.contains("\"ERROR\""), "{text}");
}
