//! Assignments of messages to units. Every change happens inside a message transition (the
//! message row is locked), so the steps of one message never interleave.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::handling::{AssignmentOrigin, AssignmentRole, AssignmentStatus, ReturnReason};
use crate::domain::ids::{AssignmentId, UnitId, UserId};
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::schema::assignments as a;
use crate::store::messages::{Message, MessageId};

/// Read model.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = a)]
pub struct Assignment {
    pub id: AssignmentId,
    pub message_id: MessageId,
    pub unit_id: UnitId,
    pub role: AssignmentRole,
    pub origin: AssignmentOrigin,
    pub status: AssignmentStatus,
    pub note: String,
    pub assigned_by: Option<UserId>,
    pub assigned_at: DateTime<Utc>,
    pub signed_for_by: Option<UserId>,
    pub signed_for_at: Option<DateTime<Utc>>,
    pub return_reason: Option<ReturnReason>,
    pub return_note: Option<String>,
    pub suggested_unit_id: Option<UnitId>,
    pub returned_by: Option<UserId>,
    pub returned_at: Option<DateTime<Utc>>,
    pub transferred_to: Option<AssignmentId>,
    pub contribution: Option<String>,
    pub completed_at: Option<DateTime<Utc>>,
    pub intake_unit_id: UnitId,
    pub region_path: String,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Insert form.
#[derive(Debug, Insertable)]
#[diesel(table_name = a)]
pub struct NewAssignment {
    pub id: AssignmentId,
    pub message_id: MessageId,
    pub unit_id: UnitId,
    pub role: AssignmentRole,
    pub origin: AssignmentOrigin,
    pub status: AssignmentStatus,
    pub note: String,
    pub assigned_by: Option<UserId>,
    pub assigned_at: DateTime<Utc>,
    pub signed_for_by: Option<UserId>,
    pub signed_for_at: Option<DateTime<Utc>>,
    pub intake_unit_id: UnitId,
    pub region_path: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl NewAssignment {
    pub fn for_message(
        m: &Message,
        unit: UnitId,
        role: AssignmentRole,
        origin: AssignmentOrigin,
        note: String,
        by: Option<UserId>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: AssignmentId::new(),
            message_id: m.id,
            unit_id: unit,
            role,
            origin,
            status: AssignmentStatus::Pending,
            note,
            assigned_by: by,
            assigned_at: at,
            signed_for_by: None,
            signed_for_at: None,
            intake_unit_id: m.intake_unit_id,
            region_path: m.region_path.clone(),
            created_at: at,
            updated_at: at,
        }
    }
}

/// Update form: `None` leaves a column alone.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = a)]
pub struct AssignmentChanges {
    pub status: Option<AssignmentStatus>,
    pub signed_for_by: Option<Option<UserId>>,
    pub signed_for_at: Option<Option<DateTime<Utc>>>,
    pub return_reason: Option<Option<ReturnReason>>,
    pub return_note: Option<Option<String>>,
    pub suggested_unit_id: Option<Option<UnitId>>,
    pub returned_by: Option<Option<UserId>>,
    pub returned_at: Option<Option<DateTime<Utc>>>,
    pub transferred_to: Option<Option<AssignmentId>>,
    pub contribution: Option<Option<String>>,
    pub completed_at: Option<Option<DateTime<Utc>>>,
}

pub fn insert(conn: &mut PgConnection, new: &NewAssignment) -> Result<Assignment, ApiError> {
    diesel::insert_into(a::table)
        .values(new)
        .execute(conn)
        .map_err(|e| {
            super::unique_as_conflict(
                e,
                "the unit already holds an open assignment of this message, or the message \
                 already has an open lead unit",
            )
        })?;
    get(conn, new.id)?.ok_or_else(|| ApiError::Internal("assignment vanished".into()))
}

pub fn get(conn: &mut PgConnection, id: AssignmentId) -> Result<Option<Assignment>, ApiError> {
    Ok(a::table
        .find(id)
        .select(Assignment::as_select())
        .first(conn)
        .optional()?)
}

pub fn update(
    conn: &mut PgConnection,
    id: AssignmentId,
    changes: &AssignmentChanges,
    at: DateTime<Utc>,
) -> Result<Assignment, ApiError> {
    diesel::update(a::table.find(id))
        .set((changes, a::version.eq(a::version + 1), a::updated_at.eq(at)))
        .execute(conn)?;
    // Whatever ends an assignment ends the extension request waiting under it.
    if let Some(ended) = changes.status.filter(|s| !s.is_open()) {
        crate::store::extensions::lapse_with_assignment(conn, id, ended, at)?;
    }
    get(conn, id)?.ok_or_else(|| ApiError::Internal("assignment vanished".into()))
}

/// Every assignment of a message, oldest first (the handling history).
pub fn of_message(conn: &mut PgConnection, id: MessageId) -> Result<Vec<Assignment>, ApiError> {
    Ok(a::table
        .filter(a::message_id.eq(id))
        .order((a::assigned_at.asc(), a::id.asc()))
        .select(Assignment::as_select())
        .load(conn)?)
}

/// The open assignments of a message.
pub fn open_of_message(
    conn: &mut PgConnection,
    id: MessageId,
) -> Result<Vec<Assignment>, ApiError> {
    Ok(a::table
        .filter(a::message_id.eq(id))
        .filter(a::status.eq_any([AssignmentStatus::Pending, AssignmentStatus::SignedFor]))
        .order((a::assigned_at.asc(), a::id.asc()))
        .select(Assignment::as_select())
        .load(conn)?)
}

pub use super::HandlingScope as Scope;

/// Which part of the scope one query covers (see [`list`]).
#[derive(Clone, Copy)]
enum Part {
    Whole,
    /// A unit's own assignments.
    Own(UnitId),
    /// Other units' assignments on messages the unit runs intake for.
    IntakeOfOthers(UnitId),
}

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub unit_id: Option<UnitId>,
    pub status: Option<AssignmentStatus>,
    pub role: Option<AssignmentRole>,
    pub message_id: Option<MessageId>,
}

