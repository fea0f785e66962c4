//! The outermost middleware: gives every request an id (honouring a sane incoming
//! `X-Request-Id`), returns it on every response, and makes sure every error response is an
//! RFC 9457 problem carrying that id and the request path — including the framework's own
//! errors (unknown route, bad path segment, …) that never passed through our handlers.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};

use actix_web::ResponseError;

use crate::error::{ApiError, PROBLEM_CONTENT_TYPE, Problem, generic_problem};

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request, in the request's extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

fn acceptable_request_id(v: &str) -> bool {
    (1..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let request_id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable_request_id(v))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let path = req.path().to_owned();
    let docs = path.starts_with(DOCS_PREFIX);

    // Our own middleware answers with responses, never `Err`; an `Err` from elsewhere is
    // rendered by actix from its `ResponseError` (ours are problem+json already).
    let mut req = req;
    if let Some(settings) = req.app_data::<actix_web::web::Data<crate::configuration::Settings>>() {
        let limit = std::time::Duration::from_secs(settings.body_timeout_secs.max(1));
        crate::http::extract::bound_body_time(&mut req, limit);
    }
    let res = match refuse_request_line(&req) {
        Some(refusal) => req.into_response(refusal.error_response()),
        None => next.call(req).await?.map_into_boxed_body(),
    };
    let failed = res.status().is_client_error() || res.status().is_server_error();
    let mut res = if failed && path.starts_with(OPEN311_PREFIX) {
        finish_open311(res, &path).await
    } else if failed {
        finish_problem(res, &path, &request_id).await
    } else {
        res
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if docs { DOCS_CSP } else { API_CSP }),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(res)
}

/// The docs page (Swagger UI, served from the binary): its own scripts and styles only, no
/// framing. Swagger UI sets inline style attributes and uses data: images.
const DOCS_PREFIX: &str = "/docs";
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";
/// API responses are data, never a page to render or frame.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Requests refused on their request line alone: a NUL character in the path (`%00`), which no
/// resource name may hold (400), so PostgreSQL never sees one. (Query parameters are checked,
/// and named, by the query parsers.)
fn refuse_request_line(req: &ServiceRequest) -> Option<ApiError> {
    let path = req.uri().path();
    if path
        .as_bytes()
        .windows(3)
        .any(|w| w.eq_ignore_ascii_case(b"%00"))
    {
        return Some(ApiError::BadRequest(
            "the request path must not contain a NUL character (%00)".into(),
        ));
    }
    None
}

/// Under this prefix errors are Open311's arrays (`[{"code": 404, "description": "…"}]`), which
/// Open311 clients parse, instead of problem+json.
const OPEN311_PREFIX: &str = "/open311/";

/// Rewrite an error response under [`OPEN311_PREFIX`] as an Open311 error array, unless it is one
/// already (the facade's handlers answer so themselves). Headers (`Allow`, `Retry-After`) stay.
async fn finish_open311(res: ServiceResponse<BoxBody>, path: &str) -> ServiceResponse<BoxBody> {
    let status = res.status();
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (req, response) = res.into_parts();
    let (mut response, body) = response.into_parts();
    let body = actix_web::body::to_bytes(body).await.unwrap_or_default();
    if content_type.starts_with("application/json") && body.first() == Some(&b'[') {
        return ServiceResponse::new(req, response.set_body(BoxBody::new(body)));
    }
    let description = if status == actix_web::http::StatusCode::NOT_FOUND && path.ends_with(".xml")
    {
        "This Open311 endpoint serves JSON only: use the .json URL".to_owned()
    } else if content_type.starts_with(PROBLEM_CONTENT_TYPE) {
        serde_json::from_slice::<Problem>(&body)
            .map(|p| p.detail)
            .unwrap_or_else(|_| describe(status, &body))
    } else {
        describe(status, &body)
    };
    let errors = serde_json::json!([{"code": status.as_u16(), "description": description}]);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.headers_mut().remove(header::CONTENT_LENGTH);
    let response = response.set_body(BoxBody::new(
        serde_json::to_vec(&errors).unwrap_or_default(),
    ));
    ServiceResponse::new(req, response)
}

async fn finish_problem(
    res: ServiceResponse<BoxBody>,
    path: &str,
    request_id: &str,
) -> ServiceResponse<BoxBody> {
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(PROBLEM_CONTENT_TYPE));
    let (req, response) = res.into_parts();
    let (mut response, body) = response.into_parts();
    let body = actix_web::body::to_bytes(body).await.unwrap_or_default();
    let mut problem: Problem = if is_problem {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| generic_problem(status, describe(status, &body)))
    } else {
        generic_problem(status, describe(status, &body))
    };
    problem.instance = Some(path.to_owned());
    problem.request_id = Some(request_id.to_owned());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    );
    response.headers_mut().remove(header::CONTENT_LENGTH);
    let response = response.set_body(BoxBody::new(
        serde_json::to_vec(&problem).unwrap_or_default(),
    ));
    ServiceResponse::new(req, response)
}

/// A human detail for a framework error: its own short text when it has one.
fn describe(status: actix_web::http::StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if !text.is_empty() && text.len() <= 500 && status.is_client_error() {
        text.to_owned()
    } else {
        status.canonical_reason().unwrap_or("error").to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_bounded_and_plain() {
        assert!(acceptable_request_id("abc-123_x.y:z"));
        assert!(!acceptable_request_id(""));
        assert!(!acceptable_request_id(&"a".repeat(129)));
        assert!(!acceptable_request_id("a b"));
        assert!(!acceptable_request_id("a\nb"));
    }
}
