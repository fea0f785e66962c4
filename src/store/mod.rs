//! Storage: diesel models next to their queries, one module per table. Nothing above this layer
//! writes SQL.

pub mod assignments;
pub mod categories;
pub mod clarifications;
pub mod deadlines;
pub mod extensions;
pub mod idempotency;
pub mod leaders;
pub mod messages;
pub mod refresh_tokens;
pub mod regions;
pub mod supervision;
pub mod units;
pub mod users;

// The handling stage's catalogues.
pub mod calendar;
pub mod deadline_policies;
pub mod dispatch_rules;
