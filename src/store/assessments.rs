//! Assessments in the database: the weights, the per-unit counts of a period (from the
//! statistics aggregates), closed periods and their restatements.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::domain::assessments::{AssessmentPeriod, FigureChange, Weights};
use crate::domain::ids::UserId;
use crate::domain::statistics::{Counts, Dimension};
use crate::error::ApiError;
use crate::http::preconditions::IfMatchCondition;
use crate::schema::{
    assessment_periods as ap, assessment_restatements as ar, assessment_weights as aw, units,
};
use crate::store::statistics::{CellQuery, read};

/// The weights row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = aw)]
pub struct WeightsRow {
    pub reply_rate: i32,
    pub on_time_rate: i32,
    pub satisfaction_rate: i32,
    pub overdue: i32,
    pub verification_rate: i32,
    pub reopen: i32,
    pub version: i32,
    pub updated_by: Option<UserId>,
    pub updated_at: DateTime<Utc>,
}

impl WeightsRow {
    pub fn weights(&self) -> Weights {
        Weights {
            reply_rate: self.reply_rate,
            on_time_rate: self.on_time_rate,
            satisfaction_rate: self.satisfaction_rate,
            overdue: self.overdue,
            verification_rate: self.verification_rate,
            reopen: self.reopen,
        }
    }
}

pub fn weights(conn: &mut PgConnection) -> Result<WeightsRow, ApiError> {
    Ok(aw::table.select(WeightsRow::as_select()).first(conn)?)
}

/// Replace the weights; `cond` from If-Match (checked under the row lock).
pub fn set_weights(
    conn: &mut PgConnection,
    w: Weights,
    by: UserId,
    cond: &IfMatchCondition,
    at: DateTime<Utc>,
) -> Result<WeightsRow, ApiError> {
    conn.transaction(|conn| {
        let current: WeightsRow = aw::table
            .for_update()
            .select(WeightsRow::as_select())
            .first(conn)?;
        cond.check(current.version)?;
        diesel::update(aw::table)
            .set((
                aw::reply_rate.eq(w.reply_rate),
                aw::on_time_rate.eq(w.on_time_rate),
                aw::satisfaction_rate.eq(w.satisfaction_rate),
                aw::overdue.eq(w.overdue),
                aw::verification_rate.eq(w.verification_rate),
                aw::reopen.eq(w.reopen),
                aw::updated_by.eq(Some(by)),
                aw::updated_at.eq(at),
                aw::version.eq(aw::version + 1),
            ))
            .execute(conn)?;
        weights(conn)
    })
}

/// Counts per unit, and the units' names.
pub type UnitCounts = (Vec<(Uuid, Counts)>, HashMap<Uuid, String>);

/// Every unit's counts for the messages submitted in the period (from the aggregates, exact
/// at this moment), with the units' names. Messages without a lead unit are left
/// out: nobody is assessed for them.
pub fn unit_counts(
    conn: &mut PgConnection,
    period: AssessmentPeriod,
) -> Result<UnitCounts, ApiError> {
    let q = CellQuery {
        from: Some(period.from()),
        to: Some(period.to()),
        group: Some(Dimension::Unit),
        use_months: true,
        ..Default::default()
    };
    let (_, rows) = read(conn, &q)?;
    let mut by_unit: HashMap<Uuid, Counts> = HashMap::new();
    for row in rows {
        let Some(id) = row.group.as_deref().and_then(|g| Uuid::parse_str(g).ok()) else {
            continue;
        };
        if id.is_nil() {
            continue;
        }
        by_unit.entry(id).or_default().add(&row.counts);
    }
    let ids: Vec<Uuid> = by_unit.keys().copied().collect();
    let names: HashMap<Uuid, String> = units::table
        .filter(units::id.eq_any(&ids))
        .select((units::id, units::name))
        .load::<(Uuid, String)>(conn)?
        .into_iter()
        .collect();
    let mut counts: Vec<(Uuid, Counts)> =
        by_unit.into_iter().filter(|(_, c)| !c.is_zero()).collect();
    counts.sort_by_key(|(id, _)| *id);
    Ok((counts, names))
}

