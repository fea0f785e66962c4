//! Revocations of access tokens (see `crate::auth::revocation`). Writing a row notifies every
//! process (a trigger sends `pg_notify` in the same transaction).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::auth::revocation::Revocation;
use crate::error::ApiError;
use crate::schema::token_revocations as tr;

/// Why tokens were revoked (kept in the row, for operators).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Deactivated,
    Password,
    Logout,
    RefreshReuse,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Deactivated => "deactivated",
            Reason::Password => "password",
            Reason::Logout => "logout",
            Reason::RefreshReuse => "refresh_reuse",
        }
    }
}

fn expiry(keep_for: std::time::Duration) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(keep_for).unwrap_or(chrono::Duration::days(1))
}

/// Void every access token of `subject` (an account's or an integration client's id) issued up
/// to now. Kept for `keep_for` (the access-token lifetime and leeway).
pub fn revoke_subject(
    conn: &mut PgConnection,
    subject: Uuid,
    reason: Reason,
    keep_for: std::time::Duration,
) -> Result<Revocation, ApiError> {
    let at = Utc::now();
    diesel::insert_into(tr::table)
        .values((
            tr::subject_id.eq(subject),
            tr::issued_before.eq(at),
            tr::reason.eq(reason.as_str()),
            tr::expires_at.eq(expiry(keep_for)),
        ))
        .execute(conn)?;
    Ok(Revocation::Subject {
        id: subject,
        issued_before_ms: millis(at),
    })
}

/// Void every access token of one login (a refresh-token family: the tokens' `sid`).
pub fn revoke_session(
    conn: &mut PgConnection,
    session: Uuid,
    reason: Reason,
    keep_for: std::time::Duration,
) -> Result<Revocation, ApiError> {
    diesel::insert_into(tr::table)
        .values((
            tr::session_id.eq(session),
            tr::reason.eq(reason.as_str()),
            tr::expires_at.eq(expiry(keep_for)),
        ))
        .execute(conn)?;
    Ok(Revocation::Session(session))
}

/// Milliseconds since the epoch, rounded down (as the notification trigger computes them).
fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// `subject_id`, `issued_before`, `session_id`.
type Row = (Option<Uuid>, Option<DateTime<Utc>>, Option<Uuid>);

/// Every revocation still in force (the full load).
pub fn load_live(conn: &mut PgConnection) -> QueryResult<Vec<Revocation>> {
    let rows: Vec<Row> = tr::table
        .filter(tr::expires_at.gt(diesel::dsl::now))
        .select((tr::subject_id, tr::issued_before, tr::session_id))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| match row {
            (Some(id), Some(at), None) => Some(Revocation::Subject {
                id,
                issued_before_ms: millis(at),
            }),
            (None, None, Some(sid)) => Some(Revocation::Session(sid)),
            _ => None,
        })
        .collect())
}

/// Delete the rows no unexpired token can need any more (housekeeping).
pub fn purge_expired(conn: &mut PgConnection) -> Result<usize, ApiError> {
    Ok(diesel::delete(tr::table.filter(tr::expires_at.le(diesel::dsl::now))).execute(conn)?)
}
