//! One connection and one transaction for a whole request.
//!
//! An idempotent POST must commit its work and the record of its answer together, or neither:
//! with two commits, a crash (or a slow queue) between them leaves the work done and the key
//! not knowing it, and the retry does the work again. So the idempotency middleware takes a
//! database thread for the request ([`Db::begin_session`]), opens a transaction there, and
//! every `Db::run` of the request runs on it (a task-local), each in a savepoint; the answer is
//! written to the key and the whole committed once the handler has answered. If the process
//! dies first, PostgreSQL rolls everything back with the connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::{
    AnsiTransactionManager, Connection, SimpleConnection, TransactionManager,
};
use diesel::pg::PgConnection;

use super::{ABANDONED, Db, DbError, Job, QUEUED, STARTED};
use crate::error::ApiError;

type SubJob = Box<dyn FnOnce(&mut PgConnection) + Send>;

tokio::task_local! {
    static PINNED: Pinned;
}

/// The way to a session's database thread.
#[derive(Clone)]
pub struct Pinned {
    jobs: crossbeam_channel::Sender<SubJob>,
}

/// The session of the running request, if it has one.
pub(super) fn current() -> Option<Pinned> {
    PINNED.try_with(Clone::clone).ok()
}

/// A job's failure inside its savepoint: its own error, or the savepoint's.
enum Nested<E> {
    Job(E),
    Db(diesel::result::Error),
}

impl<E> From<diesel::result::Error> for Nested<E> {
    fn from(e: diesel::result::Error) -> Self {
        Nested::Db(e)
    }
}

fn ended() -> ApiError {
    ApiError::ServiceUnavailable("the request's database session has ended; retry".into())
}

impl Pinned {
    pub(super) async fn run<T, E, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: SubJob = Box::new(move |conn| {
            // A savepoint per job: a failing statement undoes this job only, and the request's
            // transaction stays usable for what the handler does next.
            let result = conn
                .transaction::<T, Nested<E>, _>(|conn| f(conn).map_err(Nested::Job))
                .map_err(|e| match e {
                    Nested::Job(e) => e.into(),
                    Nested::Db(e) => ApiError::from(e),
                });
            let _ = tx.send(result);
        });
        self.jobs.send(job).map_err(|_| ended())?;
        rx.await.map_err(|_| ended())?
    }
}

/// A request's connection and open transaction. Dropped without [`Session::commit`], the
/// transaction is rolled back and the thread freed.
pub struct Session {
    pinned: Pinned,
}

impl Session {
    /// Run `fut` with every `Db::run` inside it on this session.
    pub async fn scope<F: std::future::Future>(&self, fut: F) -> F::Output {
        PINNED.scope(self.pinned.clone(), fut).await
    }

    /// Run `f` in the session's transaction (in a savepoint).
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
    {
        self.pinned.run(f).await
    }

    /// Roll back and free the thread before answering: the key's lock must be gone by the
    /// time the client can send its next request (dropping the session ends it too, but only
    /// some time after the answer has left).
    pub async fn rollback(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: SubJob = Box::new(move |conn| {
            let _ = tx.send(AnsiTransactionManager::rollback_transaction(conn));
        });
        if self.pinned.jobs.send(job).is_ok() {
            let _ = rx.await;
        }
    }

    /// Commit everything the request did.
    pub async fn commit(self) -> Result<(), ApiError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: SubJob = Box::new(move |conn| {
            let _ =
                tx.send(AnsiTransactionManager::commit_transaction(conn).map_err(ApiError::from));
        });
        self.pinned.jobs.send(job).map_err(|_| ended())?;
        rx.await.map_err(|_| ended())?
    }
}

impl Db {
    /// Take a database thread for one request and begin a transaction on it. Waits for a
    /// thread as long as `run` does (then 503).
    pub async fn begin_session(&self) -> Result<Session, ApiError> {
        if self.closing.load(Ordering::Acquire) {
            return Err(ApiError::ServiceUnavailable(
                "the server is shutting down".into(),
            ));
        }
        let (sub_tx, sub_rx) = crossbeam_channel::unbounded::<SubJob>();
        let (tx, mut rx) = tokio::sync::oneshot::channel::<Result<(), ApiError>>();
        let state = Arc::new(AtomicU8::new(QUEUED));
        let job_state = state.clone();
        let (wait, enqueued) = (self.wait, Instant::now());
        let job: Job = Box::new(move |slot, pool| {
            if job_state
                .compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return;
            }
            if slot.is_none() {
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
            let clean = {
                let Some(conn) = slot.as_mut() else { return };
                let conn: &mut PgConnection = conn;
                match AnsiTransactionManager::begin_transaction(conn) {
                    Err(e) => {
                        let _ = tx.send(Err(ApiError::from(e)));
                        false
                    }
                    Ok(()) => {
                        let _ = tx.send(Ok(()));
                        // Until the request commits, or drops its session (answered, failed,
                        // or its client went away).
                        while let Ok(job) = sub_rx.recv() {
                            job(conn);
                        }
                        let status = AnsiTransactionManager::transaction_manager_status_mut(conn);
                        match status.transaction_depth() {
                            Ok(None) => true,
                            // Not committed: roll back. The connection is then replaced, as
                            // after any failure (it may be the reason).
                            Ok(Some(_)) => {
                                let _ = conn.batch_execute("ROLLBACK");
                                false
                            }
                            Err(_) => false,
                        }
                    }
                }
            };
            if !clean {
                *slot = None;
            }
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
        let started = match tokio::time::timeout(self.wait, &mut rx).await {
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
                rx.await.map_err(dropped)?
            }
        };
        started.map(|()| Session {
            pinned: Pinned { jobs: sub_tx },
        })
    }
}
