//! Integration clients (service accounts): client id + hashed secret + scopes, each with an
//! account of role `integration` (same id) that its actions are recorded under.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::app::access::{Classes, ClientView};
use crate::auth::revocation::Revocation;
use crate::domain::client_scope::{ClientScope, normalize};
use crate::domain::ids::UserId;
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::http::preconditions::IfMatchCondition;
use crate::schema::{integration_clients as ic, users};

/// Read model.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ic)]
pub struct IntegrationClient {
    pub id: Uuid,
    pub client_id: String,
    pub name: String,
    pub secret_hash: Vec<u8>,
    pub scopes: Vec<String>,
    pub active: bool,
    pub version: i32,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub secret_rotated_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The region subtree it reads (`None`: the whole province).
    pub region_code: Option<String>,
}

impl IntegrationClient {
    /// What the client may read (docs/ACCESS.md), by its scopes now.
    pub fn view(&self) -> ClientView {
        ClientView {
            classes: Classes::of_client(&self.scopes()),
            region_code: self.region_code.clone(),
        }
    }

    pub fn scopes(&self) -> Vec<ClientScope> {
        normalize(
            &self
                .scopes
                .iter()
                .filter_map(|s| ClientScope::parse(s))
                .collect::<Vec<_>>(),
        )
    }
}

/// A new secret: 256 random bits, shown once.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("lys_{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn new_client_id() -> String {
    format!("lyc_{}", Uuid::new_v4().simple())
}

pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Equal hashes, compared in time independent of where they differ.
fn same_hash(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn scope_texts(scopes: &[ClientScope]) -> Vec<String> {
    normalize(scopes)
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect()
}

/// Create a client and its account; returns the client and its secret (the only time it is
/// known).
pub fn create(
    conn: &mut PgConnection,
    name: &str,
    scopes: &[ClientScope],
    region_code: Option<&str>,
    by: UserId,
    at: DateTime<Utc>,
) -> Result<(IntegrationClient, String), ApiError> {
    conn.transaction(|conn| {
        if let Some(code) = region_code {
            super::regions::require_active(conn, code, "region_code")?;
        }
        let id = Uuid::now_v7();
        let client_id = new_client_id();
        let secret = new_secret();
        // The account: no password can match `!` (not a PHC string), so it never logs in with
        // one; its e-mail address is reserved (RFC 2606 `.invalid`).
        diesel::insert_into(users::table)
            .values((
                users::id.eq(id),
                users::email.eq(format!("{client_id}@clients.liuyan.invalid")),
                users::password_hash.eq("!"),
                users::display_name.eq(name),
                users::role.eq(Role::Integration),
                users::created_at.eq(at),
                users::updated_at.eq(at),
            ))
            .execute(conn)?;
        let client = diesel::insert_into(ic::table)
            .values((
                ic::id.eq(id),
                ic::client_id.eq(&client_id),
                ic::name.eq(name),
                ic::secret_hash.eq(hash_secret(&secret)),
                ic::scopes.eq(scope_texts(scopes)),
                ic::region_code.eq(region_code),
                ic::created_by.eq(by),
                ic::created_at.eq(at),
                ic::updated_at.eq(at),
                ic::secret_rotated_at.eq(at),
            ))
            .returning(IntegrationClient::as_returning())
            .get_result(conn)?;
        Ok((client, secret))
    })
}

pub fn get(conn: &mut PgConnection, id: Uuid) -> Result<IntegrationClient, ApiError> {
    ic::table
        .find(id)
        .select(IntegrationClient::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("integration client"))
}

/// Newest first, keyset-paged by (created_at, id).
pub fn list(
    conn: &mut PgConnection,
    page: &PageRequest<(DateTime<Utc>, Uuid)>,
) -> Result<Vec<IntegrationClient>, ApiError> {
    let mut q = ic::table
        .select(IntegrationClient::as_select())
        .order((ic::created_at.desc(), ic::id.desc()))
        .limit(page.fetch_limit())
        .into_boxed();
    if let Some((at, id)) = page.after {
        q = q.filter(
            ic::created_at
                .lt(at)
                .or(ic::created_at.eq(at).and(ic::id.lt(id))),
        );
    }
    Ok(q.load(conn)?)
}

/// Changes to a client (`None` = unchanged).
#[derive(Debug, Default)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub scopes: Option<Vec<ClientScope>>,
    /// `Some(None)` widens the client to the whole province.
    pub region_code: Option<Option<String>>,
    pub active: Option<bool>,
}

