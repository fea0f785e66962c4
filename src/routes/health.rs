//! Probes, metrics and the spec itself.

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, get, web};
use diesel::RunQueryDsl;

use crate::db::Db;
use crate::error::ApiError;
use crate::http::metrics::Metrics;

/// The serialised spec, computed once at start-up.
pub struct SpecJson(pub String);

/// Status of a probe.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct HealthStatus {
    /// `ok` when healthy.
    #[schema(max_length = 20)]
    pub status: String,
}

/// Liveness: the process is up and serving HTTP. Never touches the database.
#[utoipa::path(
    operation_id = "healthz",
    tag = "operations",
    responses((status = 200, description = "The process is up", body = HealthStatus))
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus {
        status: "ok".into(),
    })
}

/// Readiness: the database answers. 503 while it does not, so a load balancer stops sending
/// traffic here until it does.
#[utoipa::path(
    operation_id = "readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = HealthStatus),
        (status = 503, description = "The database does not answer", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[get("/readyz")]
pub async fn readyz(db: web::Data<Db>) -> Result<HttpResponse, ApiError> {
    db.run(|conn| diesel::sql_query("SELECT 1").execute(conn).map(|_| ()))
        .await?;
    Ok(HttpResponse::Ok().json(HealthStatus {
        status: "ok".into(),
    }))
}

/// Prometheus metrics in the text exposition format: `liuyan_http_requests_total` and
/// `liuyan_http_request_duration_seconds` by method, route pattern and status,
/// `liuyan_background_passes_total` by task (`scheduler`, `webhooks`) and result, and the state
/// of the database pool.
#[utoipa::path(
    operation_id = "metrics",
    tag = "operations",
    responses((status = 200, description = "Metrics in Prometheus text format", body = String,
        content_type = "text/plain; version=0.0.4",
        example = "liuyan_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"))
)]
#[get("/metrics")]
pub async fn metrics(metrics: web::Data<Metrics>, db: web::Data<Db>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render(&db))
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(
    operation_id = "get_openapi",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document", body = Object,
        example = json!({"openapi": "3.1.0", "info": {"title": "liuyan", "version": "1"}})))
)]
#[get("/openapi.json")]
pub async fn get_openapi(spec: web::Data<SpecJson>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType::json())
        .body(spec.0.clone())
}
