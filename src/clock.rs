//! The time source. Deadlines are judged against "now"; tests pin it to replay hand-computed
//! fixtures across holidays, so every handler and the scheduler read the time from here.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<RwLock<DateTime<Utc>>>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that stands at `at` until set or advanced (tests).
    pub fn manual(at: DateTime<Utc>) -> Self {
        Self {
            manual: Some(Arc::new(RwLock::new(at))),
        }
    }

    /// Now, at the microsecond precision PostgreSQL stores (so hashes over stored times agree).
    pub fn now(&self) -> DateTime<Utc> {
        let t = match &self.manual {
            None => Utc::now(),
            Some(m) => match m.read() {
                Ok(t) => *t,
                Err(poisoned) => *poisoned.into_inner(),
            },
        };
        crate::domain::ledger::db_time(t)
    }

    /// Move a manual clock to `at` (no effect on the system clock).
    pub fn set(&self, at: DateTime<Utc>) {
        if let Some(m) = &self.manual {
            match m.write() {
                Ok(mut t) => *t = at,
                Err(poisoned) => *poisoned.into_inner() = at,
            }
        }
    }

    pub fn advance(&self, by: Duration) {
        let now = self.now();
        self.set(now + by);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_stands_still_until_moved() {
        let t = DateTime::parse_from_rfc3339("2026-10-09T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let c = Clock::manual(t);
        assert_eq!(c.now(), t);
        c.advance(Duration::hours(3));
        assert_eq!(c.now(), t + Duration::hours(3));
        let shared = c.clone();
        shared.set(t);
        assert_eq!(c.now(), t);
        assert!(Clock::system().now() > t - Duration::days(3650));
    }
}
