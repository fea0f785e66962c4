//! Body and query extractors that turn every bad input into a precise problem: 415 for a wrong
//! content type, 413 for a body over the limit, 400 for malformed JSON, and 422 naming the
//! failing field for well-formed JSON of the wrong shape or failing validation.

use std::ops::Deref;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::error::{ApiError, FieldError};

/// The configured body limits, shared through app data: one for every request, a larger one for
/// the sync API's batches (500 messages of up to 5000 characters each).
#[derive(Clone, Copy)]
pub struct BodyLimit {
    pub default: usize,
    pub sync: usize,
}

impl BodyLimit {
    pub const SYNC_PREFIX: &'static str = "/api/v1/sync/";

    /// The limit of a request to `path`.
    pub fn for_path(&self, path: &str) -> usize {
        if path.starts_with(Self::SYNC_PREFIX) {
            self.sync.max(self.default)
        } else {
            self.default
        }
    }
}

/// A request body that must have arrived by a deadline: a client that sends a byte now and then
/// cannot hold a connection and a worker's attention for ever. After the deadline every read
/// fails with a `TimedOut` I/O error, which readers turn into 408 ([`payload_error`]).
pub struct TimedPayload {
    inner: actix_web::dev::Payload,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl futures_util::Stream for TimedPayload {
    type Item = Result<web::Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(Some(Err(actix_web::error::PayloadError::Io(
                std::io::Error::new(std::io::ErrorKind::TimedOut, "the body came too slowly"),
            ))));
        }
        std::pin::Pin::new(&mut self.inner).poll_next(cx)
    }
}

/// Give the request's body a deadline `limit` from now (when it has a body at all).
pub fn bound_body_time(req: &mut actix_web::dev::ServiceRequest, limit: std::time::Duration) {
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if !has_body {
        return;
    }
    let inner = actix_web::HttpMessage::take_payload(req);
    let timed = TimedPayload {
        inner,
        deadline: Box::pin(tokio::time::sleep(limit)),
    };
    req.set_payload(actix_web::dev::Payload::from(
        Box::pin(timed) as futures_util::stream::LocalBoxStream<'static, _>
    ));
}

/// A failure reading the body as a problem: 408 when it came too slowly, 413 when it overflowed
/// a limit, else 400.
pub fn payload_error(e: actix_web::error::PayloadError) -> ApiError {
    use actix_web::error::PayloadError;
    match e {
        PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            ApiError::RequestTimeout("the request body did not arrive in time".into())
        }
        PayloadError::Overflow => ApiError::PayloadTooLarge("the request body is too large".into()),
        other => ApiError::BadRequest(format!("cannot read body: {other}")),
    }
}

/// The body limit of a request (1 MiB when the app has none configured).
pub fn body_limit(req: &HttpRequest) -> usize {
    req.app_data::<BodyLimit>()
        .map_or(1024 * 1024, |l| l.for_path(req.path()))
}

/// Fields the server owns. A client that sends one is told so plainly (no mass assignment).
const SERVER_OWNED_FIELDS: &[&str] = &[
    "id",
    "version",
    "status",
    "created_at",
    "updated_at",
    "author",
    "author_id",
    "unit",
    "path",
    "level",
    "password_hash",
    "last_login_at",
    "tracking_no",
];

/// A JSON request body, deserialised strictly and validated.
pub struct ApiJson<T>(pub T);

impl<T> Deref for ApiJson<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> ApiJson<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = body_limit(req);
        let content_type_ok = is_json_content_type(req);
        let declared_len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType(
                    "send the body as `Content-Type: application/json`".into(),
                ));
            }
            if declared_len.is_some_and(|n| n > limit) {
                return Err(too_large(limit));
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(payload_error)?;
                if body.len() + chunk.len() > limit {
                    return Err(too_large(limit));
                }
                body.extend_from_slice(&chunk);
            }
            let value: T = parse_json(&body)?;
            validate(&value)?;
            Ok(ApiJson(value))
        })
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!("the request body must not exceed {limit} bytes"))
}

