//! The intake quota: how many messages one citizen account may submit per hour and per day.
//! Real citizens write a few messages a year; a flood from one account is abuse that would
//! bury the liaison office's queue.

use chrono::{DateTime, Duration, Utc};

/// Limits per sliding window; 0 means no limit.
#[derive(Debug, Clone, Copy)]
pub struct IntakeQuota {
    pub per_hour: u32,
    pub per_day: u32,
}

impl IntakeQuota {
    /// How many of the account's latest submissions the check needs to see.
    pub fn lookback(&self) -> usize {
        self.per_hour.max(self.per_day) as usize
    }

    pub fn is_unlimited(&self) -> bool {
        self.per_hour == 0 && self.per_day == 0
    }

    /// `Ok` when one more submission at `now` fits; else the whole seconds until it would.
    /// `recent` are the account's latest submission times, newest first (at most
    /// [`Self::lookback`] of them).
    pub fn check(&self, now: DateTime<Utc>, recent: &[DateTime<Utc>]) -> Result<(), u64> {
        let mut wait = Duration::zero();
        for (limit, window) in [
            (self.per_hour, Duration::hours(1)),
            (self.per_day, Duration::days(1)),
        ] {
            let limit = limit as usize;
            if limit == 0 {
                continue;
            }
            let in_window: Vec<&DateTime<Utc>> =
                recent.iter().filter(|t| now - **t < window).collect();
            if in_window.len() >= limit {
                // The submission that must leave the window before one more fits.
                let leaving = in_window[limit - 1];
                wait = wait.max(*leaving + window - now);
            }
        }
        if wait > Duration::zero() {
            Err(u64::try_from(wait.num_seconds()).unwrap_or(0).max(1))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(mins: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(mins)
    }

    #[test]
    fn the_hour_and_the_day_each_bound_submissions() {
        let q = IntakeQuota {
            per_hour: 3,
            per_day: 5,
        };
        let now = at(0);
        assert_eq!(q.check(now, &[]), Ok(()));
        assert_eq!(q.check(now, &[at(-1), at(-2)]), Ok(()));
        // Three in the last hour: the oldest of them leaves in 60 - 50 minutes.
        assert_eq!(q.check(now, &[at(-1), at(-2), at(-50)]), Err(600));
        // Five in the day, only two in the hour: wait for the fifth newest to be a day old.
        let day = [at(-1), at(-2), at(-120), at(-180), at(-600)];
        assert_eq!(q.check(now, &day), Err((24 * 60 - 600) * 60));
        // Old submissions do not count.
        assert_eq!(q.check(now, &[at(-61), at(-62), at(-63)]), Ok(()));
    }

    #[test]
    fn zero_means_no_limit() {
        let q = IntakeQuota {
            per_hour: 0,
            per_day: 0,
        };
        assert!(q.is_unlimited());
        assert_eq!(q.check(at(0), &[at(0); 40]), Ok(()));
    }
}
