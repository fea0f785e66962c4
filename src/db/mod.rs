//! The one place for the connection pool, migrations and database errors.

pub mod local;
pub mod session;

mod expensive;
mod pool;

use std::time::Duration;

use diesel::pg::PgConnection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use expensive::ExpensiveBudget;
pub use pool::{Manager, PgPool, PgPooled, PoolOptions, build_pool, build_pool_unchecked};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Database failures as the request layer needs to tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("not found")]
    NotFound,
    /// A statement ran past its `statement_timeout` and PostgreSQL cancelled it.
    #[error("statement timeout: {0}")]
    StatementTimeout(String),
    #[error("unique violation: {detail}")]
    UniqueViolation { detail: String },
    #[error("foreign key violation: {detail}")]
    ForeignKeyViolation { detail: String },
    #[error("{0}")]
    Other(String),
}

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => DbError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                DbError::UniqueViolation {
                    detail: info.constraint_name().map_or_else(
                        || "a resource with these values already exists".to_owned(),
                        |c| format!("a resource with these values already exists ({c})"),
                    ),
                }
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                DbError::ForeignKeyViolation {
                    detail: info.constraint_name().map_or_else(
                        || "the resource is still referenced".to_owned(),
                        |c| format!("the resource is referenced or refers to a missing one ({c})"),
                    ),
                }
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                DbError::Unavailable(info.message().to_owned())
            }
            DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
                DbError::Unavailable(format!("transaction conflict, retry: {}", info.message()))
            }
            // A command that could not be sent, or any error that says the connection is gone
            // (a terminated backend reports itself in more than one kind): the database is
            // unavailable, not the request wrong (issue 18).
            DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, info) => {
                DbError::Unavailable(info.message().to_owned())
            }
            DieselError::DatabaseError(_, info) if is_connection_loss(info.message()) => {
                DbError::Unavailable(info.message().to_owned())
            }
            // Only expensive reads run under a statement timeout (`Db::run_expensive`): the
            // request asked for more than the server gives one read, not a server fault.
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info
                    .message()
                    .contains("canceling statement due to statement timeout") =>
            {
                DbError::StatementTimeout(info.message().to_owned())
            }
            // PostgreSQL broke a lock cycle by aborting this transaction: nothing was changed,
            // and the same request succeeds when retried (503 with Retry-After).
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message().contains("deadlock detected") =>
            {
                DbError::Unavailable(format!("transaction conflict, retry: {}", info.message()))
            }
            // A transaction left broken by a lost connection: the connection is dropped when it
            // returns to the pool, and a retry gets a fresh one.
            DieselError::BrokenTransactionManager => {
                DbError::Unavailable("the database connection was lost; retry".into())
            }
            other => DbError::Other(other.to_string()),
        }
    }
}

fn is_connection_loss(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("server closed the connection")
        || m.contains("terminating connection")
        || m.contains("connection to server")
        || m.contains("no connection to the server")
        || m.contains("the database system is")
}

impl From<diesel::r2d2::PoolError> for DbError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        DbError::Unavailable(format!("no database connection available: {e}"))
    }
}

/// libpq options every connection gets unless the URL sets them. Without a connect timeout, a
/// server that accepts the TCP connection and never answers (stuck, or a half-open path) holds
/// r2d2's connecting threads for ever, and the pool never recovers even when the database does.
/// Keepalives and a TCP user timeout let the kernel give up on a peer that vanished (a network
/// partition) within about a minute instead of the system's two hours. All are client-side, so
/// they pass a transaction pooler untouched.
pub const CONNECTION_DEFAULTS: &[(&str, &str)] = &[
    ("connect_timeout", "5"),
    ("keepalives", "1"),
    ("keepalives_idle", "30"),
    ("keepalives_interval", "10"),
    ("keepalives_count", "3"),
    ("tcp_user_timeout", "60000"),
];

/// `url` (a `postgres://` URI or a `key=value` connection string) with the
/// [`CONNECTION_DEFAULTS`] it does not set itself.
pub fn with_connection_defaults(url: &str) -> String {
    let is_uri = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let given: Vec<String> = if is_uri {
        url.split_once('?')
            .map(|(_, q)| q)
            .unwrap_or("")
            .split('&')
            .filter_map(|kv| kv.split('=').next())
            .map(|k| k.trim().to_ascii_lowercase())
            .collect()
    } else {
        url.split_whitespace()
            .filter_map(|kv| kv.split('=').next())
            .map(|k| k.trim().to_ascii_lowercase())
            .collect()
    };
    let mut out = url.to_owned();
    for (key, value) in CONNECTION_DEFAULTS {
        if given.iter().any(|k| k == key) {
            continue;
        }
        if is_uri {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(&format!("{key}={value}"));
        } else {
            out.push_str(&format!(" {key}={value}"));
        }
    }
    out
}

/// Apply pending embedded migrations; returns how many ran.
pub fn run_migrations(conn: &mut PgConnection) -> anyhow::Result<usize> {
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
    Ok(applied.len())
}