/// Sort key: newest assignment first.
pub type Cursor = (DateTime<Utc>, AssignmentId);

/// An inbox: newest first.
///
/// A unit's scope (its own assignments or those of messages it runs intake for) is an OR that
/// no index serves; it runs as two index-ordered queries merged here.
pub fn list(
    conn: &mut PgConnection,
    scope: &Scope,
    filter: &Filter,
    page: &PageRequest<Cursor>,
) -> Result<Vec<Assignment>, ApiError> {
    let parts = match (scope, filter.unit_id) {
        (Scope::Unit(u), Some(f)) if f == *u => vec![Part::Own(*u)],
        (Scope::Unit(u), Some(_)) => vec![Part::IntakeOfOthers(*u)],
        (Scope::Unit(u), None) => vec![Part::Own(*u), Part::IntakeOfOthers(*u)],
        _ => vec![Part::Whole],
    };
    let mut rows = Vec::new();
    for part in parts {
        rows.extend(list_part(conn, scope, part, filter, page)?);
    }
    rows.sort_by_key(|r| std::cmp::Reverse((r.assigned_at, r.id)));
    rows.dedup_by_key(|r| r.id);
    rows.truncate(usize::try_from(page.fetch_limit()).unwrap_or(usize::MAX));
    Ok(rows)
}

fn list_part(
    conn: &mut PgConnection,
    scope: &Scope,
    part: Part,
    filter: &Filter,
    page: &PageRequest<Cursor>,
) -> Result<Vec<Assignment>, ApiError> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
    let mut q = a::table.select(Assignment::as_select()).into_boxed();
    q = match (scope, part) {
        (_, Part::Own(u)) => q.filter(a::unit_id.eq(u)),
        (_, Part::IntakeOfOthers(u)) => q.filter(a::intake_unit_id.eq(u)).filter(a::unit_id.ne(u)),
        (Scope::All, Part::Whole) => q,
        (Scope::RegionPath(p), Part::Whole) => q.filter(a::region_path.like(super::like_prefix(p))),
        (Scope::Unit(u), Part::Whole) => q.filter(a::unit_id.eq(*u).or(a::intake_unit_id.eq(*u))),
    };
    if let Some(u) = filter.unit_id {
        q = q.filter(a::unit_id.eq(u));
    }
    if let Some(s) = filter.status {
        q = q.filter(a::status.eq(s));
    }
    if let Some(r) = filter.role {
        q = q.filter(a::role.eq(r));
    }
    if let Some(m) = filter.message_id {
        q = q.filter(a::message_id.eq(m));
    }
    if let Some((t, id)) = &page.after {
        q = q.filter(
            sql::<Bool>("(assignments.assigned_at, assignments.id) < (")
                .bind::<Timestamptz, _>(*t)
                .sql(", ")
                .bind::<SqlUuid, _>(id.0)
                .sql(")"),
        );
    }
    Ok(q.order((a::assigned_at.desc(), a::id.desc()))
        .limit(page.fetch_limit())
        .load(conn)?)
}
