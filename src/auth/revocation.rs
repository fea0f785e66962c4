//! Revoked access tokens, known to every process without a database round trip per request.
//!
//! Access tokens verify by signature and claims alone, so voiding one before it expires needs a
//! list. The list lives in the `token_revocations` table (a row per revocation, kept for as
//! long as a token it voids could be unexpired) and, in every process, in memory: loaded at
//! start, kept fresh by a thread that LISTENs for the notification each new row sends (in the
//! transaction that writes it), and reloaded in full every `LIUYAN_REVOCATION_RELOAD_SECS` as a
//! backstop (and after every reconnect, for notifications sent while disconnected). A request
//! checks the in-memory set only.
//!
//! When the database is unreachable, requests verify against the last known set (fail open on
//! the cache, not closed): a revocation written before the outage is enforced, one written
//! during it cannot be (it cannot be written either), and the thread reconnects with backoff and
//! reloads. A process that has never loaded the set (started while the database was down)
//! enforces only what it notes itself until it can.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Deserialize;
use uuid::Uuid;

use super::jwt::Claims;

/// One revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// Every token of this account (a person or an integration client) issued at or before
    /// this instant, in milliseconds since the epoch.
    Subject { id: Uuid, issued_before_ms: i64 },
    /// Every token of this login (the `sid` claim).
    Session(Uuid),
}

/// The notification's payload (see the migration's trigger).
#[derive(Deserialize)]
struct Notice {
    subject_id: Option<Uuid>,
    issued_before_ms: Option<i64>,
    session_id: Option<Uuid>,
}

