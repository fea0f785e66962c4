//! Regions: the administrative division tree (GB/T 2260 codes).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::reference::{RegionLevel, check_region_parent, region_path};
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::http::preconditions::IfMatchCondition;
use crate::schema::regions;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = regions)]
pub struct Region {
    pub code: String,
    pub name: String,
    pub level: RegionLevel,
    pub parent_code: Option<String>,
    pub path: String,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = regions)]
pub struct NewRegion {
    pub code: String,
    pub name: String,
    pub level: RegionLevel,
    pub parent_code: Option<String>,
    pub path: String,
}

/// Codes and parents are identity: they never change (a re-division gets new codes).
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = regions)]
pub struct RegionChanges {
    pub name: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Default)]
pub struct RegionFilter {
    pub parent_code: Option<String>,
    pub level: Option<RegionLevel>,
    /// Only regions inside this one's subtree (itself included).
    pub within: Option<String>,
    pub active: Option<bool>,
}

pub fn list(
    conn: &mut PgConnection,
    filter: &RegionFilter,
    page: &PageRequest<String>,
) -> Result<Vec<Region>, ApiError> {
    let mut q = regions::table.select(Region::as_select()).into_boxed();
    if let Some(parent) = &filter.parent_code {
        q = q.filter(regions::parent_code.eq(parent));
    }
    if let Some(level) = filter.level {
        q = q.filter(regions::level.eq(level));
    }
    if let Some(within) = &filter.within {
        let path = path_of(conn, within)?;
        q = q.filter(regions::path.like(format!("{}%", super::escape_like(&path))));
    }
    if let Some(active) = filter.active {
        q = q.filter(regions::active.eq(active));
    }
    if let Some(after) = &page.after {
        q = q.filter(regions::code.gt(after));
    }
    Ok(q.order(regions::code.asc())
        .limit(page.fetch_limit())
        .load(conn)?)
}

pub fn get(conn: &mut PgConnection, code: &str) -> Result<Region, ApiError> {
    regions::table
        .find(code)
        .select(Region::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("region"))
}

/// The materialised path of a region. An unknown region yields a path nothing lies under, so a
/// filter by it finds nothing (as a filter by any unknown value does).
pub fn path_of(conn: &mut PgConnection, code: &str) -> Result<String, ApiError> {
    Ok(regions::table
        .find(code)
        .select(regions::path)
        .first(conn)
        .optional()?
        .unwrap_or_else(|| format!("{code}/unknown/")))
}

/// Of these regions, those that exist: (code, materialised path, active).
pub fn paths_of(
    conn: &mut PgConnection,
    codes: &[String],
) -> Result<Vec<(String, String, bool)>, ApiError> {
    Ok(regions::table
        .filter(regions::code.eq_any(codes))
        .select((regions::code, regions::path, regions::active))
        .load(conn)?)
}

/// 422 naming `field` unless the region exists and is active.
pub fn require_active(conn: &mut PgConnection, code: &str, field: &str) -> Result<(), ApiError> {
    let active: Option<bool> = regions::table
        .find(code)
        .select(regions::active)
        .first(conn)
        .optional()?;
    match active {
        Some(true) => Ok(()),
        Some(false) => Err(ApiError::field(
            field,
            "inactive",
            "this region is deactivated",
        )),
        None => Err(ApiError::field(
            field,
            "not_found",
            format!("no region {code}"),
        )),
    }
}

/// Is `code` inside the subtree of `root` (or `root` itself)?
pub fn is_within(conn: &mut PgConnection, code: &str, root: &str) -> Result<bool, ApiError> {
    let root_path: Option<String> = regions::table
        .find(root)
        .select(regions::path)
        .first(conn)
        .optional()?;
    let Some(root_path) = root_path else {
        return Ok(false);
    };
    let path: Option<String> = regions::table
        .find(code)
        .select(regions::path)
        .first(conn)
        .optional()?;
    Ok(path.is_some_and(|p| p.starts_with(&root_path)))
}

pub fn insert(
    conn: &mut PgConnection,
    code: &str,
    name: &str,
    level: RegionLevel,
    parent_code: Option<&str>,
) -> Result<Region, ApiError> {
    conn.transaction(|conn| {
        let parent_path = match parent_code {
            None if level == RegionLevel::Province => None,
            None => {
                return Err(ApiError::field(
                    "parent_code",
                    "required",
                    "only a province has no parent",
                ));
            }
            Some(_) if level == RegionLevel::Province => {
                return Err(ApiError::field(
                    "parent_code",
                    "invalid_value",
                    "a province has no parent",
                ));
            }
            Some(p) => {
                let parent = regions::table
                    .find(p)
                    .select(Region::as_select())
                    .first(conn)
                    .optional()?
                    .ok_or_else(|| {
                        ApiError::field("parent_code", "not_found", format!("no region {p}"))
                    })?;
                if parent.level.child() != Some(level) {
                    return Err(ApiError::field(
                        "parent_code",
                        "invalid_value",
                        format!(
                            "a {level} must lie directly in a {}",
                            match level {
                                RegionLevel::City => "province",
                                _ => "city",
                            }
                        ),
                    ));
                }
                if !check_region_parent(code, &parent.code, parent.level) {
                    return Err(ApiError::field(
                        "code",
                        "format",
                        "must share its parent's code prefix",
                    ));
                }
                Some(parent.path)
            }
        };
        let new = NewRegion {
            code: code.to_owned(),
            name: name.to_owned(),
            level,
            parent_code: parent_code.map(str::to_owned),
            path: region_path(parent_path.as_deref(), code),
        };
        Ok(diesel::insert_into(regions::table)
            .values(&new)
            .returning(Region::as_returning())
            .get_result(conn)?)
    })
}

pub fn update(
    conn: &mut PgConnection,
    code: &str,
    cond: &IfMatchCondition,
    changes: &RegionChanges,
) -> Result<Region, ApiError> {
    conn.transaction(|conn| {
        let version: i32 = regions::table
            .find(code)
            .for_update()
            .select(regions::version)
            .first(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("region"))?;
        cond.check(version)?;
        Ok(diesel::update(regions::table.find(code))
            .set((
                changes,
                regions::version.eq(regions::version + 1),
                regions::updated_at.eq(Utc::now()),
            ))
            .returning(Region::as_returning())
            .get_result(conn)?)
    })
}
