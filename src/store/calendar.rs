//! The working-day calendar: the days that differ from the Monday–Friday week in
//! Asia/Shanghai (public holidays that are rest days, weekend days that are make-up working days).
//! Only overrides are stored; every other day follows the week.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;

use crate::domain::ids::UserId;
use crate::error::ApiError;
use crate::schema::calendar_days;

/// Read model.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = calendar_days)]
pub struct CalendarDay {
    pub day: NaiveDate,
    pub working: bool,
    pub note: String,
    pub updated_by: Option<UserId>,
    pub updated_at: DateTime<Utc>,
}

/// Upsert form.
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = calendar_days)]
pub struct DayOverride {
    pub day: NaiveDate,
    pub working: bool,
    pub note: String,
    pub updated_by: Option<UserId>,
    pub updated_at: DateTime<Utc>,
}

/// Every override from `from` to `to` (both included), ordered by day.
pub fn list(
    conn: &mut PgConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<CalendarDay>, ApiError> {
    Ok(calendar_days::table
        .filter(calendar_days::day.between(from, to))
        .order(calendar_days::day.asc())
        .select(CalendarDay::as_select())
        .load(conn)?)
}

/// The overrides from `from` to `to` (both included) as `(day, working)`, ordered by day: what
/// working-day arithmetic (`domain::calendar`) needs. Days not listed follow the week
/// (Monday–Friday working, Saturday and Sunday rest).
pub fn overrides(
    conn: &mut PgConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(NaiveDate, bool)>, ApiError> {
    Ok(calendar_days::table
        .filter(calendar_days::day.between(from, to))
        .order(calendar_days::day.asc())
        .select((calendar_days::day, calendar_days::working))
        .load(conn)?)
}

/// Set a day's override (insert or replace). Returns the stored day and whether it is new.
/// Running deadlines do not follow here: `app::deadlines::put_calendar_day` does both.
pub fn put(conn: &mut PgConnection, new: &DayOverride) -> Result<(CalendarDay, bool), ApiError> {
    conn.transaction(|conn| {
        let existed = calendar_days::table
            .find(new.day)
            .for_update()
            .select(calendar_days::day)
            .first::<NaiveDate>(conn)
            .optional()?
            .is_some();
        let day = diesel::insert_into(calendar_days::table)
            .values(new)
            .on_conflict(calendar_days::day)
            .do_update()
            .set(new)
            .returning(CalendarDay::as_returning())
            .get_result(conn)?;
        Ok((day, !existed))
    })
}

/// Remove a day's override (the day follows the week again); 404 when there is none. Running
/// deadlines do not follow here: `app::deadlines::delete_calendar_day` does both.
pub fn delete(conn: &mut PgConnection, day: NaiveDate) -> Result<(), ApiError> {
    conn.transaction(|conn| {
        let removed = diesel::delete(calendar_days::table.find(day)).execute(conn)?;
        if removed == 0 {
            return Err(ApiError::not_found("calendar override"));
        }
        Ok(())
    })
}
