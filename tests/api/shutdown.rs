//! Shutdown (issue 16, item 17): when `run_until_stopped` returns, the background loops and the
//! database threads have stopped and every database connection of the process is closed,
//! whoever still holds a handle to the pool (as actix's worker threads may, while they wind
//! down): nothing is left for another thread to close while the process exits, under OpenSSL's
//! exit handler (docs/RELIABILITY.md, "Shutdown"). scripts/drill-shutdown is the main proof.

use std::time::{Duration, Instant};

use diesel::{QueryableByName, RunQueryDsl, sql_query};
use liuyan::db::{Db, PoolOptions, build_pool};
use liuyan::startup::{Application, Shutdown};

use crate::helpers::{ScratchDb, establish, seeded_db, test_settings};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Sessions on the test database other than the asking one (`what`: a condition on
/// pg_stat_activity).
fn sessions(conn: &mut diesel::PgConnection, what: &str) -> i64 {
    sql_query(format!(
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND {what}"
    ))
    .get_result::<Count>(conn)
    .expect("pg_stat_activity")
    .n
}

/// Poll `f` until it is true or `within` has passed.
async fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > until {
            return false;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn shutdown_returns_once_the_jobs_stopped_and_every_connection_is_closed() {
    let db = actix_web::web::block(seeded_db).await.unwrap();
    // Behind a pooler (scripts/test-pgbouncer) the server's sessions are the pooler's: count
    // the pool's own connections only.
    let pooler = std::env::var("LIUYAN_TEST_POOLER_URL").is_ok_and(|u| !u.is_empty());
    let direct_url = format!("{}/{}", ScratchDb::server_of(&db.name), db.name);
    let mut settings = test_settings();
    settings.database_url = Some(db.url.clone());
    settings.listen_database_url = Some(direct_url.clone());
    // Every background loop on, ticking fast.
    settings.scheduler_interval_secs = 1;
    settings.stats_fold_interval_ms = 50;
    settings.webhook_poll_ms = 50;
    let opts = PoolOptions {
        max_size: 4,
        connection_timeout: Duration::from_secs(2),
        statement_cache: settings.db_statement_cache,
    };
    let url = db.url.clone();
    let pool = actix_web::web::block(move || build_pool(&url, &opts))
        .await
        .unwrap()
        .expect("pool");
    let dbh = Db::new(pool);
    // A handle kept past the shutdown, as a worker thread winding down may keep one.
    let held = dbh.clone();
    let app = Application::build_with_pool(settings, dbh).expect("application builds");
    let handle = app.server_handle();
    let running = actix_web::rt::spawn(app.run_until_stopped());

    // Every database thread holds a connection (four slow queries at once); the revocation
    // listener has its session.
    let slow = (0..4).map(|_| held.run(|c| sql_query("SELECT pg_sleep(0.3)").execute(c)));
    for r in futures_util::future::join_all(slow).await {
        r.expect("a query on each database thread");
    }
    assert_eq!(held.pool().state().connections, 4);
    let mut observer = establish(&direct_url);
    let listener = "application_name = 'liuyan-revocations'";
    assert!(
        eventually(Duration::from_secs(10), || sessions(
            &mut observer,
            listener
        ) == 1)
        .await,
        "the revocation listener connects"
    );
    if !pooler {
        assert!(sessions(&mut observer, "true") >= 5);
    }

    handle.stop(true).await;
    let outcome = running.await.expect("the server task").expect("the server");
    assert_eq!(outcome, Shutdown::Complete);
    // The shutdown closed the pool's connections itself: none is left for the last holder of
    // a pool handle to close later, on a thread nobody waits for.
    let state = held.pool().state();
    assert_eq!(
        (state.connections, state.idle_connections),
        (0, 0),
        "connections left open after the shutdown returned"
    );
    assert!(
        held.run(|c| sql_query("SELECT 1").execute(c))
            .await
            .is_err(),
        "no job runs after the shutdown"
    );
    // The server side agrees (a backend ends a moment after its client said goodbye).
    let expect = if pooler { listener } else { "true" };
    assert!(
        eventually(Duration::from_secs(5), || sessions(&mut observer, expect)
            == 0)
        .await,
        "sessions still open on the database after the shutdown: {}",
        sessions(&mut observer, expect)
    );
}
