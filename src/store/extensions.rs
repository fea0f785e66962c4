//! Extension requests: a unit asks for more working days; a supervisor decides.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::handling::{AssignmentStatus, ExtensionStatus};
use crate::domain::ids::{AssignmentId, DeadlineId, ExtensionId, UnitId, UserId};
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::schema::extension_requests as x;
use crate::store::messages::MessageId;

/// Read model.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = x)]
pub struct ExtensionRequest {
    pub id: ExtensionId,
    pub assignment_id: AssignmentId,
    pub deadline_id: DeadlineId,
    pub message_id: MessageId,
    pub unit_id: UnitId,
    pub region_path: String,
    pub days: i32,
    pub reason: String,
    pub status: ExtensionStatus,
    pub requested_by: UserId,
    pub requested_at: DateTime<Utc>,
    pub decided_by: Option<UserId>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_note: Option<String>,
    pub version: i32,
}

/// Insert form.
#[derive(Debug, Insertable)]
#[diesel(table_name = x)]
pub struct NewExtensionRequest {
    pub id: ExtensionId,
    pub assignment_id: AssignmentId,
    pub deadline_id: DeadlineId,
    pub message_id: MessageId,
    pub unit_id: UnitId,
    pub region_path: String,
    pub days: i32,
    pub reason: String,
    pub status: ExtensionStatus,
    pub requested_by: UserId,
    pub requested_at: DateTime<Utc>,
}

pub fn insert(
    conn: &mut PgConnection,
    new: &NewExtensionRequest,
) -> Result<ExtensionRequest, ApiError> {
    diesel::insert_into(x::table)
        .values(new)
        .execute(conn)
        .map_err(|e| {
            super::unique_as_conflict(
                e,
                "an extension request for this assignment is already waiting for a decision",
            )
        })?;
    get(conn, new.id)?.ok_or_else(|| ApiError::Internal("extension request vanished".into()))
}

pub fn get(conn: &mut PgConnection, id: ExtensionId) -> Result<Option<ExtensionRequest>, ApiError> {
    Ok(x::table
        .find(id)
        .select(ExtensionRequest::as_select())
        .first(conn)
        .optional()?)
}

pub fn decide(
    conn: &mut PgConnection,
    id: ExtensionId,
    status: ExtensionStatus,
    by: UserId,
    note: Option<String>,
    at: DateTime<Utc>,
) -> Result<ExtensionRequest, ApiError> {
    diesel::update(x::table.find(id))
        .set((
            x::status.eq(status),
            x::decided_by.eq(Some(by)),
            x::decided_at.eq(Some(at)),
            x::decision_note.eq(note),
            x::version.eq(x::version + 1),
        ))
        .execute(conn)?;
    get(conn, id)?.ok_or_else(|| ApiError::Internal("extension request vanished".into()))
}

/// The request still waiting under an assignment that has just ended lapses with it (status
/// `lapsed`, no decider): approve and reject both need an open assignment, so it would otherwise
/// wait for ever. Returns how many lapsed (0 or 1: one pending request per assignment).
pub fn lapse_with_assignment(
    conn: &mut PgConnection,
    assignment: AssignmentId,
    ended_as: AssignmentStatus,
    at: DateTime<Utc>,
) -> Result<usize, ApiError> {
    Ok(diesel::update(
        x::table
            .filter(x::assignment_id.eq(assignment))
            .filter(x::status.eq(ExtensionStatus::Pending)),
    )
    .set((
        x::status.eq(ExtensionStatus::Lapsed),
        x::decided_at.eq(Some(at)),
        x::decision_note.eq(Some(format!(
            "the assignment ended ({ended_as}) before a decision"
        ))),
        x::version.eq(x::version + 1),
    ))
    .execute(conn)?)
}

/// Approved extensions of a deadline, oldest first (for its explanation).
pub fn approved_for(
    conn: &mut PgConnection,
    deadline: DeadlineId,
) -> Result<Vec<ExtensionRequest>, ApiError> {
    Ok(x::table
        .filter(x::deadline_id.eq(deadline))
        .filter(x::status.eq(ExtensionStatus::Approved))
        .order(x::decided_at.asc())
        .select(ExtensionRequest::as_select())
        .load(conn)?)
}

pub use super::HandlingScope as Scope;

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub status: Option<ExtensionStatus>,
    pub unit_id: Option<UnitId>,
    pub assignment_id: Option<AssignmentId>,
}

/// Sort key: oldest request first (the queue a supervisor works through).
pub type Cursor = (DateTime<Utc>, ExtensionId);

pub fn list(
    conn: &mut PgConnection,
    scope: &Scope,
    filter: &Filter,
    page: &PageRequest<Cursor>,
) -> Result<Vec<ExtensionRequest>, ApiError> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
    let mut q = x::table.select(ExtensionRequest::as_select()).into_boxed();
    q = match scope {
        Scope::All => q,
        Scope::RegionPath(p) => q.filter(x::region_path.like(super::like_prefix(p))),
        Scope::Unit(u) => q.filter(x::unit_id.eq(*u)),
    };
    if let Some(s) = filter.status {
        q = q.filter(x::status.eq(s));
    }
    if let Some(u) = filter.unit_id {
        q = q.filter(x::unit_id.eq(u));
    }
    if let Some(a) = filter.assignment_id {
        q = q.filter(x::assignment_id.eq(a));
    }
    if let Some((t, id)) = &page.after {
        q = q.filter(
            sql::<Bool>("(extension_requests.requested_at, extension_requests.id) > (")
                .bind::<Timestamptz, _>(*t)
                .sql(", ")
                .bind::<SqlUuid, _>(id.0)
                .sql(")"),
        );
    }
    Ok(q.order((x::requested_at.asc(), x::id.asc()))
        .limit(page.fetch_limit())
        .load(conn)?)
}
