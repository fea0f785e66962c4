//! HTTP plumbing shared by every route: extractors, pagination, preconditions, and the
//! middleware for request ids, problem bodies, metrics, rate limits and idempotency.

pub mod extract;
pub mod fallback;
pub mod idempotency;
pub mod metrics;
pub mod pagination;
pub mod preconditions;
pub mod problem;
pub mod rate_limit;
