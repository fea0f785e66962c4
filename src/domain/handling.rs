//! Vocabularies and pure rules of the handling stage: assignments, deadlines, extensions,
//! supervision.

use chrono::{DateTime, Utc};

crate::text_enum! {
    /// A unit's part in handling a message.
    pub enum AssignmentRole {
        /// The lead unit (主办): it replies.
        Lead => "lead",
        /// A co-handling unit (协办): it contributes internally.
        CoHandler => "co_handler",
    }
}

crate::text_enum! {
    /// How the unit got the message.
    pub enum AssignmentOrigin {
        /// Handed over by the liaison office or a supervisor.
        Assigned => "assigned",
        /// Claimed by the unit itself (territorial jurisdiction).
        Claimed => "claimed",
        /// Moved here from another unit (转办).
        Transferred => "transferred",
        /// Sent back to the unit after its final reply (unsatisfied rating, failed visit).
        Reopened => "reopened",
    }
}

crate::text_enum! {
    /// Where an assignment stands.
    pub enum AssignmentStatus {
        /// Waiting for the unit to sign for it (签收).
        Pending => "pending",
        /// Signed for; the unit is working on it.
        SignedFor => "signed_for",
        /// Sent back by the unit (退回).
        Returned => "returned",
        /// Moved to another unit (转办); `transferred_to` names the new assignment.
        Transferred => "transferred",
        /// Done: the final reply was published (lead) or the contribution posted (co-handler).
        Completed => "completed",
        /// Ended because the lead unit returned the message.
        Cancelled => "cancelled",
    }
}

impl AssignmentStatus {
    /// Still the unit's work.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            AssignmentStatus::Pending | AssignmentStatus::SignedFor
        )
    }
}

crate::text_enum! {
    /// Why a unit sends a message back.
    pub enum ReturnReason {
        NotOurJurisdiction => "not_our_jurisdiction",
        BelongsToHigherLevel => "belongs_to_higher_level",
        BelongsToLowerLevel => "belongs_to_lower_level",
        Other => "other",
    }
}

/// From this many returns on, units dispute the message and only a supervisor may assign it.
pub const DISPUTE_AFTER_RETURNS: i32 = 2;

crate::text_enum! {
    /// What a deadline is for.
    pub enum DeadlineKind {
        /// To sign for the assignment; starts at assignment.
        SignFor => "sign_for",
        /// To publish the reply; starts at sign-for (or claim).
        Reply => "reply",
    }
}

crate::text_enum! {
    /// A deadline as stored: running, or closed with a frozen verdict.
    pub enum DeadlineRecordState {
        Open => "open",
        Met => "met",
        Missed => "missed",
        /// Ended without a verdict: the unit is no longer responsible (return, transfer).
        Cancelled => "cancelled",
    }
}

crate::text_enum! {
    /// A deadline as the supervision office sees it now.
    pub enum DeadlineState {
        /// Running, more than the policy's due-soon days left.
        OnTrack => "on_track",
        /// Running, within the due-soon days.
        DueSoon => "due_soon",
        /// Running past its due time.
        Overdue => "overdue",
        /// Waiting for the citizen to clarify: the clock stands still.
        Paused => "paused",
        /// Closed in time.
        Met => "met",
        /// Closed late.
        Missed => "missed",
        /// Ended without a verdict (return, transfer).
        Cancelled => "cancelled",
    }
}

