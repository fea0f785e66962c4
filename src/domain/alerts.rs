//! Early warning (预警): the vocabulary of alert rules and alerts, and the pure rules that decide
//! when a rule fires. The queries that feed them live in `store::alerts`.

use chrono::{DateTime, NaiveDate, Utc};

crate::text_enum! {
    /// What an alert rule watches.
    pub enum AlertRuleKind {
        /// Keywords or phrases in a message's title or body, checked at intake. A hit marks the
        /// message important.
        Keyword => "keyword",
        /// More messages of a category and/or region within a window than usual, checked by
        /// the scheduler.
        Spike => "spike",
        /// The same author, or the same address, writing again and again, checked at intake
        /// (and caught up by the scheduler).
        Repeat => "repeat",
    }
}

crate::text_enum! {
    /// What a repeat rule compares.
    pub enum RepeatBy {
        /// The author's account (messages registered by staff have none).
        Author => "author",
        /// The address, normalised (spacing, punctuation and full-width characters ignored).
        Address => "address",
    }
}

crate::text_enum! {
    /// Where an alert stands.
    pub enum AlertStatus {
        /// Raised, nobody has looked at it yet.
        Open => "open",
        /// Someone in charge has seen it (with a note).
        Acknowledged => "acknowledged",
    }
}

/// Keywords per rule.
pub const MAX_KEYWORDS: usize = 20;
/// Spike rules: messages in a window.
pub const SPIKE_THRESHOLD: (i32, i32) = (1, 100_000);
/// Spike rules: the window, in hours (at most a week).
pub const WINDOW_HOURS: (i32, i32) = (1, 168);
/// Spike rules: days of history the baseline averages (0: no baseline).
pub const BASELINE_DAYS: (i32, i32) = (0, 90);
pub const DEFAULT_BASELINE_DAYS: i32 = 7;
/// Spike rules: how far above the baseline a window must be.
pub const BASELINE_FACTOR: (f64, f64) = (1.0, 100.0);
pub const DEFAULT_BASELINE_FACTOR: f64 = 2.0;
/// Repeat rules: messages of one author or address (at least two make a repetition).
pub const REPEAT_THRESHOLD: (i32, i32) = (2, 1_000);
/// Repeat rules: the window, in days.
pub const WINDOW_DAYS: (i32, i32) = (1, 365);
/// An alert links at most this many messages when raised (the newest ones of its window); its
/// details keep the full count.
pub const MAX_LINKED: i64 = 100;

/// Whether a spike window fires, and the baseline it was compared with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpikeVerdict {
    pub fires: bool,
    /// Average count of the same window on the days before (0 without baseline days).
    pub baseline_average: f64,
}

/// A window with `count` messages fires when it reaches `threshold` and exceeds `factor` × the
/// average of `previous` (the same window on each of the days before; empty: no baseline).
pub fn spike_verdict(count: i64, previous: &[i64], threshold: i32, factor: f64) -> SpikeVerdict {
    let baseline_average = if previous.is_empty() {
        0.0
    } else {
        previous.iter().sum::<i64>() as f64 / previous.len() as f64
    };
    let above_baseline = previous.is_empty() || count as f64 > factor * baseline_average;
    SpikeVerdict {
        fires: count >= i64::from(threshold) && above_baseline,
        baseline_average,
    }
}

/// The period a repetition belongs to: consecutive blocks of `window_days` local days since
/// 1970-01-01. A repetition raises one alert per rule, subject and period; later messages of the
/// same period join that alert.
pub fn repeat_period(day: NaiveDate, window_days: i32) -> i64 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN);
    (day - epoch)
        .num_days()
        .div_euclid(i64::from(window_days.max(1)))
}

/// The period of an instant (its Shanghai date).
pub fn repeat_period_at(t: DateTime<Utc>, window_days: i32) -> i64 {
    repeat_period(crate::domain::calendar::local_date(t), window_days)
}

/// The deepest region path that contains all of `paths` (`620000/620100/` for
/// `620000/620100/620102/` and `620000/620100/620103/`); empty when they share nothing.
pub fn common_region_path<'a>(paths: impl IntoIterator<Item = &'a str>) -> String {
    let mut common: Option<Vec<&str>> = None;
    for p in paths {
        let parts: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
        common = Some(match common {
            None => parts,
            Some(c) => c
                .iter()
                .zip(parts.iter())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| *a)
                .collect(),
        });
    }
    common
        .unwrap_or_default()
        .iter()
        .map(|c| format!("{c}/"))
        .collect()
}

/// The region code a path ends in (`620102` for `620000/620100/620102/`).
pub fn last_code(path: &str) -> Option<&str> {
    path.split('/').rfind(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names() {
        AlertRuleKind::assert_wire_names();
        RepeatBy::assert_wire_names();
        AlertStatus::assert_wire_names();
    }

    #[test]
    fn a_spike_needs_the_threshold_and_more_than_factor_times_the_baseline() {
        // 10 against an average of 4: above 2 × 4.
        let v = spike_verdict(10, &[4, 4, 3, 5], 10, 2.0);
        assert!(v.fires);
        assert_eq!(v.baseline_average, 4.0);
        // 8 is exactly 2 × 4: not above.
        assert!(!spike_verdict(8, &[4, 4, 4], 5, 2.0).fires);
        // Above the baseline but under the threshold.
        assert!(!spike_verdict(9, &[1, 1], 10, 2.0).fires);
        // A quiet history: any window over the threshold fires.
        assert!(spike_verdict(3, &[0, 0, 0], 3, 2.0).fires);
        // No baseline days: the threshold alone decides.
        let v = spike_verdict(3, &[], 3, 5.0);
        assert!(v.fires);
        assert_eq!(v.baseline_average, 0.0);
        assert!(!spike_verdict(2, &[], 3, 5.0).fires);
    }

    #[test]
    fn repeat_periods_are_blocks_of_local_days() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(repeat_period(d("1970-01-01"), 7), 0);
        assert_eq!(repeat_period(d("1970-01-07"), 7), 0);
        assert_eq!(repeat_period(d("1970-01-08"), 7), 1);
        assert_eq!(
            repeat_period(d("2026-11-26"), 1) + 1,
            repeat_period(d("2026-11-27"), 1)
        );
        // 23:30 UTC on the 25th is already the 26th in Shanghai.
        let late: DateTime<Utc> = "2026-11-25T23:30:00Z".parse().unwrap();
        assert_eq!(repeat_period_at(late, 1), repeat_period(d("2026-11-26"), 1));
    }

    #[test]
    fn the_common_region_of_paths() {
        assert_eq!(
            common_region_path(["620000/620100/620102/", "620000/620100/620103/"]),
            "620000/620100/"
        );
        assert_eq!(
            common_region_path(["620000/620100/620102/"]),
            "620000/620100/620102/"
        );
        assert_eq!(
            common_region_path(["620000/620100/620102/", "620000/620500/"]),
            "620000/"
        );
        assert_eq!(common_region_path(["620000/", "630000/"]), "");
        assert_eq!(common_region_path(std::iter::empty()), "");
        assert_eq!(last_code("620000/620100/"), Some("620100"));
        assert_eq!(last_code(""), None);
    }
}
