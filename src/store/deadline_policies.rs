//! Deadline policies: time limits in working days per priority, optionally narrowed to a message
//! kind and/or a category. The most specific active policy applies ([`policy_for`]).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::domain::ids::CategoryId;
use crate::domain::message::{MessageKind, Priority};
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::http::preconditions::IfMatchCondition;
use crate::schema::deadline_policies as dp;

pub type DeadlinePolicyId = Uuid;

/// The province's default policies (one per priority, no kind, no category), created by the
/// migration with these fixed ids.
pub const DEFAULT_IMPORTANT: DeadlinePolicyId =
    Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_d001);
pub const DEFAULT_ROUTINE: DeadlinePolicyId =
    Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_d002);

/// Read model.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = dp)]
pub struct DeadlinePolicy {
    pub id: DeadlinePolicyId,
    pub priority: Priority,
    pub message_kind: Option<MessageKind>,
    pub category_id: Option<CategoryId>,
    /// Working days to sign for an assignment.
    pub sign_for_days: i32,
    /// Working days to reply.
    pub reply_days: i32,
    /// Working days before the due time at which a deadline is "due soon".
    pub due_soon_days: i32,
    pub max_extensions: i32,
    /// Most working days all extensions of one deadline may add up to.
    pub max_extension_days: i32,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl DeadlinePolicy {
    /// A default policy: the priority alone, no kind, no category. Every priority has one, and
    /// it stays active, so [`policy_for`] always finds a policy.
    pub fn is_default(&self) -> bool {
        self.message_kind.is_none() && self.category_id.is_none()
    }
}

/// Insert form.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = dp)]
pub struct NewDeadlinePolicy {
    pub id: DeadlinePolicyId,
    pub priority: Priority,
    pub message_kind: Option<MessageKind>,
    pub category_id: Option<CategoryId>,
    pub sign_for_days: i32,
    pub reply_days: i32,
    pub due_soon_days: i32,
    pub max_extensions: i32,
    pub max_extension_days: i32,
}

/// Update form: the limits and `active`; the scope (priority, kind, category) never changes.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = dp)]
pub struct DeadlinePolicyChanges {
    pub sign_for_days: Option<i32>,
    pub reply_days: Option<i32>,
    pub due_soon_days: Option<i32>,
    pub max_extensions: Option<i32>,
    pub max_extension_days: Option<i32>,
    pub active: Option<bool>,
}

#[derive(Debug, Default, Clone)]
pub struct DeadlinePolicyFilter {
    pub priority: Option<Priority>,
    pub active: Option<bool>,
}

/// Lists are ordered by id (creation order; the two defaults come first).
pub fn list(
    conn: &mut PgConnection,
    filter: &DeadlinePolicyFilter,
    page: &PageRequest<DeadlinePolicyId>,
) -> Result<Vec<DeadlinePolicy>, ApiError> {
    let mut q = dp::table.select(DeadlinePolicy::as_select()).into_boxed();
    if let Some(priority) = filter.priority {
        q = q.filter(dp::priority.eq(priority));
    }
    if let Some(active) = filter.active {
        q = q.filter(dp::active.eq(active));
    }
    if let Some(after) = page.after {
        q = q.filter(dp::id.gt(after));
    }
    Ok(q.order(dp::id.asc()).limit(page.fetch_limit()).load(conn)?)
}

pub fn get(conn: &mut PgConnection, id: DeadlinePolicyId) -> Result<DeadlinePolicy, ApiError> {
    dp::table
        .find(id)
        .select(DeadlinePolicy::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("deadline policy"))
}

/// Create a policy: 422 for an unknown or deactivated category, 409 when a policy with the same
/// scope (priority, kind, category) exists, active or not.
pub fn insert(
    conn: &mut PgConnection,
    new: &NewDeadlinePolicy,
) -> Result<DeadlinePolicy, ApiError> {
    conn.transaction(|conn| {
        if let Some(category) = new.category_id {
            super::categories::require_active(conn, category, "category_id")?;
        }
        let mut same_scope = dp::table
            .filter(dp::priority.eq(new.priority))
            .select(dp::id)
            .into_boxed();
        same_scope = match new.message_kind {
            Some(kind) => same_scope.filter(dp::message_kind.eq(kind)),
            None => same_scope.filter(dp::message_kind.is_null()),
        };
        same_scope = match new.category_id {
            Some(category) => same_scope.filter(dp::category_id.eq(category)),
            None => same_scope.filter(dp::category_id.is_null()),
        };
        if let Some(existing) = same_scope.first::<DeadlinePolicyId>(conn).optional()? {
            return Err(ApiError::Conflict(format!(
                "policy {existing} has this scope (priority, message kind, category); change that one"
            )));
        }
        // The unique index deadline_policies_scope_key settles races (409 as well).
        Ok(diesel::insert_into(dp::table)
            .values(new)
            .returning(DeadlinePolicy::as_returning())
            .get_result(conn)?)
    })
}

/// Change a policy's limits or (de)activate it. A default policy cannot be deactivated (422).
/// Running deadlines do not follow here: `app::deadlines::update_policy` does both.
pub fn update(
    conn: &mut PgConnection,
    id: DeadlinePolicyId,
    cond: &IfMatchCondition,
    changes: &DeadlinePolicyChanges,
) -> Result<DeadlinePolicy, ApiError> {
    conn.transaction(|conn| {
        let current: DeadlinePolicy = dp::table
            .find(id)
            .for_update()
            .select(DeadlinePolicy::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("deadline policy"))?;
        cond.check(current.version)?;
        if changes.active == Some(false) && current.is_default() {
            return Err(ApiError::field(
                "active",
                "invalid_value",
                "the default policy of a priority cannot be deactivated (change its limits instead)",
            ));
        }
        let policy = diesel::update(dp::table.find(id))
            .set((
                changes,
                dp::version.eq(dp::version + 1),
                dp::updated_at.eq(Utc::now()),
            ))
            .returning(DeadlinePolicy::as_returning())
            .get_result(conn)?;
        Ok(policy)
    })
}

/// The policy that applies to a message: the most specific ACTIVE policy of its priority, in
/// this order:
///
/// 1. category and message kind both match;
/// 2. category matches (any kind);
/// 3. message kind matches (any category);
/// 4. the priority's default (no kind, no category).
///
/// A policy narrowed to another kind or category never applies. The defaults cannot be
/// deactivated through the API, so a policy is always found; if the table was changed behind
/// the API's back and none is, the answer is an internal error (a configuration fault, not a
/// client's).
pub fn policy_for(
    conn: &mut PgConnection,
    priority: Priority,
    kind: MessageKind,
    category: CategoryId,
) -> Result<DeadlinePolicy, ApiError> {
    dp::table
        .filter(dp::active.eq(true))
        .filter(dp::priority.eq(priority))
        .filter(dp::message_kind.is_null().or(dp::message_kind.eq(kind)))
        .filter(dp::category_id.is_null().or(dp::category_id.eq(category)))
        .order((
            dp::category_id.is_not_null().desc(),
            dp::message_kind.is_not_null().desc(),
        ))
        .select(DeadlinePolicy::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            ApiError::Internal(format!(
                "no active deadline policy for priority `{priority}` (the default was removed or deactivated)"
            ))
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_ids_are_the_migration_s() {
        assert_eq!(
            super::DEFAULT_IMPORTANT.to_string(),
            "00000000-0000-7000-8000-00000000d001"
        );
        assert_eq!(
            super::DEFAULT_ROUTINE.to_string(),
            "00000000-0000-7000-8000-00000000d002"
        );
    }
}
