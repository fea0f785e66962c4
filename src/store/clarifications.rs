//! Clarification requests: the lead unit asks the citizen; the reply clock waits.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::ids::{AssignmentId, ClarificationId, UserId};
use crate::error::ApiError;
use crate::schema::clarification_requests as c;
use crate::store::messages::MessageId;

/// Read model (also the insert form: every column is known when asking).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = c)]
pub struct Clarification {
    pub id: ClarificationId,
    pub message_id: MessageId,
    pub assignment_id: AssignmentId,
    pub question: String,
    pub asked_by: UserId,
    pub asked_at: DateTime<Utc>,
    pub answer: Option<String>,
    pub answered_by: Option<UserId>,
    pub answered_at: Option<DateTime<Utc>>,
}

pub fn insert(conn: &mut PgConnection, new: &Clarification) -> Result<(), ApiError> {
    diesel::insert_into(c::table).values(new).execute(conn)?;
    Ok(())
}

pub fn get(
    conn: &mut PgConnection,
    id: ClarificationId,
) -> Result<Option<Clarification>, ApiError> {
    Ok(c::table
        .find(id)
        .select(Clarification::as_select())
        .first(conn)
        .optional()?)
}

pub fn answer(
    conn: &mut PgConnection,
    id: ClarificationId,
    text: &str,
    by: UserId,
    at: DateTime<Utc>,
) -> Result<Clarification, ApiError> {
    diesel::update(c::table.find(id))
        .set((
            c::answer.eq(Some(text)),
            c::answered_by.eq(Some(by)),
            c::answered_at.eq(Some(at)),
        ))
        .execute(conn)?;
    get(conn, id)?.ok_or_else(|| ApiError::Internal("clarification vanished".into()))
}

pub fn of_message(conn: &mut PgConnection, id: MessageId) -> Result<Vec<Clarification>, ApiError> {
    Ok(c::table
        .filter(c::message_id.eq(id))
        .order((c::asked_at.asc(), c::id.asc()))
        .select(Clarification::as_select())
        .load(conn)?)
}
