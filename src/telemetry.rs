//! Logging: tracing to stdout, pretty or JSON, every line of a request carrying its request id.

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

use crate::configuration::LogFormat;
use crate::http::problem::RequestId;

/// Install the global subscriber (once; later calls are ignored, which tests rely on).
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// The root span of each request: method, route, and our request id (the one we return in
/// `X-Request-Id`, honouring the client's).
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let route = request
            .match_pattern()
            .unwrap_or_else(|| request.path().to_owned());
        tracing::info_span!(
            "request",
            request_id = %request_id,
            http.method = %request.method(),
            http.route = %route,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        let failure = match outcome {
            Ok(response) => response
                .response()
                .error()
                .map(|e| (response.status(), format!("{:?}", e.as_response_error()))),
            Err(e) => Some((
                e.as_response_error().status_code(),
                format!("{:?}", e.as_response_error()),
            )),
        };
        DefaultRootSpanBuilder::on_request_end(span, outcome);
        if let Some((status, error)) = failure {
            match failure_level(status) {
                tracing::Level::ERROR => tracing::error!(status = status.as_u16(), "{error}"),
                _ => tracing::warn!(status = status.as_u16(), "{error}"),
            }
        }
    }
}

/// The level of a failed request's log line. 503 (the database away or saturated) is expected
/// during an outage and already answered with `Retry-After`: a warning, as client errors are,
/// so that a restart of the database doesn't flood the error log; other server errors are
/// errors.
fn failure_level(status: actix_web::http::StatusCode) -> tracing::Level {
    if status.is_server_error() && status != actix_web::http::StatusCode::SERVICE_UNAVAILABLE {
        tracing::Level::ERROR
    } else {
        tracing::Level::WARN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::StatusCode;

    #[test]
    fn only_unexpected_server_errors_are_errors() {
        assert_eq!(
            failure_level(StatusCode::INTERNAL_SERVER_ERROR),
            tracing::Level::ERROR
        );
        assert_eq!(
            failure_level(StatusCode::BAD_GATEWAY),
            tracing::Level::ERROR
        );
        assert_eq!(
            failure_level(StatusCode::SERVICE_UNAVAILABLE),
            tracing::Level::WARN
        );
        assert_eq!(
            failure_level(StatusCode::UNPROCESSABLE_ENTITY),
            tracing::Level::WARN
        );
    }
}
