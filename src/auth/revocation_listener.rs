//! The thread that keeps a process's [`Revocations`] fresh: one dedicated PostgreSQL connection
//! (LISTEN needs a session of its own: never a transaction-mode pooler) that LISTENs on
//! [`CHANNEL`], loads the whole table after (re)connecting and every `reload_every`, and applies
//! each notification as it arrives. diesel has no asynchronous LISTEN: the thread polls the
//! connection for notifications every [`POLL`] (a non-blocking read, no query). On failure it
//! reconnects with backoff; meanwhile requests verify against the last known set.

use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};

use super::revocation::{Revocation, Revocations};
use crate::scheduler::StopSignal;

/// The notification channel (the migration's trigger sends on it).
pub const CHANNEL: &str = "liuyan_token_revocations";
/// The listener's `application_name` in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "liuyan-revocations";
/// How often the connection is polled for notifications: the delay a revocation written by
/// another process has at most, on top of the network's.
const POLL: Duration = Duration::from_millis(100);
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How long shutdown waits for the thread (a query in flight on a server that stopped answering
/// ends at the connection's timeouts; the process does not wait for that).
const STOP_WAIT: Duration = Duration::from_secs(3);

/// Start the listener. The returned task ends once the thread has stopped after the stop
/// signal (true: its connection is closed), or after [`STOP_WAIT`] (false: the thread may still
/// be inside libpq, on a database that does not answer).
pub fn spawn(
    revocations: Revocations,
    database_url: String,
    reload_every: Duration,
    stop: StopSignal,
) -> tokio::task::JoinHandle<bool> {
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let thread_stop = stop.clone();
    let spawned = std::thread::Builder::new()
        .name("revocations".into())
        .spawn(move || {
            run(&revocations, &database_url, reload_every, &thread_stop);
            let _ = done.send(());
        });
    let mut stop = stop;
    actix_web::rt::spawn(async move {
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the token revocation listener; revocations by other processes are not seen");
            return true;
        }
        let mut finished = finished;
        tokio::select! {
            _ = &mut finished => return true,
            _ = stopped_async(&mut stop) => {}
        }
        if tokio::time::timeout(STOP_WAIT, finished).await.is_err() {
            tracing::warn!("the token revocation listener did not stop in time");
            return false;
        }
        true
    })
}

async fn stopped_async(stop: &mut StopSignal) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// The stop signal was given, or its sender is gone (the server future was dropped).
fn stopped(stop: &StopSignal) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// Sleep `d` unless stopped first; false when stopped.
fn sleep_unless_stopped(d: Duration, stop: &StopSignal) -> bool {
    let until = Instant::now() + d;
    loop {
        if stopped(stop) {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// Reconnection state: the wait before the next attempt and the failures since the last
/// successful connection.
struct Retry {
    backoff: Duration,
    failures: u32,
}

impl Retry {
    fn connected(&mut self) {
        self.backoff = BACKOFF_FIRST;
        self.failures = 0;
    }
}

fn run(revocations: &Revocations, url: &str, reload_every: Duration, stop: &StopSignal) {
    let url = crate::db::with_connection_defaults(url);
    let mut retry = Retry {
        backoff: BACKOFF_FIRST,
        failures: 0,
    };
    while !stopped(stop) {
        match listen(revocations, &url, reload_every, stop, &mut retry) {
            Ok(()) => return,
            Err(e) => {
                retry.failures += 1;
                // The first failure and then every tenth: an outage is not a log flood.
                if retry.failures == 1 || retry.failures.is_multiple_of(10) {
                    tracing::warn!(
                        error = %e,
                        failures = retry.failures,
                        retry_in_ms = retry.backoff.as_millis() as u64,
                        "token revocation listener: no database; requests verify against the \
                         last known revocations"
                    );
                }
                if !sleep_unless_stopped(retry.backoff, stop) {
                    return;
                }
                retry.backoff = (retry.backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// One connection's life: Ok when stopped, Err when the connection failed.
fn listen(
    revocations: &Revocations,
    url: &str,
    reload_every: Duration,
    stop: &StopSignal,
    retry: &mut Retry,
) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(url)?;
    // A handful of queries a minute: no statement cache (nothing to go stale behind a pooler).
    conn.set_prepared_statement_cache_size(diesel::connection::CacheSize::Disabled);
    // Named, so that operators (and a test) can tell it in pg_stat_activity.
    diesel::sql_query(format!("SET application_name = '{APPLICATION_NAME}'")).execute(&mut conn)?;
    diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn)?;
    // Listening first, then loading: a row committed in between is in the load, and its
    // notification is applied again (harmless).
    reload(&mut conn, revocations)?;
    if retry.failures > 0 {
        tracing::info!(
            failures = retry.failures,
            "token revocation listener reconnected"
        );
    }
    retry.connected();
    let mut last_reload = Instant::now();
    loop {
        let mut reload_now = false;
        for notification in conn.notifications_iter() {
            let notification = notification?;
            match Revocation::from_notice(&notification.payload) {
                Some(r) => revocations.note(r),
                None => {
                    tracing::warn!(payload = %notification.payload, "unexpected revocation notice; reloading");
                    reload_now = true;
                }
            }
        }
        if reload_now || last_reload.elapsed() >= reload_every {
            reload(&mut conn, revocations)?;
            last_reload = Instant::now();
        }
        if !sleep_unless_stopped(POLL, stop) {
            return Ok(());
        }
    }
}

fn reload(conn: &mut PgConnection, revocations: &Revocations) -> anyhow::Result<()> {
    let all = crate::store::token_revocations::load_live(conn)?;
    revocations.replace(all);
    let (accounts, logins) = revocations.len();
    tracing::debug!(accounts, logins, "token revocations loaded");
    Ok(())
}
