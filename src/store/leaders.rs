//! Leaders: the people messages are addressed to.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::ids::{LeaderId, UnitId};
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::http::preconditions::IfMatchCondition;
use crate::schema::leaders;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = leaders)]
pub struct Leader {
    pub id: LeaderId,
    pub name: String,
    pub title: String,
    pub region_code: String,
    pub unit_id: UnitId,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = leaders)]
pub struct NewLeader {
    pub id: LeaderId,
    pub name: String,
    pub title: String,
    pub region_code: String,
    pub unit_id: UnitId,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = leaders)]
pub struct LeaderChanges {
    pub name: Option<String>,
    pub title: Option<String>,
    pub region_code: Option<String>,
    pub unit_id: Option<UnitId>,
    pub active: Option<bool>,
}

#[derive(Debug, Default)]
pub struct LeaderFilter {
    pub region_code: Option<String>,
    pub region_subtree: bool,
    pub unit_id: Option<UnitId>,
    pub active: Option<bool>,
}

pub fn list(
    conn: &mut PgConnection,
    filter: &LeaderFilter,
    page: &PageRequest<LeaderId>,
) -> Result<Vec<Leader>, ApiError> {
    let mut q = leaders::table.select(Leader::as_select()).into_boxed();
    if let Some(code) = &filter.region_code {
        if filter.region_subtree {
            let path = super::regions::path_of(conn, code)?;
            let subtree = crate::schema::regions::table
                .filter(
                    crate::schema::regions::path.like(format!("{}%", super::escape_like(&path))),
                )
                .select(crate::schema::regions::code);
            q = q.filter(leaders::region_code.eq_any(subtree));
        } else {
            q = q.filter(leaders::region_code.eq(code));
        }
    }
    if let Some(unit) = filter.unit_id {
        q = q.filter(leaders::unit_id.eq(unit));
    }
    if let Some(active) = filter.active {
        q = q.filter(leaders::active.eq(active));
    }
    if let Some(after) = page.after {
        q = q.filter(leaders::id.gt(after));
    }
    Ok(q.order(leaders::id.asc())
        .limit(page.fetch_limit())
        .load(conn)?)
}

pub fn get(conn: &mut PgConnection, id: LeaderId) -> Result<Leader, ApiError> {
    leaders::table
        .find(id)
        .select(Leader::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("leader"))
}

/// Of these leaders, those that exist: (id, region, the unit that runs their intake, active).
pub fn intake_facts(
    conn: &mut PgConnection,
    ids: &[LeaderId],
) -> Result<Vec<(LeaderId, String, UnitId, bool)>, ApiError> {
    Ok(leaders::table
        .filter(leaders::id.eq_any(ids))
        .select((
            leaders::id,
            leaders::region_code,
            leaders::unit_id,
            leaders::active,
        ))
        .load(conn)?)
}

pub fn require_active(conn: &mut PgConnection, id: LeaderId, field: &str) -> Result<(), ApiError> {
    let active: Option<bool> = leaders::table
        .find(id)
        .select(leaders::active)
        .first(conn)
        .optional()?;
    match active {
        Some(true) => Ok(()),
        Some(false) => Err(ApiError::field(
            field,
            "inactive",
            "this leader is deactivated",
        )),
        None => Err(ApiError::field(field, "not_found", "no such leader")),
    }
}

pub fn insert(conn: &mut PgConnection, new: &NewLeader) -> Result<Leader, ApiError> {
    conn.transaction(|conn| {
        super::regions::require_active(conn, &new.region_code, "region_code")?;
        super::units::require_active(conn, new.unit_id, "unit_id")?;
        Ok(diesel::insert_into(leaders::table)
            .values(new)
            .returning(Leader::as_returning())
            .get_result(conn)?)
    })
}

pub fn update(
    conn: &mut PgConnection,
    id: LeaderId,
    cond: &IfMatchCondition,
    changes: &LeaderChanges,
) -> Result<Leader, ApiError> {
    conn.transaction(|conn| {
        let version: i32 = leaders::table
            .find(id)
            .for_update()
            .select(leaders::version)
            .first(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("leader"))?;
        cond.check(version)?;
        if let Some(code) = &changes.region_code {
            super::regions::require_active(conn, code, "region_code")?;
        }
        if let Some(unit) = changes.unit_id {
            super::units::require_active(conn, unit, "unit_id")?;
        }
        Ok(diesel::update(leaders::table.find(id))
            .set((
                changes,
                leaders::version.eq(leaders::version + 1),
                leaders::updated_at.eq(Utc::now()),
            ))
            .returning(Leader::as_returning())
            .get_result(conn)?)
    })
}
