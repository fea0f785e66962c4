//! Return visits (回访) and on-site checks of handled messages.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;

use crate::domain::ids::{UnitId, UserId, VisitId};
use crate::domain::reply::{VisitFinding, VisitKind, VisitMethod, VisitSelection, VisitStatus};
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::schema::return_visits as rv;
use crate::store::messages::MessageId;

/// Read model (also the insert form).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = rv)]
pub struct Visit {
    pub id: VisitId,
    pub message_id: MessageId,
    pub unit_id: UnitId,
    pub region_path: String,
    pub kind: VisitKind,
    pub status: VisitStatus,
    pub selection: VisitSelection,
    pub sample_seed: Option<i64>,
    pub note: String,
    pub planned_by: UserId,
    pub planned_at: DateTime<Utc>,
    pub visited_on: Option<NaiveDate>,
    pub method: Option<VisitMethod>,
    pub visitor: Option<String>,
    pub finding: Option<VisitFinding>,
    pub notes: Option<String>,
    pub reopened: bool,
    pub recorded_by: Option<UserId>,
    pub recorded_at: Option<DateTime<Utc>>,
    pub version: i32,
}

pub fn insert(conn: &mut PgConnection, new: &Visit) -> Result<(), ApiError> {
    diesel::insert_into(rv::table)
        .values(new)
        .execute(conn)
        .map_err(|e| super::unique_as_conflict(e, "the message already has a planned visit"))?;
    Ok(())
}

pub fn get(conn: &mut PgConnection, id: VisitId) -> Result<Option<Visit>, ApiError> {
    Ok(rv::table
        .find(id)
        .select(Visit::as_select())
        .first(conn)
        .optional()?)
}

/// The message's planned visit, if any.
pub fn planned_of(conn: &mut PgConnection, message: MessageId) -> Result<Option<Visit>, ApiError> {
    Ok(rv::table
        .filter(rv::message_id.eq(message))
        .filter(rv::status.eq(VisitStatus::Planned))
        .select(Visit::as_select())
        .first(conn)
        .optional()?)
}

/// What the visit found.
pub struct Record<'a> {
    pub visited_on: NaiveDate,
    pub method: VisitMethod,
    pub visitor: &'a str,
    pub finding: VisitFinding,
    pub notes: &'a str,
    pub reopened: bool,
    pub by: UserId,
    pub at: DateTime<Utc>,
}

pub fn record(conn: &mut PgConnection, id: VisitId, rec: &Record<'_>) -> Result<Visit, ApiError> {
    diesel::update(rv::table.find(id))
        .set((
            rv::status.eq(VisitStatus::Done),
            rv::visited_on.eq(Some(rec.visited_on)),
            rv::method.eq(Some(rec.method)),
            rv::visitor.eq(Some(rec.visitor)),
            rv::finding.eq(Some(rec.finding)),
            rv::notes.eq(Some(rec.notes)),
            rv::reopened.eq(rec.reopened),
            rv::recorded_by.eq(Some(rec.by)),
            rv::recorded_at.eq(Some(rec.at)),
            rv::version.eq(rv::version + 1),
        ))
        .execute(conn)?;
    let visit = get(conn, id)?.ok_or_else(|| ApiError::Internal("visit vanished".into()))?;
    // The statistics count the latest finding on the message row.
    diesel::update(crate::schema::messages::table.find(visit.message_id))
        .set(crate::schema::messages::visit_finding.eq(Some(rec.finding.as_str())))
        .execute(conn)?;
    Ok(visit)
}

/// A handled message eligible for sampling, with the unit of its final reply.
#[derive(Debug, Clone, QueryableByName)]
pub struct Candidate {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub message_id: MessageId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub unit_id: UnitId,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub region_path: String,
}

/// Up to `per_unit` messages per unit whose final reply was published in `[from, to)`, in a
/// random order fixed by `seed`: each message's rank is the hash of (seed, message id), so the
/// same seed over the same handled messages picks the same ones, whoever asks and however the
/// rows are stored. A message counts once, for the unit of its latest final reply in the period.
pub fn sample(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    per_unit: i64,
    seed: i64,
    region_prefix: Option<&str>,
    unit: Option<UnitId>,
) -> Result<Vec<Candidate>, ApiError> {
    use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
    Ok(diesel::sql_query(
        "WITH handled AS ( \
             SELECT DISTINCT ON (r.message_id) r.message_id, r.unit_id, r.region_path \
             FROM replies r JOIN messages m ON m.id = r.message_id \
             WHERE r.kind = 'final' AND r.status = 'published' \
               AND r.published_at >= $1 AND r.published_at < $2 \
               AND m.status IN ('replied', 'closed') \
               AND ($5::text IS NULL OR r.region_path LIKE $5) \
               AND ($6::uuid IS NULL OR r.unit_id = $6) \
             ORDER BY r.message_id, r.published_at DESC \
         ), ranked AS ( \
             SELECT message_id, unit_id, region_path, \
                    row_number() OVER (PARTITION BY unit_id \
                        ORDER BY md5($4::text || ':' || message_id::text), message_id) AS n \
             FROM handled \
         ) \
         SELECT message_id, unit_id, region_path FROM ranked WHERE n <= $3 \
         ORDER BY unit_id, n",
    )
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .bind::<BigInt, _>(per_unit)
    .bind::<BigInt, _>(seed)
    .bind::<Nullable<Text>, _>(region_prefix.map(super::like_prefix))
    .bind::<Nullable<SqlUuid>, _>(unit.map(|u| u.0))
    .load(conn)?)
}

pub use super::HandlingScope as Scope;

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub status: Option<VisitStatus>,
    pub finding: Option<VisitFinding>,
    pub unit_id: Option<UnitId>,
    pub message_id: Option<MessageId>,
}

/// Newest plan first.
pub type Cursor = (DateTime<Utc>, VisitId);

pub fn list(
    conn: &mut PgConnection,
    scope: &Scope,
    filter: &Filter,
    page: &PageRequest<Cursor>,
) -> Result<Vec<Visit>, ApiError> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
    let mut q = rv::table.select(Visit::as_select()).into_boxed();
    q = match scope {
        Scope::All => q,
        Scope::RegionPath(p) => q.filter(rv::region_path.like(super::like_prefix(p))),
        Scope::Unit(u) => q.filter(rv::unit_id.eq(*u)),
    };
    if let Some(x) = filter.status {
        q = q.filter(rv::status.eq(x));
    }
    if let Some(x) = filter.finding {
        q = q.filter(rv::finding.eq(x));
    }
    if let Some(x) = filter.unit_id {
        q = q.filter(rv::unit_id.eq(x));
    }
    if let Some(x) = filter.message_id {
        q = q.filter(rv::message_id.eq(x));
    }
    if let Some((t, id)) = page.after {
        q = q.filter(
            sql::<Bool>("(return_visits.planned_at, return_visits.id) < (")
                .bind::<Timestamptz, _>(t)
                .sql(", ")
                .bind::<SqlUuid, _>(id.0)
                .sql(")"),
        );
    }
    Ok(q.order((rv::planned_at.desc(), rv::id.desc()))
        .limit(page.fetch_limit())
        .load(conn)?)
}
