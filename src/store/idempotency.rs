//! The Idempotency-Key records.

use chrono::{Duration, Utc};
use diesel::prelude::*;

use crate::db::DbError;
use crate::schema::idempotency_keys::dsl as ik;

/// How long a claim may stay in flight before another request may take it over (its process
/// must have died: no request runs this long).
const IN_FLIGHT_LEASE_SECS: i64 = 60;

pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub enum Claim {
    /// This request owns the key and runs.
    Acquired,
    /// A request with this key is running now.
    InFlight,
    /// The key was used for a different request.
    Mismatch,
    /// Already done: replay this.
    Completed(StoredResponse),
}

#[derive(Queryable)]
struct Existing {
    request_hash: Vec<u8>,
    status_code: Option<i16>,
    response_headers: Option<serde_json::Value>,
    response_body: Option<Vec<u8>>,
    locked_until: chrono::DateTime<Utc>,
}

pub fn claim(
    conn: &mut PgConnection,
    scope: &str,
    key: &str,
    method: &str,
    path: &str,
    request_hash: &[u8],
) -> Result<Claim, DbError> {
    let now = Utc::now();
    let lease = now + Duration::seconds(IN_FLIGHT_LEASE_SECS);
    let inserted = diesel::insert_into(ik::idempotency_keys)
        .values((
            ik::scope.eq(scope),
            ik::key.eq(key),
            ik::method.eq(method),
            ik::path.eq(path),
            ik::request_hash.eq(request_hash),
            ik::locked_until.eq(lease),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    if inserted == 1 {
        return Ok(Claim::Acquired);
    }
    let existing: Existing = ik::idempotency_keys
        .filter(ik::scope.eq(scope).and(ik::key.eq(key)))
        .select((
            ik::request_hash,
            ik::status_code,
            ik::response_headers,
            ik::response_body,
            ik::locked_until,
        ))
        .first(conn)?;
    if existing.request_hash != request_hash {
        return Ok(Claim::Mismatch);
    }
    if let Some(status) = existing.status_code {
        let headers: Vec<(String, String)> = existing
            .response_headers
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        return Ok(Claim::Completed(StoredResponse {
            status: u16::try_from(status).unwrap_or(200),
            headers,
            body: existing.response_body.unwrap_or_default(),
        }));
    }
    if existing.locked_until > now {
        return Ok(Claim::InFlight);
    }
    // Abandoned: take it over unless someone else just did.
    let taken = diesel::update(
        ik::idempotency_keys.filter(
            ik::scope
                .eq(scope)
                .and(ik::key.eq(key))
                .and(ik::status_code.is_null())
                .and(ik::locked_until.le(now)),
        ),
    )
    .set(ik::locked_until.eq(lease))
    .execute(conn)?;
    Ok(if taken == 1 {
        Claim::Acquired
    } else {
        Claim::InFlight
    })
}

pub fn complete(
    conn: &mut PgConnection,
    scope: &str,
    key: &str,
    response: &StoredResponse,
) -> Result<(), DbError> {
    let headers =
        serde_json::to_value(&response.headers).map_err(|e| DbError::Other(e.to_string()))?;
    diesel::update(ik::idempotency_keys.filter(ik::scope.eq(scope).and(ik::key.eq(key))))
        .set((
            ik::status_code.eq(i16::try_from(response.status).unwrap_or(200)),
            ik::response_headers.eq(headers),
            ik::response_body.eq(&response.body),
            ik::completed_at.eq(Utc::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forget an in-flight claim whose request failed (and so changed nothing).
pub fn release(conn: &mut PgConnection, scope: &str, key: &str) -> Result<(), DbError> {
    diesel::delete(
        ik::idempotency_keys.filter(
            ik::scope
                .eq(scope)
                .and(ik::key.eq(key))
                .and(ik::status_code.is_null()),
        ),
    )
    .execute(conn)?;
    Ok(())
}

/// Delete records older than the retention period; returns how many.
pub fn purge_older_than(conn: &mut PgConnection, hours: u32) -> Result<usize, DbError> {
    let cutoff = Utc::now() - Duration::hours(i64::from(hours));
    Ok(diesel::delete(ik::idempotency_keys.filter(ik::created_at.lt(cutoff))).execute(conn)?)
}
