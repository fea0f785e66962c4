//! Per-client rate limits (GCRA via `governor`): a strict one on the authentication endpoints,
//! keyed by client address, against password guessing; a general one keyed by account (or
//! address when anonymous). Limits are per process: with N replicas a client gets N times the
//! budget, which is fine for abuse protection (docs/SCALING.md discusses a shared limiter).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::principal::{Identity, identify};
use crate::error::ApiError;

pub struct RateLimits {
    auth: DefaultKeyedRateLimiter<IpAddr>,
    general: DefaultKeyedRateLimiter<String>,
    /// Made once: creating a clock calibrates the CPU's time stamp counter, far too slow to do
    /// per request.
    clock: DefaultClock,
}

/// Paths whose every call is an authentication attempt.
const AUTH_PATHS: &[&str] = &[
    "/api/v1/auth/token",
    "/api/v1/auth/refresh",
    "/api/v1/auth/register",
];
/// Probes and scrapes are never limited.
const EXEMPT_PATHS: &[&str] = &["/healthz", "/readyz", "/metrics"];

impl RateLimits {
    pub fn new(auth_per_minute: u32, per_second: u32, burst: u32) -> Self {
        let nz = |n: u32| NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            auth: RateLimiter::keyed(Quota::per_minute(nz(auth_per_minute))),
            general: RateLimiter::keyed(Quota::per_second(nz(per_second)).allow_burst(nz(burst))),
            clock: DefaultClock::default(),
        }
    }

    /// Forget clients that have been quiet long enough to be back at full budget.
    pub fn forget_idle(&self) {
        self.auth.retain_recent();
        self.general.retain_recent();
    }
}

fn retry_after(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(limits) = req.app_data::<web::Data<RateLimits>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let path = req.path();
    if EXEMPT_PATHS.contains(&path) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let ip = req
        .peer_addr()
        .map_or(IpAddr::from([127, 0, 0, 1]), |a| a.ip());
    let now = limits.clock.now();
    let denied = if AUTH_PATHS.contains(&path) {
        limits
            .auth
            .check_key(&ip)
            .err()
            .map(|n| (n.wait_time_from(now), "authentication attempts"))
    } else {
        let key = match identify(req.request()) {
            Identity::Authenticated(p) => format!("user:{}", p.user_id),
            _ => format!("ip:{ip}"),
        };
        limits
            .general
            .check_key(&key)
            .err()
            .map(|n| (n.wait_time_from(now), "requests"))
    };
    if let Some((wait, what)) = denied {
        let secs = retry_after(wait);
        let err = ApiError::RateLimited {
            detail: format!("too many {what} from this client; retry in {secs} s"),
            retry_after_secs: secs,
        };
        return Ok(req.into_response(err.error_response()));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after(Duration::from_millis(1)), 1);
        assert_eq!(retry_after(Duration::from_secs(3)), 3);
        assert_eq!(retry_after(Duration::from_millis(3001)), 4);
    }

    #[test]
    fn auth_budget_runs_out() {
        let limits = RateLimits::new(3, 100, 100);
        let ip = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..3 {
            assert!(limits.auth.check_key(&ip).is_ok());
        }
        assert!(limits.auth.check_key(&ip).is_err());
        assert!(limits.auth.check_key(&IpAddr::from([10, 0, 0, 2])).is_ok());
    }
}
