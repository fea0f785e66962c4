//! A database lost in the middle of a request answers 503 (issue 18). Lookups of what a request
//! names (a leader, a unit, a region) read every failure as "no such X": a citizen whose valid
//! message met an outage was told 422 `leader_id: no such leader` (Open311: 400), and
//! would correct input that was right instead of retrying.

use std::future::Future;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::json;

use crate::handling::{TRANSPORT_BUREAU, accepted, assign};
use crate::helpers::{Demo, Resp, TestApp, establish};
use crate::messages::{leader, message_body};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Runs `request` while a test transaction holds `table` locked; the server backend that waits
/// for the lock is terminated (its connection is lost mid-request, as when the database goes
/// down), then the lock is released. Panics unless a backend waited and was terminated.
pub async fn lost_while_reading<T>(
    app: &TestApp,
    table: &'static str,
    request: impl Future<Output = T>,
) -> T {
    let url = app.db.url.clone();
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let holder = std::thread::spawn(move || {
        let mut conn = establish(&url);
        conn.batch_execute(&format!(
            "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
        ))
        .expect("lock");
        let _ = locked_tx.send(());
        let mut killer = establish(&url);
        let give_up = Instant::now() + Duration::from_secs(30);
        let mut killed = false;
        while !killed && Instant::now() < give_up {
            let c: Count = diesel::sql_query(
                "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock' \
                   AND pid <> pg_backend_pid()",
            )
            .get_result(&mut killer)
            .expect("terminate");
            killed = c.n > 0;
            std::thread::sleep(Duration::from_millis(20));
        }
        conn.batch_execute("ROLLBACK").expect("rollback");
        killed
    });
    locked_rx.await.expect("the lock is taken");
    let answer = request.await;
    let killed = holder.join().expect("the lock holder");
    assert!(killed, "no request waited for the lock on {table}");
    answer
}

fn assert_unavailable(r: &Resp, what: &str) {
    assert_eq!(r.status, 503, "{what}: {}", r.body);
    r.assert_problem(503, "service-unavailable");
}

#[actix_web::test]
async fn a_lookup_that_loses_the_database_answers_503_not_no_such_x() {
    let app = TestApp::spawn().await;
    let citizen = app.token(Demo::Citizen).await;
    let (id, liaison) = accepted(&app, "routine", None).await;

    // A citizen's message: the leader it is written to (store::messages::insert).
    let r = lost_while_reading(&app, "leaders", async {
        app.post("/api/v1/messages", &citizen, message_body("停电"))
            .await
    })
    .await;
    assert_unavailable(&r, "POST /messages");

    // An assignment: the unit it goes to (require_active_unit).
    let r = lost_while_reading(
        &app,
        "units",
        assign(&app, &liaison, &id, TRANSPORT_BUREAU, &[]),
    )
    .await;
    assert_unavailable(&r, "POST /messages/{id}/assignments");

    // A leader's instruction recorded by the liaison office: the leader named.
    let r = lost_while_reading(&app, "leaders", async {
        app.post(
            &format!("/api/v1/messages/{id}/instructions"),
            &liaison,
            json!({"body": "请尽快解决并报结果", "leader_id": leader("孙海洋")}),
        )
        .await
    })
    .await;
    assert_unavailable(&r, "POST /messages/{id}/instructions");

    // Nothing of it was stored, and with the database back each succeeds.
    let again = app
        .post("/api/v1/messages", &citizen, message_body("停电"))
        .await;
    assert_eq!(again.status, 201, "{}", again.body);
    let again = assign(&app, &liaison, &id, TRANSPORT_BUREAU, &[]).await;
    assert_eq!(again.status, 201, "{}", again.body);
}
