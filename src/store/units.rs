//! Units: the responsible organisations.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::ids::UnitId;
use crate::domain::reference::UnitKind;
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::http::preconditions::IfMatchCondition;
use crate::schema::units;

/// Read model.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = units)]
pub struct Unit {
    pub id: UnitId,
    pub name: String,
    pub kind: UnitKind,
    pub region_code: String,
    pub parent_id: Option<UnitId>,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Insert form.
#[derive(Debug, Insertable)]
#[diesel(table_name = units)]
pub struct NewUnit {
    pub id: UnitId,
    pub name: String,
    pub kind: UnitKind,
    pub region_code: String,
    pub parent_id: Option<UnitId>,
}

/// Update form: `None` leaves a column alone; `parent_id: Some(None)` clears it.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = units)]
pub struct UnitChanges {
    pub name: Option<String>,
    pub kind: Option<UnitKind>,
    pub region_code: Option<String>,
    pub parent_id: Option<Option<UnitId>>,
    pub active: Option<bool>,
}

#[derive(Debug, Default)]
pub struct UnitFilter {
    pub region_code: Option<String>,
    /// Include units of the whole region subtree, not only the region itself.
    pub region_subtree: bool,
    pub kind: Option<UnitKind>,
    pub parent_id: Option<UnitId>,
    pub active: Option<bool>,
    pub name_contains: Option<String>,
}

/// Sort key: name, then id.
pub type UnitCursor = (String, UnitId);

pub fn list(
    conn: &mut PgConnection,
    filter: &UnitFilter,
    page: &PageRequest<UnitCursor>,
) -> Result<Vec<Unit>, ApiError> {
    let mut q = units::table.select(Unit::as_select()).into_boxed();
    if let Some(code) = &filter.region_code {
        if filter.region_subtree {
            let path = super::regions::path_of(conn, code)?;
            let subtree = crate::schema::regions::table
                .filter(
                    crate::schema::regions::path.like(format!("{}%", super::escape_like(&path))),
                )
                .select(crate::schema::regions::code);
            q = q.filter(units::region_code.eq_any(subtree));
        } else {
            q = q.filter(units::region_code.eq(code));
        }
    }
    if let Some(kind) = filter.kind {
        q = q.filter(units::kind.eq(kind));
    }
    if let Some(parent) = filter.parent_id {
        q = q.filter(units::parent_id.eq(parent));
    }
    if let Some(active) = filter.active {
        q = q.filter(units::active.eq(active));
    }
    if let Some(text) = &filter.name_contains {
        q = q.filter(units::name.like(format!("%{}%", super::escape_like(text))));
    }
    if let Some((name, id)) = &page.after {
        q = q.filter(
            units::name
                .gt(name)
                .or(units::name.eq(name).and(units::id.gt(*id))),
        );
    }
    Ok(q.order((units::name.asc(), units::id.asc()))
        .limit(page.fetch_limit())
        .load(conn)?)
}

pub fn get(conn: &mut PgConnection, id: UnitId) -> Result<Unit, ApiError> {
    units::table
        .find(id)
        .select(Unit::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("unit"))
}

pub fn insert(conn: &mut PgConnection, new: &NewUnit) -> Result<Unit, ApiError> {
    conn.transaction(|conn| {
        super::regions::require_active(conn, &new.region_code, "region_code")?;
        if let Some(parent) = new.parent_id {
            require_active(conn, parent, "parent_id")?;
        }
        Ok(diesel::insert_into(units::table)
            .values(new)
            .returning(Unit::as_returning())
            .get_result(conn)?)
    })
}

pub fn update(
    conn: &mut PgConnection,
    id: UnitId,
    cond: &IfMatchCondition,
    changes: &UnitChanges,
) -> Result<Unit, ApiError> {
    conn.transaction(|conn| {
        let current: Unit = units::table
            .find(id)
            .for_update()
            .select(Unit::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("unit"))?;
        cond.check(current.version)?;
        if let Some(code) = &changes.region_code {
            super::regions::require_active(conn, code, "region_code")?;
        }
        if let Some(Some(parent)) = changes.parent_id {
            if parent == id {
                return Err(ApiError::field(
                    "parent_id",
                    "invalid_value",
                    "a unit cannot be its own parent",
                ));
            }
            require_active(conn, parent, "parent_id")?;
            if is_ancestor(conn, id, parent)? {
                return Err(ApiError::field(
                    "parent_id",
                    "invalid_value",
                    "would make a cycle of parent units",
                ));
            }
        }
        Ok(diesel::update(units::table.find(id))
            .set((
                changes,
                units::version.eq(units::version + 1),
                units::updated_at.eq(Utc::now()),
            ))
            .returning(Unit::as_returning())
            .get_result(conn)?)
    })
}

/// 422 naming `field` unless the unit exists and is active.
pub fn require_active(conn: &mut PgConnection, id: UnitId, field: &str) -> Result<(), ApiError> {
    let active: Option<bool> = units::table
        .find(id)
        .select(units::active)
        .first(conn)
        .optional()?;
    match active {
        Some(true) => Ok(()),
        Some(false) => Err(ApiError::field(
            field,
            "inactive",
            "this unit is deactivated",
        )),
        None => Err(ApiError::field(field, "not_found", "no such unit")),
    }
}

/// Is `ancestor` above `unit` in the parent chain of `start`? (Walks up from `start`.)
fn is_ancestor(conn: &mut PgConnection, ancestor: UnitId, start: UnitId) -> Result<bool, ApiError> {
    let mut cursor = Some(start);
    let mut steps = 0;
    while let Some(id) = cursor {
        if id == ancestor {
            return Ok(true);
        }
        steps += 1;
        if steps > 64 {
            return Ok(true);
        }
        cursor = units::table
            .find(id)
            .select(units::parent_id)
            .first(conn)
            .optional()?
            .flatten();
    }
    Ok(false)
}