impl Revocation {
    /// Parse a notification's payload; `None` when it is not one of ours.
    pub fn from_notice(payload: &str) -> Option<Revocation> {
        let n: Notice = serde_json::from_str(payload).ok()?;
        match (n.subject_id, n.issued_before_ms, n.session_id) {
            (Some(id), Some(issued_before_ms), None) => Some(Revocation::Subject {
                id,
                issued_before_ms,
            }),
            (None, None, Some(sid)) => Some(Revocation::Session(sid)),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
struct Set {
    /// Account → tokens issued at or before this many ms since the epoch are void.
    subjects: HashMap<Uuid, i64>,
    sessions: HashSet<Uuid>,
    loaded: bool,
}

impl Set {
    fn add(&mut self, r: Revocation) {
        match r {
            Revocation::Subject {
                id,
                issued_before_ms,
            } => {
                let before = self.subjects.entry(id).or_insert(issued_before_ms);
                *before = (*before).max(issued_before_ms);
            }
            Revocation::Session(sid) => {
                self.sessions.insert(sid);
            }
        }
    }
}

/// The in-memory revocation set of this process (cheap to clone: shared).
#[derive(Debug, Clone)]
pub struct Revocations {
    set: Arc<RwLock<Set>>,
    /// How long a revocation row must be kept: the access-token lifetime plus the verifier's
    /// leeway and a margin.
    keep_for: Duration,
}

/// The verifier's clock leeway (`jwt.rs`) plus a margin for clocks and slow requests.
const KEEP_MARGIN: Duration = Duration::from_secs(30 + 60);

impl Revocations {
    pub fn new(access_ttl_secs: u64) -> Self {
        Self {
            set: Arc::default(),
            keep_for: Duration::from_secs(access_ttl_secs) + KEEP_MARGIN,
        }
    }

    /// How long a revocation must be kept (the `expires_at` of its row, from now).
    pub fn keep_for(&self) -> Duration {
        self.keep_for
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Set> {
        self.set.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Set> {
        self.set.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a token with these (verified) claims has been revoked.
    pub fn is_revoked(&self, claims: &Claims) -> bool {
        let set = self.read();
        if let Some(before) = set.subjects.get(&claims.sub.0)
            && claims.issued_at_ms() <= *before
        {
            return true;
        }
        claims.sid.is_some_and(|sid| set.sessions.contains(&sid))
    }

    /// Add one revocation (from a notification, or written by this process).
    pub fn note(&self, r: Revocation) {
        self.write().add(r);
    }

    /// Replace the set with a full load of the table.
    pub fn replace(&self, all: impl IntoIterator<Item = Revocation>) {
        let mut fresh = Set::default();
        for r in all {
            fresh.add(r);
        }
        fresh.loaded = true;
        *self.write() = fresh;
    }

    /// Whether the set has been loaded from the database at least once.
    pub fn loaded(&self) -> bool {
        self.read().loaded
    }

    /// (accounts, logins) in the set.
    pub fn len(&self) -> (usize, usize) {
        let set = self.read();
        (set.subjects.len(), set.sessions.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::UserId;
    use crate::domain::role::Role;

    fn claims(sub: Uuid, sid: Option<Uuid>, iat_ms: Option<i64>, iat: i64) -> Claims {
        Claims {
            iss: "liuyan".into(),
            aud: "api".into(),
            sub: UserId(sub),
            exp: iat + 900,
            iat,
            nbf: iat,
            jti: Uuid::new_v4(),
            typ: "access".into(),
            sid,
            iat_ms,
            role: Role::Handler,
            unit: None,
            region: None,
            scope: None,
        }
    }

    #[test]
    fn an_account_revocation_voids_tokens_issued_up_to_its_instant() {
        let r = Revocations::new(900);
        let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
        r.note(Revocation::Subject {
            id: alice,
            issued_before_ms: 1_000_500,
        });
        assert!(r.is_revoked(&claims(alice, None, Some(1_000_499), 1000)));
        assert!(r.is_revoked(&claims(alice, None, Some(1_000_500), 1000)));
        assert!(
            !r.is_revoked(&claims(alice, None, Some(1_000_501), 1000)),
            "a login a moment later works"
        );
        // Without `iat_ms`: the start of the `iat` second.
        assert!(r.is_revoked(&claims(alice, None, None, 1000)));
        assert!(!r.is_revoked(&claims(alice, None, None, 1001)));
        assert!(!r.is_revoked(&claims(bob, None, Some(1), 0)));
        // A later revocation of the same account moves the instant forward, never back.
        r.note(Revocation::Subject {
            id: alice,
            issued_before_ms: 2_000_000,
        });
        r.note(Revocation::Subject {
            id: alice,
            issued_before_ms: 1_500_000,
        });
        assert!(r.is_revoked(&claims(alice, None, Some(1_999_999), 1999)));
    }

    #[test]
    fn a_login_revocation_voids_that_login_only() {
        let r = Revocations::new(900);
        let user = Uuid::now_v7();
        let (one, two) = (Uuid::now_v7(), Uuid::now_v7());
        r.note(Revocation::Session(one));
        assert!(r.is_revoked(&claims(user, Some(one), Some(5), 0)));
        assert!(!r.is_revoked(&claims(user, Some(two), Some(5), 0)));
        assert!(!r.is_revoked(&claims(user, None, Some(5), 0)));
        // A full load replaces the set.
        assert!(!r.loaded());
        r.replace([Revocation::Session(two)]);
        assert!(r.loaded());
        assert!(!r.is_revoked(&claims(user, Some(one), Some(5), 0)));
        assert!(r.is_revoked(&claims(user, Some(two), Some(5), 0)));
        assert_eq!(r.len(), (0, 1));
    }

    #[test]
    fn notices_parse_as_the_trigger_writes_them() {
        let id = Uuid::now_v7();
        assert_eq!(
            Revocation::from_notice(&format!(
                r#"{{"subject_id" : "{id}", "issued_before_ms" : 1765000000123, "session_id" : null}}"#
            )),
            Some(Revocation::Subject {
                id,
                issued_before_ms: 1_765_000_000_123
            })
        );
        assert_eq!(
            Revocation::from_notice(&format!(
                r#"{{"subject_id" : null, "issued_before_ms" : null, "session_id" : "{id}"}}"#
            )),
            Some(Revocation::Session(id))
        );
        assert_eq!(Revocation::from_notice("nonsense"), None);
        assert_eq!(
            Revocation::from_notice(r#"{"subject_id": null, "session_id": null}"#),
            None
        );
    }
}