/// Runs diesel work off the async executor on a fixed set of database threads, each holding a
/// pooled connection for as long as it is healthy. Compared with `web::block` + a checkout per
/// request this saves a pool round trip and a thread-pool hand-off per request (measured in
/// docs/PERFORMANCE.md). A full queue answers 503 at once instead of queueing without bound.
#[derive(Clone)]
pub struct Db {
    pool: PgPool,
    jobs: crossbeam_channel::Sender<Job>,
    /// How long a job may wait for a database thread before the request gets 503.
    wait: Duration,
    /// Set by `shutdown`: new jobs are refused and each thread ends after its next job.
    closing: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Disconnects once every database thread has ended (each holds a sender).
    ended: crossbeam_channel::Receiver<()>,
    /// The database threads, joined by `shutdown`.
    threads: std::sync::Arc<std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>>,
    /// The budget of expensive reads ([`Db::run_expensive`]), shared by every clone; set once
    /// at start ([`Db::set_expensive_budget`]), else the default for the thread count.
    expensive: std::sync::Arc<std::sync::OnceLock<ExpensiveBudget>>,
}

/// A job's life: the first of the caller (giving up) and the database thread (starting it)
/// to move it out of `QUEUED` decides whether it runs, so a 503 never hides a write.
const QUEUED: u8 = 0;
const STARTED: u8 = 1;
const ABANDONED: u8 = 2;

type Job = Box<dyn FnOnce(&mut Option<PgPooled>, &PgPool) + Send>;

/// Jobs waiting for a database thread before new ones are refused.
const QUEUE_PER_CONNECTION: usize = 64;

impl Db {
    pub fn new(pool: PgPool) -> Self {
        let threads = pool.max_size() as usize;
        let (jobs, queue) = crossbeam_channel::bounded::<Job>(threads * QUEUE_PER_CONNECTION);
        let closing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (alive, ended) = crossbeam_channel::bounded::<()>(0);
        let mut handles = Vec::with_capacity(threads);
        for n in 0..threads {
            let queue = queue.clone();
            let pool = pool.clone();
            let closing = closing.clone();
            let alive = alive.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("db-{n}"))
                .spawn(move || {
                    let mut conn: Option<PgPooled> = None;
                    // Ends at shutdown, or when every sender (every `Db` clone) is gone.
                    while let Ok(job) = queue.recv() {
                        job(&mut conn, &pool);
                        if closing.load(std::sync::atomic::Ordering::Acquire) {
                            break;
                        }
                    }
                    // The connection and this thread's pool handle go before the thread says it
                    // has ended: the last handle of a pool closes its connections (libpq), and
                    // that must not happen after `shutdown` has returned.
                    drop(conn);
                    drop(pool);
                    drop(alive);
                });
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(e) => tracing::error!(error = %e, "cannot start a database thread"),
            }
        }
        let wait = pool.connection_timeout();
        Self {
            pool,
            jobs,
            wait,
            closing,
            ended,
            threads: std::sync::Arc::new(std::sync::Mutex::new(handles)),
            expensive: std::sync::Arc::new(std::sync::OnceLock::new()),
        }
    }

    /// Stop for good (blocking, at most about `timeout`): refuse new jobs, let the database
    /// threads finish the jobs they have, end and join them, then close the pool
    /// ([`PgPool::close`]). Afterwards no thread of ours is inside libpq and no connection is
    /// left for another thread to close, whoever still holds a handle to the pool, so the
    /// process can exit without OpenSSL being torn down under a connection in use (the SIGSEGV
    /// at exit of issue 16). Returns whether all of it finished in time.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        use std::sync::atomic::Ordering;
        let deadline = std::time::Instant::now() + timeout;
        let left = || deadline.saturating_duration_since(std::time::Instant::now());
        self.closing.store(true, Ordering::Release);
        // Wake every thread blocked on an empty queue; each ends after one job.
        for _ in 0..self.pool.max_size() {
            let wake: Job = Box::new(|_, _| {});
            if self.jobs.send_timeout(wake, left()).is_err() {
                break;
            }
        }
        let ended = matches!(
            self.ended.recv_timeout(left()),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
        );
        if ended {
            // Each has passed its last line: joining is immediate.
            let handles = std::mem::take(
                &mut *self
                    .threads
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            for handle in handles {
                let _ = handle.join();
            }
        }
        // A floor: r2d2's threads are normally idle and arrive at once.
        let closed = self.pool.close(left().max(Duration::from_secs(1)));
        ended && closed
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Run `f` on a database connection: inside a request that holds a [`session::Session`]
    /// (an idempotent POST), on the session's connection, in its transaction; else on the next
    /// free database thread.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, crate::error::ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<crate::error::ApiError> + Send + 'static,
    {
        match session::current() {
            Some(pinned) => pinned.run(f).await,
            None => self.run_on_thread(f, self.wait).await,
        }
    }

    /// Run `f` on the next free database thread, waiting at most `wait` for one (then 503).
    async fn run_on_thread<T, E, F>(
        &self,
        f: F,
        wait: Duration,
    ) -> Result<T, crate::error::ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<crate::error::ApiError> + Send + 'static,
    {
        use crate::error::ApiError;
        use std::sync::atomic::{AtomicU8, Ordering};
        if self.closing.load(Ordering::Acquire) {
            return Err(ApiError::ServiceUnavailable(
                "the server is shutting down".into(),
            ));
        }
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let state = std::sync::Arc::new(AtomicU8::new(QUEUED));
        let job_state = state.clone();
        let enqueued = std::time::Instant::now();
        let job: Job = Box::new(move |slot, pool| {
            if job_state
                .compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return; // the request already answered 503
            }
            if slot.is_none() {
                // What is left of the request's wait, so queueing plus connecting stays within
                // the pool timeout (a floor keeps a connect attempt possible).
                let left = wait
                    .saturating_sub(enqueued.elapsed())
                    .max(Duration::from_millis(50));
                match pool.get_timeout(left) {
                    Ok(c) => *slot = Some(c),
                    Err(e) => {
                        let _ = tx.send(Err(ApiError::from(DbError::from(e))));
                        return;
                    }
                }
            }
            let Some(conn) = slot.as_mut() else { return };
            let result = f(conn).map_err(Into::into);
            // After a failure, hand the connection back: r2d2 drops broken ones (a lost server,
            // a broken transaction) and the next job checks out a fresh one.
            if result.is_err() {
                *slot = None;
            }
            let _ = tx.send(result);
        });
        self.jobs.try_send(job).map_err(|e| match e {
            crossbeam_channel::TrySendError::Full(_) => {
                ApiError::ServiceUnavailable("the database is saturated; retry shortly".into())
            }
            crossbeam_channel::TrySendError::Disconnected(_) => {
                ApiError::ServiceUnavailable("the server is shutting down".into())
            }
        })?;
        let dropped = |_| ApiError::ServiceUnavailable("a database job was dropped".into());
        // Every database thread busy (slow queries, a server that does not answer): answer 503
        // after the pool timeout rather than letting requests pile up behind them.
        match tokio::time::timeout(wait, &mut rx).await {
            Ok(result) => result.map_err(dropped)?,
            Err(_) => {
                if state
                    .compare_exchange(QUEUED, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return Err(ApiError::ServiceUnavailable(format!(
                        "no database connection became free within {} ms; retry shortly",
                        self.wait.as_millis()
                    )));
                }
                // Already running: its outcome (a commit, perhaps) is the answer.
                rx.await.map_err(dropped)?
            }
        }
    }
}

