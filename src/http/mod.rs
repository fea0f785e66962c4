//! HTTP plumbing shared by every route: extractors, pagination, preconditions, and the
//! middleware for request ids, problem bodies, metrics, rate limits and idempotency.

pub mod docx;
pub mod export;
pub mod extract;
pub mod fallback;
pub mod idempotency;
pub mod metrics;
pub mod pagination;
pub mod preconditions;
pub mod problem;
pub mod rate_limit;
pub mod validate;
pub mod wire;

/// The time of this request, from the application's clock (tests pin it).
pub fn now(req: &actix_web::HttpRequest) -> chrono::DateTime<chrono::Utc> {
    match req.app_data::<actix_web::web::Data<crate::configuration::Settings>>() {
        Some(s) => s.clock.now(),
        None => crate::domain::ledger::db_time(chrono::Utc::now()),
    }
}
