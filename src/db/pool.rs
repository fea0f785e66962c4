//! The connection pool: r2d2 with diesel's connection manager, and a way to close it for good
//! at shutdown ([`PgPool::close`]).
//!
//! Why closing needs care: r2d2 opens connections on background threads of its own (and its
//! reaper closes old ones there), and the pool's connections are closed by whichever thread
//! drops its last handle. Each of those is libpq, which speaks TLS through OpenSSL; `exit()`
//! runs OpenSSL's exit handler (`OPENSSL_cleanup`), which frees the state a connection being
//! opened or closed on another thread at that moment is using: a SIGSEGV at exit
//! (docs/RELIABILITY.md, "Shutdown"). Closing the pool before `main` returns leaves no
//! connection behind and no thread that may still open one.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, ManageConnection, Pool, PooledConnection};
use scheduled_thread_pool::ScheduledThreadPool;

use super::{DbError, with_connection_defaults};

/// r2d2's own default: threads that open (and reap) connections in the background.
const CONNECTOR_THREADS: usize = 3;

pub type PgPooled = PooledConnection<Manager>;

pub struct PoolOptions {
    pub max_size: u32,
    pub connection_timeout: Duration,
    /// Cache named prepared statements per connection (off behind a transaction pooler that
    /// cannot track them: each query then goes as an unnamed statement).
    pub statement_cache: bool,
}

/// The pool (everything r2d2's `Pool` offers, through `Deref`) and what closing it needs.
#[derive(Clone)]
pub struct PgPool {
    pool: Pool<Manager>,
    closed: Arc<AtomicBool>,
    /// r2d2's background threads, ours so that `close` can wait for them.
    connectors: Arc<ScheduledThreadPool>,
}

impl Deref for PgPool {
    type Target = Pool<Manager>;

    fn deref(&self) -> &Pool<Manager> {
        &self.pool
    }
}

/// diesel's connection manager, plus the pool's closed switch: once closed, no connection is
/// opened and every connection given back is closed instead of kept.
pub struct Manager {
    inner: ConnectionManager<PgConnection>,
    closed: Arc<AtomicBool>,
}

impl ManageConnection for Manager {
    type Connection = PgConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PgConnection, Self::Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(diesel::r2d2::Error::ConnectionError(
                diesel::ConnectionError::BadConnection("the pool is closed (shutting down)".into()),
            ));
        }
        self.inner.connect()
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), Self::Error> {
        self.inner.is_valid(conn)
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        self.closed.load(Ordering::Acquire) || self.inner.has_broken(conn)
    }
}

impl PgPool {
    /// Close the pool for good (blocking): no connection is opened any more; the idle ones are
    /// closed on this thread, after r2d2's threads have finished what they were doing (so a
    /// connection one of them was opening is in the pool by then and closed here too); a
    /// connection still checked out is closed when it is given back. False when r2d2's threads
    /// were not idle within `timeout` (an attempt on a server that does not answer): one may
    /// still be inside libpq.
    pub fn close(&self, timeout: Duration) -> bool {
        self.closed.store(true, Ordering::Release);
        // One blocking job per thread: once every thread has started one, none is running r2d2
        // work, and jobs r2d2 schedules from now on find the pool closed.
        let (arrived_tx, arrived) = std::sync::mpsc::channel::<()>();
        let (release, released) = crossbeam_channel::bounded::<()>(0);
        for _ in 0..CONNECTOR_THREADS {
            let arrived_tx = arrived_tx.clone();
            let released = released.clone();
            self.connectors.execute(move || {
                let _ = arrived_tx.send(());
                // Returns when `release` is dropped, at the end of `close` (also on a panic).
                let _ = released.recv();
            });
        }
        let deadline = Instant::now() + timeout;
        let quiet = (0..CONNECTOR_THREADS).all(|_| {
            arrived
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_ok()
        });
        // Each connection taken from the pool is closed as it is given back (`has_broken`).
        while let Some(conn) = self.pool.try_get() {
            drop(conn);
        }
        drop(release);
        quiet
    }
}

/// Build the pool. Checkout health checks are off (each would add a round trip to every
/// request); broken connections are detected by diesel's `has_broken` when they return.
/// Connections get the [`super::CONNECTION_DEFAULTS`] the URL does not override.
pub fn build_pool(database_url: &str, opts: &PoolOptions) -> Result<PgPool, DbError> {
    let (builder, manager, closed, connectors) = parts(database_url, opts);
    let pool = builder.build(manager).map_err(DbError::from)?;
    Ok(PgPool {
        pool,
        closed,
        connectors,
    })
}

/// The same pool without waiting for its first connections (a test points one at a port where
/// nothing listens).
pub fn build_pool_unchecked(database_url: &str, opts: &PoolOptions) -> PgPool {
    let (builder, manager, closed, connectors) = parts(database_url, opts);
    PgPool {
        pool: builder.build_unchecked(manager),
        closed,
        connectors,
    }
}

type Parts = (
    diesel::r2d2::Builder<Manager>,
    Manager,
    Arc<AtomicBool>,
    Arc<ScheduledThreadPool>,
);

fn parts(database_url: &str, opts: &PoolOptions) -> Parts {
    let closed = Arc::new(AtomicBool::new(false));
    let manager = Manager {
        inner: ConnectionManager::new(with_connection_defaults(database_url)),
        closed: closed.clone(),
    };
    let connectors = Arc::new(
        ScheduledThreadPool::builder()
            .num_threads(CONNECTOR_THREADS)
            .thread_name_pattern("r2d2-worker-{}")
            .build(),
    );
    let mut builder = Pool::builder().thread_pool(connectors.clone());
    if !opts.statement_cache {
        builder = builder.connection_customizer(Box::new(NoStatementCache));
    }
    let builder = builder
        .max_size(opts.max_size)
        .min_idle(Some(opts.max_size.min(2)))
        .connection_timeout(opts.connection_timeout)
        .test_on_check_out(false)
        .error_handler(Box::new(WarnOnConnectError {
            closed: closed.clone(),
        }));
    (builder, manager, closed, connectors)
}

/// Turns diesel's statement cache off on every new connection.
#[derive(Debug)]
struct NoStatementCache;

impl diesel::r2d2::CustomizeConnection<PgConnection, diesel::r2d2::Error> for NoStatementCache {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        use diesel::connection::{CacheSize, Connection};
        conn.set_prepared_statement_cache_size(CacheSize::Disabled);
        Ok(())
    }
}

/// r2d2 reports every failed attempt to open a connection (at `error` level by default): during
/// an outage that is several a second, and the clients already get 503. A warning each; none
/// once the pool is closed (r2d2 keeps trying to refill it, and is refused without libpq).
#[derive(Debug)]
struct WarnOnConnectError {
    closed: Arc<AtomicBool>,
}

impl diesel::r2d2::HandleError<diesel::r2d2::Error> for WarnOnConnectError {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        if !self.closed.load(Ordering::Acquire) {
            tracing::warn!(%error, "cannot open a database connection");
        }
    }
}
