//! Plausibility of the times an integration client sends with imported items. The platform's
//! times are kept (a message's `submitted_at`, a reply's `published_at`) and feed deadlines,
//! statistics periods and the rating window, so a time that cannot be true is refused with the
//! rule that refused it rather than stored.

use chrono::{DateTime, Duration, Utc};

/// A clock a little ahead of ours is tolerated; more is not "now" on any platform.
pub const FUTURE_SKEW: Duration = Duration::minutes(5);

/// How far back an imported item may lie: the platform syncs what is being handled, and a
/// message older than this is history (its handling, deadlines and rating window long over), not
/// work to do here. A history migration is a data load, not a sync.
pub const MAX_AGE_DAYS: i64 = 3 * 366;

/// Why `t` (the item's `field`) cannot be true at `now`, if it cannot: further ahead than the
/// tolerated skew, or older than [`MAX_AGE_DAYS`].
pub fn time_refusal(t: DateTime<Utc>, now: DateTime<Utc>) -> Option<(&'static str, String)> {
    if t > now + FUTURE_SKEW {
        return Some((
            "in_future",
            "lies in the future (more than 5 minutes ahead of the server's clock)".to_owned(),
        ));
    }
    if t < now - Duration::days(MAX_AGE_DAYS) {
        return Some((
            "too_old",
            format!(
                "lies more than {MAX_AGE_DAYS} days in the past; the sync carries current work, not history"
            ),
        ));
    }
    None
}

/// Why a reply published at `published_at` cannot belong to this handling, if it cannot: no
/// reply predates the message, no unit replies before the message was handed to it, and a final
/// reply (which closes the reply clock) comes after the sign-for that started that clock.
pub fn reply_time_refusal(
    published_at: DateTime<Utc>,
    is_final: bool,
    submitted_at: DateTime<Utc>,
    assigned_at: DateTime<Utc>,
    signed_for_at: Option<DateTime<Utc>>,
) -> Option<String> {
    let (bound, what) = match signed_for_at {
        Some(signed) if is_final => (signed, "the responsible unit signed for the message"),
        _ => (
            assigned_at.max(submitted_at),
            "the message was handed to the responsible unit",
        ),
    };
    (published_at < bound).then(|| {
        format!(
            "lies before {what} ({}); a reply cannot precede its handling",
            bound.to_rfc3339()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 2, 0, 0).unwrap()
    }

    #[test]
    fn times_must_be_recent_and_not_ahead() {
        let now = at(2026, 12, 7);
        assert_eq!(time_refusal(now, now), None);
        assert_eq!(time_refusal(now + Duration::minutes(4), now), None);
        assert_eq!(time_refusal(at(2024, 1, 2), now), None);
        assert_eq!(
            time_refusal(now + Duration::minutes(6), now).unwrap().0,
            "in_future"
        );
        assert_eq!(time_refusal(at(1, 1, 1), now).unwrap().0, "too_old");
        assert_eq!(time_refusal(at(2001, 1, 1), now).unwrap().0, "too_old");
    }

    #[test]
    fn replies_follow_the_handling() {
        let submitted = at(2026, 12, 1);
        let assigned = at(2026, 12, 2);
        let signed = at(2026, 12, 3);
        // A final reply closes the clock the sign-for started.
        assert!(
            reply_time_refusal(at(2026, 12, 2), true, submitted, assigned, Some(signed)).is_some()
        );
        assert!(
            reply_time_refusal(at(2026, 12, 3), true, submitted, assigned, Some(signed)).is_none()
        );
        assert!(
            reply_time_refusal(at(2001, 1, 1), true, submitted, assigned, Some(signed)).is_some()
        );
        // An interim reply after the hand-over is fine; before it, not.
        assert!(
            reply_time_refusal(at(2026, 12, 2), false, submitted, assigned, Some(signed)).is_none()
        );
        assert!(reply_time_refusal(at(2026, 12, 1), false, submitted, assigned, None).is_some());
    }
}
