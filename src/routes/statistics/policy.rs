//! The statistics settings.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Principal;
use crate::db::Db;
use crate::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag};
use crate::store::statistics as store;

/// The statistics settings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"min_sample": 20, "version": 1, "updated_at": "2026-11-26T08:00:00Z"}))]
pub struct StatisticsPolicyDto {
    /// Rankings leave groups unranked whose sample is under this.
    #[schema(format = Int32, minimum = 1, maximum = 100000)]
    pub min_sample: i32,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

impl From<store::Policy> for StatisticsPolicyDto {
    fn from(p: store::Policy) -> Self {
        StatisticsPolicyDto {
            min_sample: p.min_sample,
            version: p.version,
            updated_at: p.updated_at,
        }
    }
}

/// New statistics settings (all fields; `If-Match` required).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"min_sample": 30}))]
pub struct PutStatisticsPolicy {
    #[schema(format = Int32, minimum = 1, maximum = 100000)]
    #[serde(deserialize_with = "crate::routes::integer")]
    #[validate(range(min = 1, max = 100_000))]
    pub min_sample: i32,
}

/// The statistics settings.
#[utoipa::path(
    operation_id = "get_statistics_policy",
    tag = "statistics",
    responses(
        (status = 200, description = "The settings", body = StatisticsPolicyDto, headers(("ETag" = String, description = "Their version")))
    )
)]
#[get("/statistics/policy")]
pub async fn get_statistics_policy(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let dto: StatisticsPolicyDto = db.run(store::policy).await?.into();
    crate::http::preconditions::respond_with_etag(&req, dto.version, &dto, HttpResponse::Ok())
}

/// Replace the statistics settings (administrators).
#[utoipa::path(
    operation_id = "put_statistics_policy",
    tag = "statistics",
    params(("If-Match" = String, Header, description = "ETag of the settings you read")),
    request_body = PutStatisticsPolicy,
    responses(
        (status = 200, description = "The new settings", body = StatisticsPolicyDto, headers(("ETag" = String, description = "New version"))),
        (status = 412, description = "The settings changed since you read them", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[put("/statistics/policy")]
pub async fn put_statistics_policy(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    body: ApiJson<PutStatisticsPolicy>,
) -> Result<HttpResponse, ApiError> {
    let cond = IfMatchCondition::from_request(&req, IfMatch::Required)?;
    let min_sample = body.min_sample;
    let now = crate::http::now(&req);
    let by = principal.user_id;
    let dto: StatisticsPolicyDto = db
        .run(move |conn| store::set_policy(conn, min_sample, by, &cond, now))
        .await?
        .into();
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(dto.version)))
        .json(dto))
}