/// The state of a deadline at `now`.
pub fn deadline_state(
    stored: DeadlineRecordState,
    due_soon_at: Option<DateTime<Utc>>,
    due_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DeadlineState {
    match (stored, due_soon_at, due_at) {
        (DeadlineRecordState::Met, _, _) => DeadlineState::Met,
        (DeadlineRecordState::Missed, _, _) => DeadlineState::Missed,
        (DeadlineRecordState::Cancelled, _, _) => DeadlineState::Cancelled,
        (DeadlineRecordState::Open, _, None) => DeadlineState::Paused,
        (DeadlineRecordState::Open, _, Some(due)) if now >= due => DeadlineState::Overdue,
        (DeadlineRecordState::Open, Some(soon), Some(_)) if now >= soon => DeadlineState::DueSoon,
        (DeadlineRecordState::Open, _, Some(_)) => DeadlineState::OnTrack,
    }
}

/// The verdict when a deadline closes at `at`: in time up to and including the due instant.
pub fn verdict(due_at: DateTime<Utc>, at: DateTime<Utc>) -> DeadlineRecordState {
    if at <= due_at {
        DeadlineRecordState::Met
    } else {
        DeadlineRecordState::Missed
    }
}

crate::text_enum! {
    pub enum ExtensionStatus {
        Pending => "pending",
        Approved => "approved",
        Rejected => "rejected",
        /// The assignment ended (final reply published, returned, transferred, cancelled)
        /// before a decision: nothing is left to extend.
        Lapsed => "lapsed",
    }
}

/// Why an extension cannot be granted under the policy, if it cannot.
pub fn extension_refusal(
    granted_count: i32,
    granted_days: i32,
    requested_days: i32,
    max_extensions: i32,
    max_extension_days: i32,
) -> Option<String> {
    if granted_count >= max_extensions {
        return Some(format!(
            "the policy allows {max_extensions} extension(s) and {granted_count} were granted"
        ));
    }
    if granted_days + requested_days > max_extension_days {
        return Some(format!(
            "the policy allows {max_extension_days} working days of extensions in all; \
             {granted_days} were granted, so at most {} more",
            (max_extension_days - granted_days).max(0)
        ));
    }
    None
}

crate::text_enum! {
    /// How hard a supervision case presses.
    pub enum SupervisionLevel {
        General => "general",
        Key => "key",
        Urgent => "urgent",
    }
}

crate::text_enum! {
    pub enum SupervisionStatus {
        Open => "open",
        Closed => "closed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn states_follow_the_clock() {
        use DeadlineRecordState as R;
        let soon = Some(t("2026-11-26T16:00:00Z"));
        let due = Some(t("2026-11-27T16:00:00Z"));
        let st = |now| deadline_state(R::Open, soon, due, t(now));
        assert_eq!(st("2026-11-26T10:00:00Z"), DeadlineState::OnTrack);
        assert_eq!(st("2026-11-26T16:00:00Z"), DeadlineState::DueSoon);
        assert_eq!(st("2026-11-27T15:59:59Z"), DeadlineState::DueSoon);
        assert_eq!(st("2026-11-27T16:00:00Z"), DeadlineState::Overdue);
        assert_eq!(
            deadline_state(R::Open, None, None, t("2026-11-30T00:00:00Z")),
            DeadlineState::Paused
        );
        assert_eq!(
            deadline_state(R::Met, soon, due, t("2027-01-01T00:00:00Z")),
            DeadlineState::Met
        );
        assert_eq!(
            deadline_state(R::Missed, soon, due, t("2026-01-01T00:00:00Z")),
            DeadlineState::Missed
        );
    }

    #[test]
    fn verdict_counts_the_due_instant_as_in_time() {
        let due = t("2026-11-27T16:00:00Z");
        assert_eq!(verdict(due, due), DeadlineRecordState::Met);
        assert_eq!(
            verdict(due, due + chrono::Duration::microseconds(1)),
            DeadlineRecordState::Missed
        );
    }

    #[test]
    fn extensions_are_limited_in_number_and_days() {
        assert_eq!(extension_refusal(0, 0, 5, 2, 15), None);
        assert_eq!(extension_refusal(1, 5, 10, 2, 15), None);
        assert!(
            extension_refusal(2, 5, 1, 2, 15)
                .unwrap()
                .contains("2 extension")
        );
        assert!(
            extension_refusal(1, 10, 6, 2, 15)
                .unwrap()
                .contains("at most 5")
        );
        assert!(extension_refusal(0, 0, 1, 0, 15).is_some());
    }

    #[test]
    fn wire_names() {
        AssignmentRole::assert_wire_names();
        AssignmentOrigin::assert_wire_names();
        AssignmentStatus::assert_wire_names();
        ReturnReason::assert_wire_names();
        DeadlineKind::assert_wire_names();
        DeadlineRecordState::assert_wire_names();
        DeadlineState::assert_wire_names();
        ExtensionStatus::assert_wire_names();
        SupervisionLevel::assert_wire_names();
        SupervisionStatus::assert_wire_names();
    }
}

/// How long a clarification request may stop the reply clock: this many working days after the
/// day it was asked. The citizen's answer usually comes within days; an unanswered request must
/// not park a message out of every deadline for ever, so at the cap the clock runs again and
/// the supervisors are told (the unit replies on what it knows, or the office follows up).
pub const CLARIFICATION_MAX_PAUSE_WORKING_DAYS: u32 = 5;

/// When an unanswered clarification request asked at `asked_at` stops pausing the clock: the last
/// second (local time) of the [`CLARIFICATION_MAX_PAUSE_WORKING_DAYS`]-th working day after the
/// day it was asked, so the pause covers exactly that many working days (a pause ending at
/// midnight would count the next day too). `None` when the calendar has no such day in range.
pub fn clarification_pause_ends_at(
    cal: &crate::domain::calendar::Calendar,
    asked_at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    use crate::domain::calendar::{end_of_local_day, local_date};
    cal.checked_nth_working_day_after(local_date(asked_at), CLARIFICATION_MAX_PAUSE_WORKING_DAYS)
        .map(|d| end_of_local_day(d) - chrono::Duration::seconds(1))
}

#[cfg(test)]
mod clarification_cap_tests {
    use super::*;
    use crate::domain::calendar::{Calendar, DayOverride};
    use chrono::{NaiveDate, TimeZone};

    #[test]
    fn the_pause_ends_after_five_working_days_skipping_rest_days() {
        // Asked on Thursday 2026-10-01 10:00 in Beijing (the National Day holiday runs 1–8 Oct,
        // with make-up working days on Sunday 27 Sep and Saturday 10 Oct).
        let holidays = (1..=8).map(|d| DayOverride {
            date: NaiveDate::from_ymd_opt(2026, 10, d).unwrap(),
            working: false,
        });
        let make_up = [DayOverride {
            date: NaiveDate::from_ymd_opt(2026, 10, 10).unwrap(),
            working: true,
        }];
        let cal = Calendar::new(holidays.chain(make_up));
        let asked = Utc.with_ymd_and_hms(2026, 10, 1, 2, 0, 0).unwrap();
        let ends = clarification_pause_ends_at(&cal, asked).unwrap();
        // Working days after 1 Oct: 9 (Fri), 10 (Sat, make-up), 12, 13, 14 -> end of 14 Oct.
        assert_eq!(
            crate::domain::calendar::local_date(ends),
            NaiveDate::from_ymd_opt(2026, 10, 14).unwrap()
        );
        // Without holidays: Thu 1 Oct -> Fri 2, Mon 5, Tue 6, Wed 7, Thu 8.
        let plain = Calendar::new(std::iter::empty());
        let ends = clarification_pause_ends_at(&plain, asked).unwrap();
        assert_eq!(
            crate::domain::calendar::local_date(ends),
            NaiveDate::from_ymd_opt(2026, 10, 8).unwrap()
        );
        assert_eq!(ends, Utc.with_ymd_and_hms(2026, 10, 8, 15, 59, 59).unwrap());
        assert!(ends > asked);
    }
}