impl From<DieselError> for crate::error::ApiError {
    fn from(e: DieselError) -> Self {
        DbError::from(e).into()
    }
}

// Here rather than in error.rs: db already answers in ApiError (`Db::run`), and one direction
// between the two keeps them out of an import circle (issue 18).
impl From<DbError> for crate::error::ApiError {
    fn from(e: DbError) -> Self {
        use crate::error::ApiError;
        match e {
            DbError::Unavailable(msg) => ApiError::ServiceUnavailable(msg),
            DbError::NotFound => ApiError::NotFound("resource not found".into()),
            DbError::StatementTimeout(_) => ApiError::ServiceUnavailable(
                "the request needed more database time than this server gives one search, \
                 statistics drill-down, download or briefing (statement timeout); narrow it \
                 (a shorter period, more filters, a longer search phrase) or retry later"
                    .into(),
            ),
            DbError::UniqueViolation { detail } => ApiError::Conflict(detail),
            DbError::ForeignKeyViolation { detail } => ApiError::Conflict(detail),
            DbError::Other(msg) => ApiError::Internal(msg),
        }
    }
}

diesel::define_sql_function! {
    /// SQL `lower(text)`, for case-insensitive e-mail lookups (matches the unique index).
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_defaults_fill_in_what_the_url_leaves_out() {
        let url = with_connection_defaults("postgres://app@db:5432/liuyan");
        assert!(url.starts_with("postgres://app@db:5432/liuyan?connect_timeout=5&keepalives=1&"));
        assert!(url.ends_with("&tcp_user_timeout=60000"), "{url}");
        // What the URL sets wins, and nothing is repeated.
        let url = with_connection_defaults(
            "postgresql://app@db/liuyan?sslmode=require&connect_timeout=10&Keepalives_Idle=5",
        );
        assert_eq!(url.matches("connect_timeout").count(), 1, "{url}");
        assert!(url.contains("connect_timeout=10"), "{url}");
        assert_eq!(
            url.to_ascii_lowercase().matches("keepalives_idle").count(),
            1
        );
        assert!(
            url.contains("sslmode=require&") && url.contains("&keepalives=1"),
            "{url}"
        );
        // A key=value connection string.
        let conninfo = with_connection_defaults("host=db dbname=liuyan connect_timeout=3");
        assert!(conninfo.starts_with("host=db dbname=liuyan connect_timeout=3 keepalives=1"));
        assert_eq!(conninfo.matches("connect_timeout").count(), 1, "{conninfo}");
    }
}
