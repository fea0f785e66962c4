//! One error type for every request path, rendered as RFC 9457 `application/problem+json`.
//!
//! The `type` of each problem is a stable URN that clients may switch on; `title` is its fixed
//! human name and `detail` explains this occurrence. Middleware (`http::problem`) adds the
//! request id and `instance` to every problem body on the way out.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem details document.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:liuyan:problem:validation-failed",
    "title": "Validation failed",
    "status": 422,
    "detail": "2 fields are invalid",
    "instance": "/api/v1/units",
    "request_id": "3f0f6a43-5c1a-4c61-9d0c-54a3e0c1c2a1",
    "errors": [{"field": "name", "code": "length", "message": "must be 1 to 200 characters"}]
}))]
pub struct Problem {
    /// Stable identifier of the problem kind (a URN); switch on this, not on `title`.
    #[serde(rename = "type")]
    #[schema(max_length = 200)]
    pub problem_type: String,
    /// Short human summary of the problem kind.
    #[schema(max_length = 200)]
    pub title: String,
    /// The HTTP status code.
    #[schema(minimum = 100, maximum = 599, format = Int32)]
    pub status: u16,
    /// Human explanation of this occurrence.
    #[schema(max_length = 2000)]
    pub detail: String,
    /// The request path this problem occurred on.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2000)]
    pub instance: Option<String>,
    /// The request id (also in the `X-Request-Id` response header and in the server's logs).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 128)]
    pub request_id: Option<String>,
    /// For validation problems: every failing field and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// One failing field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct FieldError {
    /// Path of the field in the request: `name`, `location.lat`, `items[2].title`, or a query
    /// parameter / header name.
    #[schema(max_length = 500)]
    pub field: String,
    /// Machine-readable reason: `required`, `length`, `range`, `format`, `unknown_field`,
    /// `invalid_type`, `not_found`, `read_only`, ...
    #[schema(max_length = 100)]
    pub code: String,
    /// Human explanation.
    #[schema(max_length = 1000)]
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Every way a request can fail. Handlers return `Result<_, ApiError>`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{detail}")]
    Unauthorized { detail: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{detail}")]
    MethodNotAllowed { detail: String, allow: Vec<String> },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    IdempotencyKeyInUse(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PreconditionRequired(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{detail}")]
    Validation {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("{0}")]
    IdempotencyKeyReused(String),
    #[error("{detail}")]
    RateLimited {
        detail: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    ServiceUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Static facts about each problem kind: the one table clients and the spec rely on.
pub struct ProblemKind {
    pub slug: &'static str,
    pub title: &'static str,
    pub status: StatusCode,
}

impl ApiError {
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("`{}` is invalid: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        ApiError::Validation { detail, errors }
    }

    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, code, message)])
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            detail: detail.into(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("{what} not found"))
    }

    /// A lookup of something the request names: "no such row" becomes a failing field
    /// (`not_found`); every other failure stays what it is, so a database that is down answers
    /// 503, never "no such leader" (issue 18).
    pub fn missing_as_field(self, field: &str, message: &str) -> Self {
        match self {
            ApiError::NotFound(_) => ApiError::field(field, "not_found", message.to_owned()),
            other => other,
        }
    }

    pub fn kind(&self) -> ProblemKind {
        let (slug, title, status) = match self {
            ApiError::BadRequest(_) => ("bad-request", "Bad request", StatusCode::BAD_REQUEST),
            ApiError::Unauthorized { .. } => (
                "unauthorized",
                "Authentication required",
                StatusCode::UNAUTHORIZED,
            ),
            ApiError::Forbidden(_) => ("forbidden", "Forbidden", StatusCode::FORBIDDEN),
            ApiError::NotFound(_) => ("not-found", "Not found", StatusCode::NOT_FOUND),
            ApiError::MethodNotAllowed { .. } => (
                "method-not-allowed",
                "Method not allowed",
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            ApiError::Conflict(_) => ("conflict", "Conflict", StatusCode::CONFLICT),
            ApiError::IdempotencyKeyInUse(_) => (
                "idempotency-key-in-use",
                "A request with this Idempotency-Key is still in flight",
                StatusCode::CONFLICT,
            ),
            ApiError::PreconditionFailed(_) => (
                "precondition-failed",
                "The resource has changed (stale version)",
                StatusCode::PRECONDITION_FAILED,
            ),
            ApiError::PreconditionRequired(_) => (
                "precondition-required",
                "If-Match is required",
                StatusCode::PRECONDITION_REQUIRED,
            ),
            ApiError::PayloadTooLarge(_) => (
                "payload-too-large",
                "Request body too large",
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            ApiError::RequestTimeout(_) => (
                "request-timeout",
                "The request body did not arrive in time",
                StatusCode::REQUEST_TIMEOUT,
            ),
            ApiError::UnsupportedMediaType(_) => (
                "unsupported-media-type",
                "Unsupported media type",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            ApiError::Validation { .. } => (
                "validation-failed",
                "Validation failed",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            ApiError::IdempotencyKeyReused(_) => (
                "idempotency-key-reused",
                "Idempotency-Key reused with a different request",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            ApiError::RateLimited { .. } => (
                "rate-limited",
                "Too many requests",
                StatusCode::TOO_MANY_REQUESTS,
            ),
            ApiError::ServiceUnavailable(_) => (
                "service-unavailable",
                "Service temporarily unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            ApiError::Internal(_) => (
                "internal",
                "Internal server error",
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        };
        ProblemKind {
            slug,
            title,
            status,
        }
    }

    pub fn to_problem(&self) -> Problem {
        let kind = self.kind();
        let detail = match self {
            // Never leak internals to clients; the log has them (see `error_response`).
            ApiError::Internal(_) => {
                "The server failed to handle the request; it has been logged.".to_owned()
            }
            other => other.to_string(),
        };
        Problem {
            problem_type: problem_type(kind.slug),
            title: kind.title.to_owned(),
            status: kind.status.as_u16(),
            detail,
            instance: None,
            request_id: None,
            errors: match self {
                ApiError::Validation { errors, .. } => Some(errors.clone()),
                _ => None,
            },
        }
    }
}

pub fn problem_type(slug: &str) -> String {
    format!("urn:liuyan:problem:{slug}")
}

/// A problem response for a status that has no `ApiError` variant of its own (used when
/// rewriting framework errors).
pub fn generic_problem(status: StatusCode, detail: String) -> Problem {
    let slug = match status.as_u16() {
        400 => "bad-request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not-found",
        405 => "method-not-allowed",
        408 => "request-timeout",
        409 => "conflict",
        411 => "length-required",
        412 => "precondition-failed",
        413 => "payload-too-large",
        414 => "uri-too-long",
        415 => "unsupported-media-type",
        422 => "validation-failed",
        428 => "precondition-required",
        429 => "rate-limited",
        431 => "request-header-fields-too-large",
        503 => "service-unavailable",
        s if s >= 500 => "internal",
        _ => "client-error",
    };
    Problem {
        problem_type: problem_type(slug),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        instance: None,
        request_id: None,
        errors: None,
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.kind().status
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(msg) = self {
            tracing::error!(error = %msg, "internal error");
        }
        let problem = self.to_problem();
        let mut resp = HttpResponse::build(self.status_code());
        resp.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        ));
        match self {
            ApiError::Unauthorized { .. } => {
                resp.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"liuyan\""),
                ));
            }
            ApiError::MethodNotAllowed { allow, .. } => {
                resp.insert_header((header::ALLOW, allow.join(", ")));
            }
            ApiError::RateLimited {
                retry_after_secs, ..
            } => {
                resp.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::ServiceUnavailable(_) => {
                resp.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        resp.body(serde_json::to_vec(&problem).unwrap_or_default())
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        ApiError::ServiceUnavailable("the server is shutting down".into())
    }
}
