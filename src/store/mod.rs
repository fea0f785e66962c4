//! Storage: diesel models next to their queries, one module per table. Nothing above this layer
//! writes SQL.

pub mod alerts;
pub mod assessments;
pub mod assignments;
pub mod briefings;
pub mod categories;
pub mod clarifications;
pub mod deadlines;
pub mod extensions;
pub mod feedback;
pub mod idempotency;
pub mod integration_clients;
pub mod leaders;
pub mod ledger;
pub mod messages;
pub mod open311;
pub mod public;
pub mod refresh_tokens;
pub mod regions;
pub mod replies;
pub mod statistics;
pub mod supervision;
pub mod sync;
pub mod token_revocations;
pub mod units;
pub mod users;
pub mod visits;
pub mod webhooks;

// The handling stage's catalogues.
pub mod calendar;
pub mod deadline_policies;
pub mod dispatch_rules;

/// Who may see which handling records (assignments, deadlines, extension requests, supervision
/// cases): everything, a region subtree (materialised path prefix), or one unit's.
#[derive(Debug, Clone)]
pub enum HandlingScope {
    All,
    RegionPath(String),
    /// A unit's records (for assignments and deadlines also those of the messages it runs
    /// intake for).
    Unit(crate::domain::ids::UnitId),
}

impl HandlingScope {
    /// Whether a record in `region_path` that belongs to `units` lies in this scope.
    pub fn covers(&self, region_path: &str, units: &[crate::domain::ids::UnitId]) -> bool {
        match self {
            HandlingScope::All => true,
            HandlingScope::RegionPath(p) => region_path.starts_with(p.as_str()),
            HandlingScope::Unit(u) => units.contains(u),
        }
    }
}

/// A unique violation as a 409 that says which rule was broken (in the caller's words); other
/// errors as usual.
pub(crate) fn unique_as_conflict(e: diesel::result::Error, what: &str) -> crate::error::ApiError {
    match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => crate::error::ApiError::Conflict(what.to_owned()),
        other => other.into(),
    }
}

/// A LIKE pattern matching every text that starts with `prefix` (materialised region paths).
pub(crate) fn like_prefix(prefix: &str) -> String {
    format!("{}%", escape_like(prefix))
}

/// Escape `%`, `_` and `\` for a LIKE pattern.
pub fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
