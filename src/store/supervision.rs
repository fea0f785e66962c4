//! Supervision cases (督办), the units' progress reports on them, and leaders' instructions (批示).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::handling::{SupervisionLevel, SupervisionStatus};
use crate::domain::ids::{LeaderId, SupervisionId, UnitId, UserId};
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::schema::{instructions as i, supervision_reports as r, supervisions as s};
use crate::store::messages::MessageId;

/// Read model (also the insert form).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = s)]
pub struct Supervision {
    pub id: SupervisionId,
    pub message_id: MessageId,
    pub level: SupervisionLevel,
    pub instruction: String,
    pub due_at: DateTime<Utc>,
    pub status: SupervisionStatus,
    pub region_path: String,
    pub unit_id: Option<UnitId>,
    pub opened_by: UserId,
    pub opened_at: DateTime<Utc>,
    pub closed_by: Option<UserId>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closing_note: Option<String>,
    pub version: i32,
}

/// A unit's progress report (read model and insert form).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = r)]
pub struct Report {
    pub id: uuid::Uuid,
    pub supervision_id: SupervisionId,
    pub unit_id: Option<UnitId>,
    pub author_id: UserId,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

pub fn insert(conn: &mut PgConnection, new: &Supervision) -> Result<(), ApiError> {
    diesel::insert_into(s::table)
        .values(new)
        .execute(conn)
        .map_err(|e| {
            super::unique_as_conflict(e, "the message already has an open supervision case")
        })?;
    Ok(())
}

pub fn get(conn: &mut PgConnection, id: SupervisionId) -> Result<Option<Supervision>, ApiError> {
    Ok(s::table
        .find(id)
        .select(Supervision::as_select())
        .first(conn)
        .optional()?)
}

pub fn close(
    conn: &mut PgConnection,
    id: SupervisionId,
    by: UserId,
    note: &str,
    at: DateTime<Utc>,
) -> Result<Supervision, ApiError> {
    diesel::update(s::table.find(id))
        .set((
            s::status.eq(SupervisionStatus::Closed),
            s::closed_by.eq(Some(by)),
            s::closed_at.eq(Some(at)),
            s::closing_note.eq(Some(note)),
            s::version.eq(s::version + 1),
        ))
        .execute(conn)?;
    get(conn, id)?.ok_or_else(|| ApiError::Internal("supervision vanished".into()))
}

pub fn add_report(conn: &mut PgConnection, report: &Report) -> Result<(), ApiError> {
    diesel::insert_into(r::table).values(report).execute(conn)?;
    Ok(())
}

pub fn reports(conn: &mut PgConnection, id: SupervisionId) -> Result<Vec<Report>, ApiError> {
    Ok(r::table
        .filter(r::supervision_id.eq(id))
        .order((r::created_at.asc(), r::id.asc()))
        .select(Report::as_select())
        .load(conn)?)
}

pub use super::HandlingScope as Scope;

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub status: Option<SupervisionStatus>,
    pub level: Option<SupervisionLevel>,
    pub unit_id: Option<UnitId>,
    pub region_path: Option<String>,
    pub message_id: Option<MessageId>,
}

/// Sort key: due date first.
pub type Cursor = (DateTime<Utc>, SupervisionId);

pub fn list(
    conn: &mut PgConnection,
    scope: &Scope,
    filter: &Filter,
    page: &PageRequest<Cursor>,
) -> Result<Vec<Supervision>, ApiError> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
    let mut q = s::table.select(Supervision::as_select()).into_boxed();
    q = match scope {
        Scope::All => q,
        Scope::RegionPath(p) => q.filter(s::region_path.like(super::like_prefix(p))),
        Scope::Unit(u) => q.filter(s::unit_id.eq(*u)),
    };
    if let Some(v) = filter.status {
        q = q.filter(s::status.eq(v));
    }
    if let Some(v) = filter.level {
        q = q.filter(s::level.eq(v));
    }
    if let Some(u) = filter.unit_id {
        q = q.filter(s::unit_id.eq(u));
    }
    if let Some(p) = &filter.region_path {
        q = q.filter(s::region_path.like(super::like_prefix(p)));
    }
    if let Some(m) = filter.message_id {
        q = q.filter(s::message_id.eq(m));
    }
    if let Some((t, id)) = &page.after {
        q = q.filter(
            sql::<Bool>("(supervisions.due_at, supervisions.id) > (")
                .bind::<Timestamptz, _>(*t)
                .sql(", ")
                .bind::<SqlUuid, _>(id.0)
                .sql(")"),
        );
    }
    Ok(q.order((s::due_at.asc(), s::id.asc()))
        .limit(page.fetch_limit())
        .load(conn)?)
}

/// A leader's instruction (read model and insert form).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = i)]
pub struct Instruction {
    pub id: uuid::Uuid,
    pub message_id: MessageId,
    pub leader_id: LeaderId,
    pub body: String,
    pub recorded_by: UserId,
    pub created_at: DateTime<Utc>,
}

pub fn add_instruction(conn: &mut PgConnection, new: &Instruction) -> Result<(), ApiError> {
    diesel::insert_into(i::table).values(new).execute(conn)?;
    Ok(())
}

pub fn instructions_of(
    conn: &mut PgConnection,
    message: MessageId,
) -> Result<Vec<Instruction>, ApiError> {
    Ok(i::table
        .filter(i::message_id.eq(message))
        .order((i::created_at.asc(), i::id.asc()))
        .select(Instruction::as_select())
        .load(conn)?)
}

/// The message's open supervision case, if any.
pub fn open_of_message(
    conn: &mut PgConnection,
    message: MessageId,
) -> Result<Option<Supervision>, ApiError> {
    Ok(s::table
        .filter(s::message_id.eq(message))
        .filter(s::status.eq(SupervisionStatus::Open))
        .select(Supervision::as_select())
        .first(conn)
        .optional()?)
}
