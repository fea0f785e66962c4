//! Categories: the editable topic list.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::ids::CategoryId;
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::http::preconditions::IfMatchCondition;
use crate::schema::categories;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = categories)]
pub struct Category {
    pub id: CategoryId,
    pub code: String,
    pub name: String,
    pub description: String,
    pub sort_order: i32,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = categories)]
pub struct NewCategory {
    pub id: CategoryId,
    pub code: String,
    pub name: String,
    pub description: String,
    pub sort_order: i32,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = categories)]
pub struct CategoryChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub sort_order: Option<i32>,
    pub active: Option<bool>,
}

/// Sort key: display order, then id.
pub type CategoryCursor = (i32, CategoryId);

pub fn list(
    conn: &mut PgConnection,
    active: Option<bool>,
    page: &PageRequest<CategoryCursor>,
) -> Result<Vec<Category>, ApiError> {
    let mut q = categories::table.select(Category::as_select()).into_boxed();
    if let Some(active) = active {
        q = q.filter(categories::active.eq(active));
    }
    if let Some((order, id)) = page.after {
        q = q.filter(
            categories::sort_order
                .gt(order)
                .or(categories::sort_order.eq(order).and(categories::id.gt(id))),
        );
    }
    Ok(
        q.order((categories::sort_order.asc(), categories::id.asc()))
            .limit(page.fetch_limit())
            .load(conn)?,
    )
}

pub fn get(conn: &mut PgConnection, id: CategoryId) -> Result<Category, ApiError> {
    categories::table
        .find(id)
        .select(Category::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("category"))
}

pub fn insert(conn: &mut PgConnection, new: &NewCategory) -> Result<Category, ApiError> {
    Ok(diesel::insert_into(categories::table)
        .values(new)
        .returning(Category::as_returning())
        .get_result(conn)?)
}

pub fn update(
    conn: &mut PgConnection,
    id: CategoryId,
    cond: &IfMatchCondition,
    changes: &CategoryChanges,
) -> Result<Category, ApiError> {
    conn.transaction(|conn| {
        let version: i32 = categories::table
            .find(id)
            .for_update()
            .select(categories::version)
            .first(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("category"))?;
        cond.check(version)?;
        Ok(diesel::update(categories::table.find(id))
            .set((
                changes,
                categories::version.eq(categories::version + 1),
                categories::updated_at.eq(Utc::now()),
            ))
            .returning(Category::as_returning())
            .get_result(conn)?)
    })
}

/// Of these categories, those that exist: (id, active).
pub fn active_flags(
    conn: &mut PgConnection,
    ids: &[CategoryId],
) -> Result<Vec<(CategoryId, bool)>, ApiError> {
    Ok(categories::table
        .filter(categories::id.eq_any(ids))
        .select((categories::id, categories::active))
        .load(conn)?)
}

/// 422 naming `field` unless the category exists and is active.
pub fn require_active(
    conn: &mut PgConnection,
    id: CategoryId,
    field: &str,
) -> Result<(), ApiError> {
    let active: Option<bool> = categories::table
        .find(id)
        .select(categories::active)
        .first(conn)
        .optional()?;
    match active {
        Some(true) => Ok(()),
        Some(false) => Err(ApiError::field(
            field,
            "inactive",
            "this category is deactivated",
        )),
        None => Err(ApiError::field(field, "not_found", "no such category")),
    }
}
