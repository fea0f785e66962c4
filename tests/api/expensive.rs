//! Expensive reads have a budget of their own (issue 26, item 4): however many searches,
//! drill-downs, downloads or briefings run, at least one database thread stays for cheap
//! requests, and each expensive read is cut off by a statement timeout (503, never 500).

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use reqwest::Method;

use crate::helpers::{Demo, TestApp, establish, test_settings};

/// A test transaction holds `LOCK TABLE messages IN ACCESS EXCLUSIVE MODE` for `hold`: every
/// read of the messages table waits for it, deterministically slow, while nothing else (the
/// accounts `GET /me` reads) is touched. Returns once the lock is held.
async fn lock_messages(url: String, hold: Duration) -> std::thread::JoinHandle<()> {
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let holder = std::thread::spawn(move || {
        let mut conn = establish(&url);
        conn.batch_execute("BEGIN; LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
            .expect("lock");
        let _ = locked_tx.send(());
        std::thread::sleep(hold);
        conn.batch_execute("ROLLBACK").expect("rollback");
    });
    locked_rx.await.expect("the lock is taken");
    holder
}

#[actix_web::test]
async fn cheap_requests_answer_while_expensive_reads_are_stuck() {
    let mut settings = test_settings();
    settings.expensive_statement_timeout_ms = 1500;
    // Two database threads: the default budget admits one expensive read, one thread stays.
    let app = TestApp::spawn_with_pool(settings, 2, Duration::from_millis(700)).await;
    let citizen = app.token(Demo::Citizen).await;

    let holder = lock_messages(app.db.url.clone(), Duration::from_secs(4)).await;
    // Two searches (a citizen's and the board's), each stuck behind the lock once it runs.
    let search = {
        let (app, token) = (&app, citizen.clone());
        async move {
            app.get(
                "/api/v1/messages?q=%E5%85%AC%E4%BA%A4%E9%80%9A%E4%BF%A1",
                &token,
            )
            .await
        }
    };
    let board = app.send(
        Method::GET,
        "/api/v1/public/messages?q=%E5%85%AC%E4%BA%A4%E9%80%9A%E4%BF%A1",
        None,
        None,
    );
    let me = async {
        // Both searches have reached the server by now.
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let r = app.get("/api/v1/me", &citizen).await;
        (r, started.elapsed())
    };
    let (search, board, (me, took)) = futures_util::join!(search, board, me);

    // The cheap request got the thread the budget leaves free, at once.
    assert_eq!(
        me.status, 200,
        "GET /me while two searches are stuck: {}",
        me.body
    );
    assert!(took < Duration::from_millis(500), "GET /me took {took:?}");
    // One search ran and was cut off by the statement timeout, the other found the budget
    // taken: both 503 problems with Retry-After, none a 500, none waiting for the lock's end.
    let mut details = Vec::new();
    for r in [&search, &board] {
        let p = r.assert_problem(503, "service-unavailable");
        assert_eq!(r.header("retry-after"), Some("1"));
        details.push(p["detail"].as_str().unwrap_or_default().to_owned());
    }
    assert!(
        details.iter().any(|d| d.contains("statement timeout")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.contains("expensive requests") && d.contains("retry shortly")),
        "{details:?}"
    );
    actix_web::web::block(move || holder.join().expect("lock holder"))
        .await
        .unwrap();

    // Afterwards the budget is whole again: the same search answers.
    let r = app
        .get(
            "/api/v1/messages?q=%E5%85%AC%E4%BA%A4%E9%80%9A%E4%BF%A1",
            &citizen,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .send(
            Method::GET,
            "/api/v1/public/messages?q=%E5%85%AC%E4%BA%A4%E9%80%9A%E4%BF%A1",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
