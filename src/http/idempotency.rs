//! `Idempotency-Key` for every POST that creates or changes state (IETF
//! draft-ietf-httpapi-idempotency-key-header, as Stripe does it):
//! - the first request with a key runs, and a 2xx response is stored for the key;
//! - a replay with the same key and the same request returns the stored response, marked with
//!   `Idempotent-Replayed: true`;
//! - the same key with a different request is 422; while the first is still running, 409;
//! - a request that fails changes nothing (handlers are transactional), so its key is released
//!   and a retry runs again.
//!
//! Keys are scoped per account (anonymous callers share one scope: keys are random UUIDs) and kept
//! `LIUYAN_IDEMPOTENCY_TTL_HOURS` (at least 24 h).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::auth::principal::{Identity, identify};
use crate::db::Db;
use crate::error::{ApiError, FieldError};
use crate::http::extract::BodyLimit;
use crate::store::idempotency::{self, Claim, StoredResponse};

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// POSTs that are not covered: the token endpoints hand out secrets that must not be stored.
pub const EXCLUDED_PATHS: &[&str] = &[
    "/api/v1/auth/token",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
];

/// POSTs that anonymous callers may make idempotently.
const ANONYMOUS_PATHS: &[&str] = &["/api/v1/auth/register"];

/// Response headers worth replaying.
const REPLAYED_HEADERS: &[HeaderName] = &[header::CONTENT_TYPE, header::LOCATION, header::ETAG];

pub fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if req.method() != Method::POST || EXCLUDED_PATHS.contains(&req.path()) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let Some(raw_key) = req.headers().get(&IDEMPOTENCY_KEY).cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let key = match raw_key.to_str() {
        Ok(k) if valid_key(k) => k.to_owned(),
        _ => {
            let err = ApiError::validation(vec![FieldError::new(
                "Idempotency-Key",
                "format",
                "must be 1 to 255 printable ASCII characters (a UUID is ideal)",
            )]);
            return Ok(req.into_response(err.error_response()));
        }
    };
    let scope = match identify(req.request()) {
        Identity::Authenticated(p) => format!("user:{}", p.user_id),
        // Anonymous callers can only create state by registering; any other anonymous POST is
        // answered 401 by its handler, untouched by key bookkeeping.
        Identity::Anonymous if ANONYMOUS_PATHS.contains(&req.path()) => "anonymous".to_owned(),
        Identity::Anonymous => return Ok(next.call(req).await?.map_into_boxed_body()),
        // The handler will answer 401; nothing to make idempotent.
        Identity::Rejected(_) => return Ok(next.call(req).await?.map_into_boxed_body()),
    };
    let (Some(db), limit) = (
        req.app_data::<web::Data<Db>>().cloned(),
        req.app_data::<BodyLimit>()
            .map_or(1024 * 1024, |l| l.for_path(req.path())),
    ) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };

    let too_large =
        || ApiError::PayloadTooLarge(format!("the request body must not exceed {limit} bytes"));
    // A declared length over the limit is refused before a byte of the body is read.
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Ok(req.into_response(too_large().error_response()));
    }
    // Buffer the body to fingerprint it, then hand it back to the handler.
    let mut body = web::BytesMut::new();
    let mut payload = req.take_payload();
    while let Some(chunk) = payload.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let err = crate::http::extract::payload_error(e);
                return Ok(req.into_response(err.error_response()));
            }
        };
        if body.len() + chunk.len() > limit {
            return Ok(req.into_response(too_large().error_response()));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let fingerprint = {
        let mut h = Sha256::new();
        h.update(req.method().as_str().as_bytes());
        h.update([0]);
        h.update(req.path().as_bytes());
        h.update([0]);
        h.update(req.query_string().as_bytes());
        h.update([0]);
        h.update(&body);
        h.finalize().to_vec()
    };
    req.set_payload(actix_http::Payload::from(body));

    let method = req.method().to_string();
    let path = req.path().to_owned();
    let claim = {
        let (scope, key) = (scope.clone(), key.clone());
        db.run(move |conn| idempotency::claim(conn, &scope, &key, &method, &path, &fingerprint))
            .await
    };
    match claim {
        Err(e) => return Ok(req.into_response(e.error_response())),
        Ok(Claim::Mismatch) => {
            let err = ApiError::IdempotencyKeyReused(
                "this Idempotency-Key was used for a different request; use a new key".into(),
            );
            return Ok(req.into_response(err.error_response()));
        }
        Ok(Claim::InFlight) => {
            let err = ApiError::IdempotencyKeyInUse(
                "the first request with this Idempotency-Key is still being processed; retry shortly".into(),
            );
            return Ok(req.into_response(err.error_response()));
        }
        Ok(Claim::Completed(stored)) => return Ok(req.into_response(replay(stored))),
        Ok(Claim::Acquired) => {}
    }

    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    let (http_req, response) = res.into_parts();
    let (response, body) = response.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
    let outcome = if status.is_success() {
        let headers: Vec<(String, String)> = REPLAYED_HEADERS
            .iter()
            .filter_map(|name| {
                let v = response.headers().get(name)?.to_str().ok()?;
                Some((name.as_str().to_owned(), v.to_owned()))
            })
            .collect();
        let stored = StoredResponse {
            status: status.as_u16(),
            headers,
            body: bytes.to_vec(),
        };
        db.run(move |conn| idempotency::complete(conn, &scope, &key, &stored))
            .await
    } else {
        db.run(move |conn| idempotency::release(conn, &scope, &key))
            .await
    };
    if let Err(e) = outcome {
        tracing::warn!(error = %e, "could not record the idempotency outcome");
    }
    let response = response.set_body(BoxBody::new(bytes));
    Ok(ServiceResponse::new(http_req, response))
}

fn replay(stored: StoredResponse) -> HttpResponse {
    let mut builder =
        HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK));
    for (name, value) in &stored.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(value),
        ) {
            builder.insert_header((n, v));
        }
    }
    builder.insert_header((REPLAYED, HeaderValue::from_static("true")));
    builder.body(stored.body)
}

#[cfg(test)]
mod tests {
    use super::valid_key;

    #[test]
    fn keys_are_printable_and_bounded() {
        assert!(valid_key("0b1e2a6c-2f44-4cf1-9d36-7b9b3f1f8a01"));
        assert!(!valid_key(""));
        assert!(!valid_key("has space"));
        assert!(!valid_key(&"k".repeat(256)));
    }
}
