//! `Idempotency-Key` for every POST that creates or changes state (IETF
//! draft-ietf-httpapi-idempotency-key-header, as Stripe does it), and for Open311's
//! `POST requests.json`:
//! - the first request with a key runs, and a 2xx response is stored for the key **in the same
//!   transaction as the request's work** (a [`crate::db::session::Session`]: one connection and
//!   one transaction for the whole request), so the work and its recorded answer commit together
//!   or not at all: after a crash the retry either replays the answer or runs for the first time;
//! - a replay with the same key and the same request returns the stored response, marked with
//!   `Idempotent-Replayed: true`;
//! - the same key with a different request is 422; while the first is still running, 409, for
//!   as long as it runs: the key is held by a transaction-level advisory lock of the request's
//!   transaction, not by a lease that could run out under a slow request (and which PostgreSQL
//!   releases when the process dies, so a retry after a crash runs at once);
//! - a request that fails keeps no key, and a retry runs again.
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

/// How a refusal is written: problem+json, or Open311's error array.
#[derive(Clone, Copy)]
enum Flavor {
    Api,
    Open311,
}

fn refusal(flavor: Flavor, err: ApiError) -> HttpResponse {
    match flavor {
        Flavor::Api => err.error_response(),
        Flavor::Open311 => crate::routes::open311::Open311Failure::from(err).error_response(),
    }
}

pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if req.method() != Method::POST || EXCLUDED_PATHS.contains(&req.path()) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let flavor = if req.path().starts_with(crate::routes::open311::PREFIX) {
        Flavor::Open311
    } else {
        Flavor::Api
    };
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
            return Ok(req.into_response(refusal(flavor, err)));
        }
    };
    let known_scope = match identify(req.request()) {
        Identity::Authenticated(p) => Some(format!("user:{}", p.user_id)),
        // Anonymous callers can only create state by registering; any other anonymous POST is
        // answered 401 by its handler, untouched by key bookkeeping.
        Identity::Anonymous if ANONYMOUS_PATHS.contains(&req.path()) => {
            Some("anonymous".to_owned())
        }
        // Open311 clients may send their api_key in the form: decided once the body is read.
        Identity::Anonymous if matches!(flavor, Flavor::Open311) => None,
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
        return Ok(req.into_response(refusal(flavor, too_large())));
    }
    // Buffer the body to fingerprint it, then hand it back to the handler.
    let mut body = web::BytesMut::new();
    let mut payload = req.take_payload();
    while let Some(chunk) = payload.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let err = crate::http::extract::payload_error(e);
                return Ok(req.into_response(refusal(flavor, err)));
            }
        };
        if body.len() + chunk.len() > limit {
            return Ok(req.into_response(refusal(flavor, too_large())));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let scope = match known_scope.or_else(|| {
        crate::routes::open311::form_principal(req.request(), &body)
            .map(|p| format!("user:{}", p.user_id))
    }) {
        Some(scope) => scope,
        None => {
            // The handler refuses it (403): nothing to make idempotent.
            req.set_payload(actix_http::Payload::from(body));
            return Ok(next.call(req).await?.map_into_boxed_body());
        }
    };
    let fingerprint = {
        // Open311's api_key is an access token a retry may have renewed: not part of the
        // request's identity (the scope is the client either way).
        let (query, content) = match flavor {
            Flavor::Api => (req.query_string().as_bytes().to_vec(), body.to_vec()),
            Flavor::Open311 => (
                crate::routes::open311::without_api_key(req.query_string().as_bytes()),
                crate::routes::open311::without_api_key(&body),
            ),
        };
        let mut h = Sha256::new();
        h.update(req.method().as_str().as_bytes());
        h.update([0]);
        h.update(req.path().as_bytes());
        h.update([0]);
        h.update(&query);
        h.update([0]);
        h.update(&content);
        h.finalize().to_vec()
    };
    req.set_payload(actix_http::Payload::from(body));

    // The request's own connection and transaction, from the claim to the recorded answer.
    let session = match db.begin_session().await {
        Ok(s) => s,
        Err(e) => return Ok(req.into_response(refusal(flavor, e))),
    };
    let claim = {
        let (scope, key, fingerprint) = (scope.clone(), key.clone(), fingerprint.clone());
        session
            .run(move |conn| idempotency::claim(conn, &scope, &key, &fingerprint))
            .await
    };
    if !matches!(claim, Ok(Claim::Acquired)) {
        // Answered without running: end the transaction, and the key's lock it may hold, before
        // the answer leaves (else the client's next request could still find the key locked).
        session.rollback().await;
    }
    match claim {
        Err(e) => return Ok(req.into_response(refusal(flavor, e))),
        Ok(Claim::Mismatch) => {
            let err = ApiError::IdempotencyKeyReused(
                "this Idempotency-Key was used for a different request; use a new key".into(),
            );
            return Ok(req.into_response(refusal(flavor, err)));
        }
        Ok(Claim::InFlight) => {
            let err = ApiError::IdempotencyKeyInUse(
                "the first request with this Idempotency-Key is still being processed; retry shortly".into(),
            );
            return Ok(req.into_response(refusal(flavor, err)));
        }
        Ok(Claim::Completed(stored)) => return Ok(req.into_response(replay(stored))),
        Ok(Claim::Acquired) => {}
    }

    let method = req.method().to_string();
    let path = req.path().to_owned();
    let res = match session.scope(next.call(req)).await {
        Ok(res) => res.map_into_boxed_body(),
        Err(e) => {
            // Not an answer of the handler: keep what it committed, as without a key.
            if let Err(c) = session.commit().await {
                tracing::warn!(error = %c, "could not commit a failed request's work");
            }
            return Err(e);
        }
    };
    let status = res.status();
    let (http_req, response) = res.into_parts();
    let (response, body) = response.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
    if status.is_success() {
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
        let recorded = session
            .run(move |conn| {
                idempotency::record(conn, &scope, &key, &method, &path, &fingerprint, &stored)
            })
            .await;
        // The work and its answer commit together; if either fails, neither happened, and
        // the client must not see the success.
        if let Err(e) = match recorded {
            Ok(()) => session.commit().await,
            Err(e) => Err(e),
        } {
            tracing::warn!(error = %e, "the request and its idempotency outcome did not commit");
            let response = refusal(flavor, e);
            return Ok(ServiceResponse::new(http_req, response));
        }
    } else if let Err(e) = session.commit().await {
        // A failed request keeps what its handler wrote, as without a key; there is no key to
        // release (only answers are ever recorded).
        tracing::warn!(error = %e, "could not commit a failed request's work");
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
