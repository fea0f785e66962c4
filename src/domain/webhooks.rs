//! Webhooks' pure rules: the retry schedule, Standard Webhooks signatures and secrets, and the
//! form of target URLs. The SSRF guard's classification of addresses is shared with attachment
//! URLs: [`crate::domain::addresses`].

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

crate::text_enum! {
    /// Where a delivery stands.
    pub enum DeliveryStatus {
        /// Waiting for its next attempt (`next_attempt_at`).
        Pending => "pending",
        /// A dispatcher is sending it right now.
        Delivering => "delivering",
        /// The receiver answered 2xx.
        Delivered => "delivered",
        /// Every attempt of the retry schedule failed; redeliver to try again.
        Failed => "failed",
    }
}

/// Upper bound of the wait before each retry, seconds: retry 1 waits at most 5 s, retry 2 at
/// most 30 s, … After the last one the delivery is marked failed.
pub const RETRY_STEPS_SECS: &[u64] = &[
    5,
    30,
    2 * 60,
    10 * 60,
    30 * 60,
    3600,
    2 * 3600,
    4 * 3600,
    8 * 3600,
    8 * 3600,
    8 * 3600,
    8 * 3600,
    8 * 3600,
    8 * 3600,
];

/// Attempts a delivery gets before it is marked failed (the first one plus every retry).
pub const MAX_ATTEMPTS: u32 = RETRY_STEPS_SECS.len() as u32 + 1;

/// The wait before the next attempt after `failed_attempts` attempts have failed (counted from
/// the start of the schedule; a manual redelivery starts it again), or `None` when the schedule
/// is exhausted and the delivery fails.
///
/// Exponential steps capped at 8 h, with jitter: the wait lies in `[step/2, step]` (`jitter` in
/// `[0, 1]` picks where). Half the step is kept so that the whole schedule lasts at least 24 h
/// whatever the dice say (with jitter over `[0, step]` its sum could be close to nothing);
/// replicas' retries still spread over the other half. `scale` shrinks the schedule (tests).
pub fn retry_delay(failed_attempts: u32, jitter: f64, scale: f64) -> Option<Duration> {
    let step = *RETRY_STEPS_SECS.get(failed_attempts.checked_sub(1)? as usize)? as f64;
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        1.0
    };
    let secs = step * (0.5 + 0.5 * jitter) * scale.max(0.0);
    Some(Duration::from_secs_f64(secs))
}

/// Bytes of a new webhook secret.
pub const SECRET_BYTES: usize = 32;

/// A Standard Webhooks secret from random bytes: `whsec_` + base64.
pub fn encode_secret(bytes: &[u8]) -> String {
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// The HMAC key of a `whsec_…` secret (the prefix is optional); 24 to 64 bytes.
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, String> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = STANDARD
        .decode(b64)
        .map_err(|e| format!("not base64: {e}"))?;
    if !(24..=64).contains(&key.len()) {
        return Err(format!("{} bytes; 24 to 64 expected", key.len()));
    }
    Ok(key)
}

/// The `webhook-signature` header: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
pub fn sign(key: &[u8], webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of every length"),
    };
    mac.update(webhook_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Check a target URL's form (before resolving its host): `http` or `https`, a host, no
/// credentials, at most 2048 characters. Returns the parsed URL.
pub fn parse_target(url: &str) -> Result<url::Url, String> {
    if url.len() > 2048 {
        return Err("at most 2048 characters".into());
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("the scheme must be https (or http)".into());
    }
    if parsed.host().is_none() {
        return Err("the URL has no host".into());
    }
    crate::domain::addresses::no_credentials(&parsed)?;
    if parsed.fragment().is_some() {
        return Err("a fragment is not sent to the receiver: remove it".into());
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_test_vector() {
        // The specification's published vector (also in its libraries' tests).
        let key = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_round_trip_and_bad_ones_are_refused() {
        let s = encode_secret(&[7u8; SECRET_BYTES]);
        assert!(s.starts_with("whsec_"));
        assert_eq!(decode_secret(&s).unwrap(), vec![7u8; SECRET_BYTES]);
        assert!(decode_secret("whsec_not base64!").is_err());
        assert!(decode_secret(&encode_secret(&[1u8; 16])).is_err());
        assert!(decode_secret(&encode_secret(&[1u8; 65])).is_err());
    }

    #[test]
    fn the_schedule_lasts_at_least_a_day_and_then_gives_up() {
        let total = |jitter: f64| -> f64 {
            (1..MAX_ATTEMPTS)
                .map(|n| retry_delay(n, jitter, 1.0).unwrap().as_secs_f64())
                .sum()
        };
        assert!(total(0.0) >= 24.0 * 3600.0, "{}", total(0.0));
        assert!(total(1.0) <= 3.0 * 24.0 * 3600.0, "{}", total(1.0));
        assert_eq!(retry_delay(MAX_ATTEMPTS, 0.5, 1.0), None);
        assert_eq!(retry_delay(0, 0.5, 1.0), None);
        // Exponential, capped at 8 h, jitter within [step/2, step].
        assert_eq!(retry_delay(1, 1.0, 1.0), Some(Duration::from_secs(5)));
        assert_eq!(retry_delay(1, 0.0, 1.0), Some(Duration::from_secs_f64(2.5)));
        assert_eq!(retry_delay(2, 1.0, 1.0), Some(Duration::from_secs(30)));
        for n in 1..MAX_ATTEMPTS - 1 {
            assert!(retry_delay(n + 1, 1.0, 1.0) >= retry_delay(n, 1.0, 1.0));
            assert!(retry_delay(n, 1.0, 1.0) <= Some(Duration::from_secs(8 * 3600)));
        }
        // Nonsense jitter stays in range; the scale shrinks it for tests.
        assert_eq!(retry_delay(1, 7.0, 1.0), Some(Duration::from_secs(5)));
        assert_eq!(retry_delay(1, f64::NAN, 1.0), Some(Duration::from_secs(5)));
        assert_eq!(
            retry_delay(3, 1.0, 0.001),
            Some(Duration::from_secs_f64(0.12))
        );
    }

    #[test]
    fn target_urls_are_http_with_a_host() {
        assert!(parse_target("https://board.example.org/hooks?x=1").is_ok());
        assert!(parse_target("http://127.0.0.1:8080/h").is_ok());
        for bad in [
            "ftp://example.org/",
            "file:///etc/passwd",
            "https://user:pw@example.org/",
            "not a url",
            "https://example.org/#frag",
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
        assert!(parse_target(&format!("https://e.org/{}", "a".repeat(2050))).is_err());
    }
}
