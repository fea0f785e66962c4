//! User accounts (people: citizens and staff).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::ids::{LeaderId, UnitId, UserId};
use crate::domain::role::{Placement, Role, check_placement};
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::http::preconditions::IfMatchCondition;
use crate::schema::users;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub password_hash: String,
    pub display_name: String,
    pub role: Role,
    pub unit_id: Option<UnitId>,
    pub scope_region_code: Option<String>,
    pub leader_id: Option<LeaderId>,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl User {
    pub fn placement(&self) -> Placement<'_> {
        Placement {
            unit: self.unit_id,
            scope_region: self.scope_region_code.as_deref(),
            leader: self.leader_id,
        }
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser {
    pub id: UserId,
    pub email: String,
    pub password_hash: String,
    pub display_name: String,
    pub role: Role,
    pub unit_id: Option<UnitId>,
    pub scope_region_code: Option<String>,
    pub leader_id: Option<LeaderId>,
}

#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub unit_id: Option<Option<UnitId>>,
    pub scope_region_code: Option<Option<String>>,
    pub leader_id: Option<Option<LeaderId>>,
    pub active: Option<bool>,
    pub password_hash: Option<String>,
}

#[derive(Debug, Default)]
pub struct UserFilter {
    pub unit_id: Option<UnitId>,
    pub role: Option<Role>,
    pub active: Option<bool>,
}

pub fn find_by_email(conn: &mut PgConnection, email: &str) -> Result<Option<User>, ApiError> {
    Ok(users::table
        .filter(crate::db::lower(users::email).eq(email.to_lowercase()))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

pub fn get(conn: &mut PgConnection, id: UserId) -> Result<User, ApiError> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("user"))
}

pub fn list(
    conn: &mut PgConnection,
    filter: &UserFilter,
    page: &PageRequest<UserId>,
) -> Result<Vec<User>, ApiError> {
    let mut q = users::table.select(User::as_select()).into_boxed();
    if let Some(unit) = filter.unit_id {
        q = q.filter(users::unit_id.eq(unit));
    }
    if let Some(role) = filter.role {
        q = q.filter(users::role.eq(role));
    }
    if let Some(active) = filter.active {
        q = q.filter(users::active.eq(active));
    }
    if let Some(after) = page.after {
        q = q.filter(users::id.gt(after));
    }
    Ok(q.order(users::id.asc())
        .limit(page.fetch_limit())
        .load(conn)?)
}

/// Check that the places an account points at exist and are active.
fn check_references(conn: &mut PgConnection, role: Role, p: Placement<'_>) -> Result<(), ApiError> {
    check_placement(role, p)
        .map_err(|(field, msg)| ApiError::field(field, "invalid_value", msg))?;
    if let Some(unit) = p.unit {
        super::units::require_active(conn, unit, "unit_id")?;
    }
    if let Some(code) = p.scope_region {
        super::regions::require_active(conn, code, "scope_region_code")?;
    }
    if let Some(leader) = p.leader {
        super::leaders::require_active(conn, leader, "leader_id")?;
    }
    Ok(())
}

/// A leader account takes its region from its leader record: the region to store when the
/// account is (or becomes) a linked leader (422 when another one is given).
fn leader_region(
    conn: &mut PgConnection,
    role: Role,
    p: Placement<'_>,
) -> Result<Option<String>, ApiError> {
    let (Role::Leader, Some(leader)) = (role, p.leader) else {
        return Ok(None);
    };
    let record = super::leaders::get(conn, leader)
        .map_err(|e| e.missing_as_field("leader_id", "no such leader"))?;
    match p.scope_region {
        Some(given) if given != record.region_code => Err(ApiError::field(
            "scope_region_code",
            "invalid_value",
            format!(
                "a leader account takes its leader record's region ({}); leave this out",
                record.region_code
            ),
        )),
        _ => Ok(Some(record.region_code)),
    }
}

pub fn insert(conn: &mut PgConnection, new: &NewUser) -> Result<User, ApiError> {
    conn.transaction(|conn| {
        let mut new = new.clone();
        let given = Placement {
            unit: new.unit_id,
            scope_region: new.scope_region_code.as_deref(),
            leader: new.leader_id,
        };
        if let Some(region) = leader_region(conn, new.role, given)? {
            new.scope_region_code = Some(region);
        }
        let new = &new;
        let placement = Placement {
            unit: new.unit_id,
            scope_region: new.scope_region_code.as_deref(),
            leader: new.leader_id,
        };
        check_references(conn, new.role, placement)?;
        if find_by_email(conn, &new.email)?.is_some() {
            return Err(ApiError::Conflict(
                "an account with this e-mail address exists".into(),
            ));
        }
        Ok(diesel::insert_into(users::table)
            .values(new)
            .returning(User::as_returning())
            .get_result(conn)?)
    })
}

/// Apply `changes` after `authorize` has approved the account as it is now and as it will be.
pub fn update(
    conn: &mut PgConnection,
    id: UserId,
    cond: &IfMatchCondition,
    changes: &UserChanges,
    authorize: impl FnOnce(&User, Role, Placement<'_>) -> Result<(), ApiError>,
) -> Result<User, ApiError> {
    conn.transaction(|conn| {
        let current: User = users::table
            .find(id)
            .for_update()
            .select(User::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("user"))?;
        if current.role == Role::Integration {
            return Err(ApiError::Conflict(
                "this is an integration client's account: change it at /api/v1/integration-clients"
                    .into(),
            ));
        }
        let role = changes.role.unwrap_or(current.role);
        let mut changes = changes.clone();
        let given = Placement {
            unit: changes.unit_id.unwrap_or(current.unit_id),
            scope_region: match &changes.scope_region_code {
                Some(v) => v.as_deref(),
                None => current.scope_region_code.as_deref(),
            },
            leader: changes.leader_id.unwrap_or(current.leader_id),
        };
        if let Some(region) = leader_region(conn, role, given)? {
            changes.scope_region_code = Some(Some(region));
        }
        let changes = &changes;
        let scope_region = match &changes.scope_region_code {
            Some(v) => v.as_deref(),
            None => current.scope_region_code.as_deref(),
        };
        let after = Placement {
            unit: changes.unit_id.unwrap_or(current.unit_id),
            scope_region,
            leader: changes.leader_id.unwrap_or(current.leader_id),
        };
        authorize(&current, role, after)?;
        cond.check(current.version)?;
        check_references(conn, role, after)?;
        Ok(diesel::update(users::table.find(id))
            .set((
                changes,
                users::version.eq(users::version + 1),
                users::updated_at.eq(Utc::now()),
            ))
            .returning(User::as_returning())
            .get_result(conn)?)
    })
}

pub fn record_login(conn: &mut PgConnection, id: UserId) -> Result<(), ApiError> {
    diesel::update(users::table.find(id))
        .set(users::last_login_at.eq(Utc::now()))
        .execute(conn)?;
    Ok(())
}
