//! Changes that move running deadlines: a calendar day or a deadline policy, and the
//! recomputation of the open deadlines it touches, in one transaction. Here rather than in
//! `store/calendar.rs` and `store/deadline_policies.rs`, which `store/deadlines.rs` reads from:
//! one direction between them (issue 18).

use chrono::{NaiveDate, Utc};
use diesel::{Connection, PgConnection};

use crate::domain::ledger::db_time;
use crate::error::ApiError;
use crate::http::preconditions::IfMatchCondition;
use crate::store::calendar::{self, CalendarDay, DayOverride};
use crate::store::deadline_policies::{
    self, DeadlinePolicy, DeadlinePolicyChanges, DeadlinePolicyId,
};
use crate::store::deadlines;

/// Set a day's override (insert or replace); open deadlines whose span covers the day follow the
/// calendar in the same transaction, so the calendar and the due times never disagree; closed
/// ones keep their verdicts. Returns the stored day and whether it is new.
pub fn put_calendar_day(
    conn: &mut PgConnection,
    new: &DayOverride,
) -> Result<(CalendarDay, bool), ApiError> {
    conn.transaction(|conn| {
        let stored = calendar::put(conn, new)?;
        deadlines::recompute_for_calendar_day(conn, new.day, db_time(Utc::now()))?;
        Ok(stored)
    })
}

/// Remove a day's override (404 when there is none); open deadlines follow as for a put.
pub fn delete_calendar_day(conn: &mut PgConnection, day: NaiveDate) -> Result<(), ApiError> {
    conn.transaction(|conn| {
        calendar::delete(conn, day)?;
        deadlines::recompute_for_calendar_day(conn, day, db_time(Utc::now()))?;
        Ok(())
    })
}

/// Change a policy; running deadlines under it follow the new limits (recorded with the new
/// version), met and missed ones keep the due time they were judged by.
pub fn update_policy(
    conn: &mut PgConnection,
    id: DeadlinePolicyId,
    cond: &IfMatchCondition,
    changes: &DeadlinePolicyChanges,
) -> Result<DeadlinePolicy, ApiError> {
    conn.transaction(|conn| {
        let policy = deadline_policies::update(conn, id, cond, changes)?;
        deadlines::recompute_for_policy(conn, &policy, db_time(Utc::now()))?;
        Ok(policy)
    })
}