/// Regions of units, for scoping scorecards read from a frozen period.
pub fn unit_regions(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, String>, ApiError> {
    Ok(units::table
        .filter(units::id.eq_any(ids))
        .select((units::id, units::region_code))
        .load::<(Uuid, String)>(conn)?
        .into_iter()
        .collect())
}

/// A closed period as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ap)]
pub struct ClosedPeriod {
    pub period: String,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    pub content: String,
    pub content_hash: String,
    pub revision: i32,
    pub closed_by: UserId,
    pub closed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn closed(conn: &mut PgConnection, key: &str) -> Result<Option<ClosedPeriod>, ApiError> {
    Ok(ap::table
        .find(key)
        .select(ClosedPeriod::as_select())
        .first(conn)
        .optional()?)
}

/// Lowercase hex SHA-256 of the content text.
pub fn content_hash(content: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(content.as_bytes()))
}

/// Freeze a period with `content` (the caller computed it in this transaction's snapshot).
/// 409 when it is closed already.
pub fn close(
    conn: &mut PgConnection,
    period: AssessmentPeriod,
    content: String,
    by: UserId,
    at: DateTime<Utc>,
) -> Result<ClosedPeriod, ApiError> {
    let hash = content_hash(&content);
    let inserted = diesel::insert_into(ap::table)
        .values((
            ap::period.eq(period.key()),
            ap::period_from.eq(period.from()),
            ap::period_to.eq(period.to()),
            ap::content.eq(&content),
            ap::content_hash.eq(&hash),
            ap::revision.eq(1),
            ap::closed_by.eq(by),
            ap::closed_at.eq(at),
            ap::updated_at.eq(at),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    if inserted == 0 {
        return Err(ApiError::Conflict(format!(
            "{} is closed already; correct it with a restatement",
            period.key()
        )));
    }
    closed(conn, &period.key())?.ok_or_else(|| ApiError::Internal("closed period vanished".into()))
}

/// A restatement as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ar)]
pub struct Restatement {
    pub id: Uuid,
    pub period: String,
    pub revision: i32,
    pub reason: String,
    pub restated_by: UserId,
    pub restated_at: DateTime<Utc>,
    pub previous_hash: String,
    pub content_hash: String,
    pub changes: serde_json::Value,
}

/// Lock a closed period for a restatement (404 when it is not closed).
pub fn lock_closed(conn: &mut PgConnection, key: &str) -> Result<ClosedPeriod, ApiError> {
    ap::table
        .find(key)
        .for_update()
        .select(ClosedPeriod::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::NotFound(format!("{key} is not closed: nothing to restate")))
}

/// Replace a closed period's content, recording what changed, why and who.
#[allow(clippy::too_many_arguments)]
pub fn restate(
    conn: &mut PgConnection,
    previous: &ClosedPeriod,
    content: String,
    changes: &[FigureChange],
    reason: &str,
    by: UserId,
    at: DateTime<Utc>,
) -> Result<Restatement, ApiError> {
    let hash = content_hash(&content);
    let revision = previous.revision + 1;
    diesel::update(ap::table.find(&previous.period))
        .set((
            ap::content.eq(&content),
            ap::content_hash.eq(&hash),
            ap::revision.eq(revision),
            ap::updated_at.eq(at),
        ))
        .execute(conn)?;
    let changes = serde_json::to_value(changes).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(diesel::insert_into(ar::table)
        .values((
            ar::id.eq(Uuid::now_v7()),
            ar::period.eq(&previous.period),
            ar::revision.eq(revision),
            ar::reason.eq(reason),
            ar::restated_by.eq(by),
            ar::restated_at.eq(at),
            ar::previous_hash.eq(&previous.content_hash),
            ar::content_hash.eq(&hash),
            ar::changes.eq(changes),
        ))
        .returning(Restatement::as_returning())
        .get_result(conn)?)
}

/// A period's restatements, oldest first.
pub fn restatements(conn: &mut PgConnection, key: &str) -> Result<Vec<Restatement>, ApiError> {
    Ok(ar::table
        .filter(ar::period.eq(key))
        .order(ar::revision.asc())
        .select(Restatement::as_select())
        .load(conn)?)
}
