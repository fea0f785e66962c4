//! Per-client rate limits (GCRA via `governor`): a strict one on the authentication endpoints,
//! keyed by client address, against password guessing; a general one keyed by account (or
//! address when anonymous). Limits are per process: with N replicas a client gets N times the
//! budget, which is fine for abuse protection (docs/SCALING.md discusses a shared limiter).
//!
//! Every limited response says where the client stands, in the IETF draft's headers
//! (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Limit` (the burst), `RateLimit-Remaining`
//! and `RateLimit-Reset` (seconds until the budget is full again).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::auth::principal::{Identity, identify};
use crate::error::ApiError;

/// A keyed limiter that reports the state it left the key in.
type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

pub struct RateLimits {
    auth: Keyed<IpAddr>,
    general: Keyed<String>,
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
pub const EXEMPT_PATHS: &[&str] = &["/healthz", "/readyz", "/metrics"];

impl RateLimits {
    pub fn new(auth_per_minute: u32, per_second: u32, burst: u32) -> Self {
        let nz = |n: u32| NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            auth: RateLimiter::keyed(Quota::per_minute(nz(auth_per_minute)))
                .with_middleware::<StateInformationMiddleware>(),
            general: RateLimiter::keyed(Quota::per_second(nz(per_second)).allow_burst(nz(burst)))
                .with_middleware::<StateInformationMiddleware>(),
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

/// The names of the headers, as the spec declares them.
pub const LIMIT_HEADER: &str = "RateLimit-Limit";
pub const REMAINING_HEADER: &str = "RateLimit-Remaining";
pub const RESET_HEADER: &str = "RateLimit-Reset";

/// Where a client stands after a decision: (limit, remaining, seconds until full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Budget {
    limit: u32,
    remaining: u32,
    reset_secs: u64,
}

impl Budget {
    fn of(quota: &Quota, remaining: u32) -> Self {
        let limit = quota.burst_size().get();
        let missing = limit.saturating_sub(remaining);
        Budget {
            limit,
            remaining,
            reset_secs: retry_after(quota.replenish_interval() * missing),
        }
    }

    fn allowed(state: &StateSnapshot) -> Self {
        Self::of(&state.quota(), state.remaining_burst_capacity())
    }

    fn write(self, headers: &mut HeaderMap) {
        for (name, value) in [
            (LIMIT_HEADER, u64::from(self.limit)),
            (REMAINING_HEADER, u64::from(self.remaining)),
            (RESET_HEADER, self.reset_secs),
        ] {
            // `from_bytes` takes the spec's spelling and stores it in lower case.
            if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                headers.insert(name, HeaderValue::from(value));
            }
        }
    }
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
    let decision = if AUTH_PATHS.contains(&path) {
        limits
            .auth
            .check_key(&ip)
            .map(|s| Budget::allowed(&s))
            .map_err(|n| (n.wait_time_from(now), n.quota(), "authentication attempts"))
    } else {
        let key = match identify(req.request()) {
            Identity::Authenticated(p) => format!("user:{}", p.user_id),
            _ => format!("ip:{ip}"),
        };
        limits
            .general
            .check_key(&key)
            .map(|s| Budget::allowed(&s))
            .map_err(|n| (n.wait_time_from(now), n.quota(), "requests"))
    };
    match decision {
        Ok(budget) => {
            let mut res = next.call(req).await?.map_into_boxed_body();
            budget.write(res.headers_mut());
            Ok(res)
        }
        Err((wait, quota, what)) => {
            let secs = retry_after(wait);
            let err = ApiError::RateLimited {
                detail: format!("too many {what} from this client; retry in {secs} s"),
                retry_after_secs: secs,
            };
            let mut res = req.into_response(err.error_response());
            Budget::of(&quota, 0).write(res.headers_mut());
            Ok(res)
        }
    }
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

    #[test]
    fn the_budget_counts_down_and_says_when_it_is_full_again() {
        let limits = RateLimits::new(3, 2, 4);
        let key = "user:1".to_owned();
        let seen: Vec<Budget> = (0..4)
            .map(|_| Budget::allowed(&limits.general.check_key(&key).unwrap()))
            .collect();
        assert_eq!(
            seen.iter().map(|b| b.remaining).collect::<Vec<_>>(),
            [3, 2, 1, 0]
        );
        assert!(seen.iter().all(|b| b.limit == 4));
        // Two a second: one missing is back within 1 s, all four within 2 s.
        assert_eq!(seen[0].reset_secs, 1);
        assert_eq!(seen[3].reset_secs, 2);
        let denied = limits.general.check_key(&key).unwrap_err();
        assert_eq!(Budget::of(&denied.quota(), 0).remaining, 0);
    }

    #[test]
    fn header_names_are_the_drafts() {
        let mut h = HeaderMap::new();
        Budget {
            limit: 5,
            remaining: 4,
            reset_secs: 1,
        }
        .write(&mut h);
        assert_eq!(h.get("RateLimit-Limit").unwrap(), "5");
        assert_eq!(h.get("ratelimit-remaining").unwrap(), "4");
        assert_eq!(h.get("RateLimit-Reset").unwrap(), "1");
    }
}
