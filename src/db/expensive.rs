//! A separate budget for expensive reads (issue 26, item 4).
//!
//! Every database job shares one FIFO queue of database threads. A search that walks many rows,
//! a statistics drill-down, a download or a briefing's candidate search holds its thread for
//! tenths of a second or longer, so a handful of callers of those could hold every thread and
//! turn cheap requests (`GET /me`, a message by id) into 503s. [`Db::run_expensive`] admits at
//! most [`ExpensiveBudget::size`] such jobs at once — by default one fewer than the database
//! threads, so at least one thread is always left for everything else — and runs each under a
//! `statement_timeout`, so none can hold a thread for long either. A job that finds the budget
//! taken waits for it as long as any job waits for a thread (the pool timeout), then answers 503
//! with `Retry-After`; a statement cut off by the timeout answers 503 saying so
//! (`DbError::StatementTimeout`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::{Connection, SimpleConnection};
use diesel::pg::PgConnection;

use super::Db;
use crate::error::ApiError;

/// How many expensive jobs may run at once, and how long each statement of theirs may take.
#[derive(Debug, Clone)]
pub struct ExpensiveBudget {
    permits: Arc<tokio::sync::Semaphore>,
    size: usize,
    statement_timeout: Duration,
}

/// The default statement timeout of an expensive read.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

impl ExpensiveBudget {
    /// `size` jobs at once (at least one); `statement_timeout` zero: none.
    pub fn new(size: usize, statement_timeout: Duration) -> Self {
        let size = size.max(1);
        ExpensiveBudget {
            permits: Arc::new(tokio::sync::Semaphore::new(size)),
            size,
            statement_timeout,
        }
    }

    /// The default for `threads` database threads: all but one (at least one).
    pub fn for_threads(threads: usize) -> Self {
        Self::new(threads.saturating_sub(1), DEFAULT_STATEMENT_TIMEOUT)
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// Jobs running (or queued for a thread) now.
    pub fn in_use(&self) -> usize {
        self.size - self.permits.available_permits()
    }

    pub fn statement_timeout(&self) -> Duration {
        self.statement_timeout
    }
}

/// `f` in a transaction whose statements may take at most `timeout_ms` (0: no limit). `SET
/// LOCAL` keeps the limit to this transaction, also behind a pooler in transaction mode; inside
/// a request's session it lives in the job's savepoint and is reset after it.
fn bounded<T, E, F>(conn: &mut PgConnection, timeout_ms: u128, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut PgConnection) -> Result<T, E>,
    E: Into<ApiError>,
{
    if timeout_ms == 0 {
        return f(conn).map_err(Into::into);
    }
    conn.transaction::<T, ApiError, _>(|conn| {
        conn.batch_execute(&format!("SET LOCAL statement_timeout = {timeout_ms}"))?;
        let out = f(conn).map_err(Into::into)?;
        conn.batch_execute("SET LOCAL statement_timeout TO DEFAULT")?;
        Ok(out)
    })
}

impl Db {
    /// Set the budget of expensive reads (once, at start; later calls change nothing).
    pub fn set_expensive_budget(&self, budget: ExpensiveBudget) {
        if self.expensive.set(budget).is_err() {
            tracing::warn!("the expensive-read budget was already set; keeping the first");
        }
    }

    /// The budget in force.
    pub fn expensive_budget(&self) -> &ExpensiveBudget {
        self.expensive
            .get_or_init(|| ExpensiveBudget::for_threads(self.pool.max_size() as usize))
    }

    /// [`Db::run`] for an expensive read: waits (at most the pool timeout, then 503) until
    /// fewer than the budget's size of them are running, and runs `f` under the budget's
    /// statement timeout. The permit is held by the job itself, so it is given back when the
    /// job has finished on its thread (or was dropped unrun), never while it still runs.
    pub async fn run_expensive<T, E, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
    {
        let started = Instant::now();
        let budget = self.expensive_budget().clone();
        let permit =
            match tokio::time::timeout(self.wait, budget.permits.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => {
                    return Err(ApiError::ServiceUnavailable(
                        "the server is shutting down".into(),
                    ));
                }
                Err(_) => {
                    return Err(ApiError::ServiceUnavailable(format!(
                        "{} expensive requests (searches, statistics drill-downs, downloads, \
                         briefings) are running, as many as this server runs at once; retry \
                         shortly",
                        budget.size
                    )));
                }
            };
        let timeout_ms = budget.statement_timeout.as_millis();
        let job = move |conn: &mut PgConnection| {
            let _permit = permit;
            bounded(conn, timeout_ms, f)
        };
        match super::session::current() {
            Some(pinned) => pinned.run(job).await,
            None => {
                // Waiting for the budget and for a thread share one pool timeout.
                let left = self
                    .wait
                    .saturating_sub(started.elapsed())
                    .max(Duration::from_millis(50));
                self.run_on_thread(job, left).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_leaves_one_thread_for_cheap_work() {
        assert_eq!(ExpensiveBudget::for_threads(4).size(), 3);
        assert_eq!(ExpensiveBudget::for_threads(2).size(), 1);
        assert_eq!(ExpensiveBudget::for_threads(1).size(), 1, "at least one");
        assert_eq!(ExpensiveBudget::new(0, Duration::ZERO).size(), 1);
    }
}
