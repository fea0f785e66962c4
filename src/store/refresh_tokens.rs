//! Refresh-token families with rotation and reuse detection.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::token_revocations::{self, Reason};
use crate::auth::refresh::{hash_token, new_refresh_token};
use crate::auth::revocation::Revocation;
use crate::domain::ids::UserId;
use crate::error::ApiError;
use crate::schema::refresh_tokens as rt;

pub struct IssuedRefresh {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// The login (family) it belongs to: the access tokens' `sid`.
    pub family_id: Uuid,
}

/// Start a new family (at login).
pub fn issue(
    conn: &mut PgConnection,
    user: UserId,
    ttl_secs: u64,
) -> Result<IssuedRefresh, ApiError> {
    insert_in_family(conn, user, Uuid::now_v7(), ttl_secs)
}

fn insert_in_family(
    conn: &mut PgConnection,
    user: UserId,
    family: Uuid,
    ttl_secs: u64,
) -> Result<IssuedRefresh, ApiError> {
    let token = new_refresh_token();
    let expires_at =
        Utc::now() + Duration::seconds(i64::try_from(ttl_secs).unwrap_or(i64::MAX / 4_000));
    diesel::insert_into(rt::table)
        .values((
            rt::id.eq(Uuid::now_v7()),
            rt::family_id.eq(family),
            rt::user_id.eq(user),
            rt::token_hash.eq(hash_token(&token)),
            rt::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(IssuedRefresh {
        token,
        expires_at,
        family_id: family,
    })
}

pub enum Rotation {
    Rotated {
        user: UserId,
        next: IssuedRefresh,
    },
    /// Unknown, expired or revoked.
    Invalid,
    /// A token that was already used: someone replayed it, so the whole family is revoked,
    /// its access tokens too.
    Reused(Revocation),
}

#[derive(Queryable)]
struct Row {
    id: Uuid,
    family_id: Uuid,
    user_id: UserId,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

fn find(conn: &mut PgConnection, token: &str) -> Result<Option<Row>, ApiError> {
    Ok(rt::table
        .filter(rt::token_hash.eq(hash_token(token)))
        .select((
            rt::id,
            rt::family_id,
            rt::user_id,
            rt::expires_at,
            rt::used_at,
            rt::revoked_at,
        ))
        .for_update()
        .first(conn)
        .optional()?)
}

/// Revoke a family's refresh tokens; how many were still valid.
fn revoke_family(conn: &mut PgConnection, family: Uuid) -> Result<usize, ApiError> {
    Ok(
        diesel::update(rt::table.filter(rt::family_id.eq(family).and(rt::revoked_at.is_null())))
            .set(rt::revoked_at.eq(Utc::now()))
            .execute(conn)?,
    )
}

/// Exchange a refresh token for the next one of its family. A replayed one revokes the family
/// and its access tokens (kept `keep_for`, see `token_revocations`).
pub fn rotate(
    conn: &mut PgConnection,
    token: &str,
    ttl_secs: u64,
    keep_for: std::time::Duration,
) -> Result<Rotation, ApiError> {
    conn.transaction(|conn| {
        let Some(row) = find(conn, token)? else {
            return Ok(Rotation::Invalid);
        };
        if row.revoked_at.is_some() || row.expires_at <= Utc::now() {
            return Ok(Rotation::Invalid);
        }
        if row.used_at.is_some() {
            revoke_family(conn, row.family_id)?;
            let revoked = token_revocations::revoke_session(
                conn,
                row.family_id,
                Reason::RefreshReuse,
                keep_for,
            )?;
            return Ok(Rotation::Reused(revoked));
        }
        diesel::update(rt::table.find(row.id))
            .set(rt::used_at.eq(Utc::now()))
            .execute(conn)?;
        let next = insert_in_family(conn, row.user_id, row.family_id, ttl_secs)?;
        Ok(Rotation::Rotated {
            user: row.user_id,
            next,
        })
    })
}

/// Log out: revoke the token's whole family and its access tokens; returns that revocation
/// (none when the token is unknown or its family was revoked already: logout is idempotent).
pub fn revoke(
    conn: &mut PgConnection,
    token: &str,
    keep_for: std::time::Duration,
) -> Result<Option<Revocation>, ApiError> {
    conn.transaction(|conn| {
        let Some(row) = find(conn, token)? else {
            return Ok(None);
        };
        if revoke_family(conn, row.family_id)? == 0 {
            return Ok(None);
        }
        token_revocations::revoke_session(conn, row.family_id, Reason::Logout, keep_for).map(Some)
    })
}

/// Revoke every family of a user (deactivation, password change).
pub fn revoke_all_for_user(conn: &mut PgConnection, user: UserId) -> Result<(), ApiError> {
    diesel::update(rt::table.filter(rt::user_id.eq(user).and(rt::revoked_at.is_null())))
        .set(rt::revoked_at.eq(Utc::now()))
        .execute(conn)?;
    Ok(())
}

pub fn purge_expired(conn: &mut PgConnection) -> Result<usize, ApiError> {
    Ok(
        diesel::delete(rt::table.filter(rt::expires_at.lt(Utc::now() - Duration::days(1))))
            .execute(conn)?,
    )
}