/// Change a client. Deactivating an active one also voids its access tokens (kept
/// `keep_for`); that revocation is returned.
pub fn update(
    conn: &mut PgConnection,
    id: Uuid,
    changes: &ClientChanges,
    cond: &IfMatchCondition,
    at: DateTime<Utc>,
    keep_for: std::time::Duration,
) -> Result<(IntegrationClient, Option<Revocation>), ApiError> {
    conn.transaction(|conn| {
        let current = lock(conn, id)?;
        cond.check(current.version)?;
        let revoked = if current.active && changes.active == Some(false) {
            Some(super::token_revocations::revoke_subject(
                conn,
                id,
                super::token_revocations::Reason::Deactivated,
                keep_for,
            )?)
        } else {
            None
        };
        let name = changes.name.clone().unwrap_or(current.name);
        let scopes = changes
            .scopes
            .as_deref()
            .map(scope_texts)
            .unwrap_or(current.scopes);
        let active = changes.active.unwrap_or(current.active);
        let region_code = match &changes.region_code {
            Some(Some(code)) => {
                super::regions::require_active(conn, code, "region_code")?;
                Some(code.clone())
            }
            Some(None) => None,
            None => current.region_code,
        };
        diesel::update(users::table.find(id))
            .set((
                users::display_name.eq(&name),
                users::active.eq(active),
                users::updated_at.eq(at),
                users::version.eq(users::version + 1),
            ))
            .execute(conn)?;
        let client = diesel::update(ic::table.find(id))
            .set((
                ic::name.eq(&name),
                ic::scopes.eq(scopes),
                ic::region_code.eq(region_code),
                ic::active.eq(active),
                ic::updated_at.eq(at),
                ic::version.eq(ic::version + 1),
            ))
            .returning(IntegrationClient::as_returning())
            .get_result(conn)?;
        Ok((client, revoked))
    })
}

fn lock(conn: &mut PgConnection, id: Uuid) -> Result<IntegrationClient, ApiError> {
    ic::table
        .find(id)
        .for_update()
        .select(IntegrationClient::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("integration client"))
}

/// Replace the secret (the old one stops working at once); returns the new one.
pub fn rotate_secret(
    conn: &mut PgConnection,
    id: Uuid,
    cond: &IfMatchCondition,
    at: DateTime<Utc>,
) -> Result<(IntegrationClient, String), ApiError> {
    conn.transaction(|conn| {
        let current = lock(conn, id)?;
        cond.check(current.version)?;
        let secret = new_secret();
        let client = diesel::update(ic::table.find(id))
            .set((
                ic::secret_hash.eq(hash_secret(&secret)),
                ic::secret_rotated_at.eq(at),
                ic::updated_at.eq(at),
                ic::version.eq(ic::version + 1),
            ))
            .returning(IntegrationClient::as_returning())
            .get_result(conn)?;
        Ok((client, secret))
    })
}

/// The client whose id and secret these are, if both match (inactive ones included: the
/// caller decides what to answer); records the use.
pub fn authenticate(
    conn: &mut PgConnection,
    client_id: &str,
    secret: &str,
    at: DateTime<Utc>,
) -> Result<Option<IntegrationClient>, ApiError> {
    let found = ic::table
        .filter(ic::client_id.eq(client_id))
        .select(IntegrationClient::as_select())
        .first(conn)
        .optional()?;
    let presented = hash_secret(secret);
    let Some(client) = found else {
        return Ok(None);
    };
    if !same_hash(&client.secret_hash, &presented) {
        return Ok(None);
    }
    if client.active {
        diesel::update(ic::table.find(client.id))
            .set(ic::last_used_at.eq(at))
            .execute(conn)?;
    }
    Ok(Some(client))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_hashed() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with("lys_") && a.len() == 4 + 43, "{a}");
        assert!(same_hash(&hash_secret(&a), &hash_secret(&a)));
        assert!(!same_hash(&hash_secret(&a), &hash_secret(&b)));
        assert!(!same_hash(&hash_secret(&a), &[]));
        let id = new_client_id();
        assert!(id.starts_with("lyc_") && id.len() == 36, "{id}");
    }
}