fn is_json_content_type(req: &HttpRequest) -> bool {
    let Some(ct) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Strict JSON parsing with the path of the failing field.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "the request body is empty; send a JSON object".into(),
        ));
    }
    refuse_unstorable_json(body)?;
    let de = &mut serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            use serde_json::error::Category;
            match inner.classify() {
                Category::Syntax | Category::Eof | Category::Io => {
                    Err(ApiError::BadRequest(format!("malformed JSON: {inner}")))
                }
                Category::Data => Err(ApiError::validation(vec![data_error(&path, &inner)])),
            }
        }
    }
}

/// 422 naming the field when a string of the body cannot be stored (a NUL character, a far
/// date): PostgreSQL never sees one. The common body costs one scan; only a suspect one is
/// parsed twice.
fn refuse_unstorable_json(body: &[u8]) -> Result<(), ApiError> {
    use crate::domain::input;
    if !input::json_may_hold_unstorable(body) {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(()); // malformed: the strict parse reports it
    };
    match input::find_in_json(&value) {
        Some((path, why)) => Err(ApiError::validation(vec![FieldError::new(
            if path.is_empty() { "body".into() } else { path },
            "invalid_value",
            why.describe(),
        )])),
        None => Ok(()),
    }
}

/// Turn serde's data error into a field error: unknown and server-owned fields, missing fields,
/// wrong types and bad enum values.
fn data_error(path: &str, err: &serde_json::Error) -> FieldError {
    let msg = strip_position(&err.to_string());
    // serde_path_to_error already ends the path with an unknown field's name; not with a missing one.
    let join = |name: &str| {
        if path.is_empty() || path == "." {
            name.to_owned()
        } else if path == name || path.ends_with(&format!(".{name}")) {
            path.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    if let Some(name) = between_backticks(&msg, "unknown field `") {
        return if SERVER_OWNED_FIELDS.contains(&name.as_str()) {
            FieldError::new(
                join(&name),
                "read_only",
                "is set by the server and cannot be sent",
            )
        } else {
            FieldError::new(join(&name), "unknown_field", msg)
        };
    }
    if let Some(name) = between_backticks(&msg, "missing field `") {
        return FieldError::new(join(&name), "required", "is required");
    }
    let code = if msg.starts_with("unknown variant") {
        "invalid_value"
    } else {
        "invalid_type"
    };
    let field = if path.is_empty() || path == "." {
        "body".to_owned()
    } else {
        path.to_owned()
    };
    FieldError::new(field, code, msg)
}

fn between_backticks(msg: &str, prefix: &str) -> Option<String> {
    let rest = msg.strip_prefix(prefix)?;
    rest.split('`').next().map(str::to_owned)
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Run `validator` rules and report every failing field.
pub fn validate<T: Validate>(value: &T) -> Result<(), ApiError> {
    match value.validate() {
        Ok(()) => Ok(()),
        Err(errors) => {
            let mut out = Vec::new();
            flatten_errors("", &errors, &mut out);
            out.sort_by(|a, b| a.field.cmp(&b.field));
            Err(ApiError::validation(out))
        }
    }
}

fn flatten_errors(prefix: &str, errors: &ValidationErrors, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let name = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    out.push(FieldError::new(&name, e.code.as_ref(), describe(e)));
                }
            }
            ValidationErrorsKind::Struct(inner) => flatten_errors(&name, inner, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    flatten_errors(&format!("{name}[{i}]"), inner, out);
                }
            }
        }
    }
}

