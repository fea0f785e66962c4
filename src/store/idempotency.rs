//! The Idempotency-Key records.

use chrono::{Duration, Utc};
use diesel::prelude::*;

use crate::db::DbError;
use crate::schema::idempotency_keys::dsl as ik;

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

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
}

/// Take the key's lock for the rest of the caller's transaction, without waiting: false when
/// another transaction (a request with this key still running, on any replica) holds it. The
/// lock is PostgreSQL's: it ends with that transaction, so also when its process dies.
pub fn lock_key(conn: &mut PgConnection, scope: &str, key: &str) -> Result<bool, DbError> {
    // Seed 26 keeps these apart from the other advisory locks (whose keys are constants or
    // seeded differently); a collision would only answer a spurious 409.
    let got: Locked =
        diesel::sql_query("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 26)) AS locked")
            .bind::<diesel::sql_types::Text, _>(format!("{scope}\u{1f}{key}"))
            .get_result(conn)?;
    Ok(got.locked)
}

/// Inside the request's transaction: lock the key ([`lock_key`]) and say what it holds. Only
/// completed outcomes are ever committed (with the work, by [`record`]), so a key without a
/// row is free, whatever happened to earlier attempts.
pub fn claim(
    conn: &mut PgConnection,
    scope: &str,
    key: &str,
    request_hash: &[u8],
) -> Result<Claim, DbError> {
    if !lock_key(conn, scope, key)? {
        return Ok(Claim::InFlight);
    }
    let existing: Option<Existing> = ik::idempotency_keys
        .filter(ik::scope.eq(scope).and(ik::key.eq(key)))
        .select((
            ik::request_hash,
            ik::status_code,
            ik::response_headers,
            ik::response_body,
            ik::locked_until,
        ))
        .first(conn)
        .optional()?;
    let Some(existing) = existing else {
        return Ok(Claim::Acquired);
    };
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
    // An in-flight claim row of an older release (during a rolling upgrade): honour its lease;
    // once it has expired, `record` overwrites it.
    Ok(if existing.locked_until > Utc::now() {
        Claim::InFlight
    } else {
        Claim::Acquired
    })
}

/// Record the answer, in the transaction of the work it answers (after [`claim`] acquired).
pub fn record(
    conn: &mut PgConnection,
    scope: &str,
    key: &str,
    method: &str,
    path: &str,
    request_hash: &[u8],
    response: &StoredResponse,
) -> Result<(), DbError> {
    let headers =
        serde_json::to_value(&response.headers).map_err(|e| DbError::Other(e.to_string()))?;
    let now = Utc::now();
    let outcome = (
        ik::request_hash.eq(request_hash),
        ik::status_code.eq(i16::try_from(response.status).unwrap_or(200)),
        ik::response_headers.eq(&headers),
        ik::response_body.eq(&response.body),
        ik::locked_until.eq(now),
        ik::completed_at.eq(now),
    );
    diesel::insert_into(ik::idempotency_keys)
        .values((
            ik::scope.eq(scope),
            ik::key.eq(key),
            ik::method.eq(method),
            ik::path.eq(path),
            outcome,
        ))
        .on_conflict((ik::scope, ik::key))
        .do_update()
        .set(outcome)
        .execute(conn)?;
    Ok(())
}

/// Delete records older than the retention period; returns how many.
pub fn purge_older_than(conn: &mut PgConnection, hours: u32) -> Result<usize, DbError> {
    let cutoff = Utc::now() - Duration::hours(i64::from(hours));
    Ok(diesel::delete(ik::idempotency_keys.filter(ik::created_at.lt(cutoff))).execute(conn)?)
}