fn describe(e: &validator::ValidationError) -> String {
    if let Some(m) = &e.message {
        return m.to_string();
    }
    let p = |k: &str| e.params.get(k).map(|v| v.to_string());
    match e.code.as_ref() {
        "length" => match (p("min"), p("max"), p("equal")) {
            (_, _, Some(eq)) => format!("must be exactly {eq} characters"),
            (Some(min), Some(max), _) => format!("must be {min} to {max} characters"),
            (Some(min), None, _) => format!("must be at least {min} characters"),
            (None, Some(max), _) => format!("must be at most {max} characters"),
            _ => "has the wrong length".into(),
        },
        "range" => match (p("min"), p("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            _ => "is out of range".into(),
        },
        "email" => "must be an e-mail address".into(),
        "url" => "must be a URL".into(),
        "regex" => "has the wrong format".into(),
        other => format!("is invalid ({other})"),
    }
}

/// Query string parameters, strictly parsed with the failing parameter named.
pub struct ApiQuery<T>(pub T);

impl<T> Deref for ApiQuery<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ApiQuery<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(ApiQuery))
    }
}

pub fn parse_query<T: DeserializeOwned + Validate>(query: &str) -> Result<T, ApiError> {
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if let Some(why) =
            crate::domain::input::check(&value).or(crate::domain::input::check(&name))
        {
            return Err(ApiError::validation(vec![FieldError::new(
                name.replace('\0', ""),
                "invalid_value",
                why.describe(),
            )]));
        }
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    let value: T = serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let msg = err.into_inner().to_string();
        let field = if path.is_empty() || path == "." {
            between_backticks(&msg, "missing field `")
                .or_else(|| between_backticks(&msg, "unknown field `"))
                .unwrap_or_else(|| "query".into())
        } else {
            path
        };
        let code = if msg.starts_with("missing field") {
            "required"
        } else {
            "invalid_value"
        };
        ApiError::validation(vec![FieldError::new(field, code, msg)])
    })?;
    validate(&value)?;
    Ok(value)
}

/// A path segment that must parse as `T` (a UUID, a region code, …). A malformed id cannot name
/// an existing resource, so it answers 404 like any unknown one.
pub fn parse_path_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse::<T>().map_err(|_| ApiError::not_found(what))
}

/// A message id from the path (404 when it is not one).
pub fn parse_message_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    parse_path_id::<uuid::Uuid>(raw, "message")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Validate)]
    #[serde(deny_unknown_fields)]
    struct Input {
        #[validate(length(min = 1, max = 5))]
        name: String,
        #[allow(dead_code)]
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize, Validate)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[allow(dead_code)]
        n: u8,
    }

    fn field_errors(r: Result<Input, ApiError>) -> Vec<FieldError> {
        match r {
            Err(ApiError::Validation { errors, .. }) => errors,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn malformed_json_is_400() {
        assert!(matches!(
            parse_json::<Input>(b"{\"name\": "),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_json::<Input>(b""),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn unknown_and_server_owned_fields_are_named() {
        let e = field_errors(parse_json(br#"{"name":"a","colour":1}"#));
        assert_eq!(
            (e[0].field.as_str(), e[0].code.as_str()),
            ("colour", "unknown_field")
        );
        let e = field_errors(parse_json(br#"{"name":"a","id":"x"}"#));
        assert_eq!(
            (e[0].field.as_str(), e[0].code.as_str()),
            ("id", "read_only")
        );
    }

    #[test]
    fn nested_paths_and_missing_fields() {
        let e = field_errors(parse_json(br#"{"name":"a","inner":{"n":300}}"#));
        assert_eq!(e[0].field, "inner.n");
        let e = field_errors(parse_json(br#"{"inner":null}"#));
        assert_eq!(
            (e[0].field.as_str(), e[0].code.as_str()),
            ("name", "required")
        );
    }

    #[test]
    fn validation_names_every_field() {
        let v: Input = parse_json(br#"{"name":"toolong"}"#).unwrap();
        match validate(&v) {
            Err(ApiError::Validation { errors, .. }) => {
                assert_eq!(errors[0].field, "name");
                assert_eq!(errors[0].message, "must be 1 to 5 characters");
            }
            other => panic!("{other:?}"),
        }
    }
}
