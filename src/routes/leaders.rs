//! Leaders: the people messages are addressed to.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::auth::Principal;
use crate::db::Db;
use crate::domain::ids::{LeaderId, UnitId};
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag, respond_with_etag};
use crate::http::validate::validate_region_code;
use crate::store::leaders::{self, Leader, LeaderChanges, LeaderFilter, NewLeader};

/// A leader citizens can write to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a3d", "name": "王建国", "title": "兰州市市长",
    "region_code": "620100", "unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c", "active": true,
    "version": 1, "created_at": "2026-11-26T08:00:00Z", "updated_at": "2026-11-26T08:00:00Z"
}))]
pub struct LeaderDto {
    pub id: LeaderId,
    #[schema(max_length = 100)]
    pub name: String,
    /// E.g. "Provincial Party Secretary" (省委书记).
    #[schema(max_length = 200)]
    pub title: String,
    /// The leader's jurisdiction: messages to this leader lie inside it.
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub region_code: String,
    /// The unit that handles messages addressed to this leader.
    pub unit_id: UnitId,
    pub active: bool,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Leader> for LeaderDto {
    fn from(l: Leader) -> Self {
        LeaderDto {
            id: l.id,
            name: l.name,
            title: l.title,
            region_code: l.region_code,
            unit_id: l.unit_id,
            active: l.active,
            version: l.version,
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}

crate::page_type!(LeaderPage, LeaderDto, "A page of leaders.");

/// A new leader.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "王建国", "title": "兰州市市长", "region_code": "620100",
    "unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c"}))]
pub struct CreateLeader {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 100))]
    pub name: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 200))]
    pub title: String,
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "validate_region_code"))]
    pub region_code: String,
    pub unit_id: UnitId,
}

/// Changes to a leader.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "甘肃省人民政府省长"}))]
#[schema(min_properties = 1)]
pub struct UpdateLeader {
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 100))]
    pub name: Option<String>,
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 200))]
    pub title: Option<String>,
    #[schema(
        nullable = false,
        min_length = 6,
        max_length = 6,
        pattern = "^[0-9]{6}$"
    )]
    #[validate(custom(function = "validate_region_code"))]
    pub region_code: Option<String>,
    #[schema(nullable = false)]
    pub unit_id: Option<UnitId>,
    #[schema(nullable = false)]
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListLeadersQuery {
    /// Leaders of this region.
    #[param(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "validate_region_code"))]
    pub region_code: Option<String>,
    /// With `region_code`: include leaders of every region below it.
    pub subtree: Option<bool>,
    pub unit_id: Option<UnitId>,
    pub active: Option<bool>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// List leaders.
#[utoipa::path(
    operation_id = "list_leaders",
    tag = "reference data",
    params(ListLeadersQuery),
    responses((status = 200, description = "A page of leaders", body = LeaderPage))
)]
#[get("/leaders")]
pub async fn list_leaders(
    db: web::Data<Db>,
    _principal: Principal,
    query: ApiQuery<ListLeadersQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let limit = page.limit;
    let filter = LeaderFilter {
        region_code: q.region_code,
        region_subtree: q.subtree.unwrap_or(false),
        unit_id: q.unit_id,
        active: q.active,
    };
    let rows = db
        .run(move |conn| leaders::list(conn, &filter, &page))
        .await?;
    let (rows, next_cursor) = finish_page(rows, limit, |l| l.id);
    Ok(HttpResponse::Ok().json(LeaderPage {
        items: rows.into_iter().map(LeaderDto::from).collect(),
        next_cursor,
    }))
}

/// Create a leader.
#[utoipa::path(
    operation_id = "create_leader",
    tag = "reference data",
    request_body = CreateLeader,
    responses(
        (status = 201, description = "The leader was created", body = LeaderDto,
            headers(("Location" = String, description = "URL of the new leader"),
                    ("ETag" = String, description = "Version of the leader"))),
        (status = 409, description = "This leader exists", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[post("/leaders")]
pub async fn create_leader(
    db: web::Data<Db>,
    _principal: Principal,
    body: ApiJson<CreateLeader>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let new = NewLeader {
        id: LeaderId::new(),
        name: super::clean_name(&body.name, "name", 100)?,
        title: super::clean_name(&body.title, "title", 200)?,
        region_code: body.region_code,
        unit_id: body.unit_id,
    };
    let leader = db.run(move |conn| leaders::insert(conn, &new)).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/leaders/{}", leader.id)))
        .insert_header((header::ETAG, etag(leader.version)))
        .json(LeaderDto::from(leader)))
}

/// Read a leader.
#[utoipa::path(
    operation_id = "get_leader",
    tag = "reference data",
    params(("id" = LeaderId, Path, description = "Leader id")),
    responses(
        (status = 200, description = "The leader", body = LeaderDto,
            headers(("ETag" = String, description = "Version of the leader"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such leader", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[get("/leaders/{id}")]
pub async fn get_leader(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
    id: web::Path<LeaderId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let leader = db.run(move |conn| leaders::get(conn, id)).await?;
    respond_with_etag(
        &req,
        leader.version,
        &LeaderDto::from(leader),
        HttpResponse::Ok(),
    )
}

/// Change a leader (deactivate with `active: false`). Honours `If-Match`.
#[utoipa::path(
    operation_id = "update_leader",
    tag = "reference data",
    params(
        ("id" = LeaderId, Path, description = "Leader id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version you read")
    ),
    request_body = UpdateLeader,
    responses(
        (status = 200, description = "The changed leader", body = LeaderDto,
            headers(("ETag" = String, description = "New version of the leader"))),
        (status = 404, description = "No such leader", body = crate::error::Problem,
            content_type = "application/problem+json"),
        (status = 409, description = "This leader exists", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[patch("/leaders/{id}")]
pub async fn update_leader(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
    id: web::Path<LeaderId>,
    body: ApiJson<UpdateLeader>,
) -> Result<HttpResponse, ApiError> {
    let cond = IfMatchCondition::from_request(&req, IfMatch::Optional)?;
    let body = body.into_inner();
    let changes = LeaderChanges {
        name: body
            .name
            .as_deref()
            .map(|n| super::clean_name(n, "name", 100))
            .transpose()?,
        title: body
            .title
            .as_deref()
            .map(|n| super::clean_name(n, "title", 200))
            .transpose()?,
        region_code: body.region_code,
        unit_id: body.unit_id,
        active: body.active,
    };
    super::require_some_change(
        changes.name.is_some()
            || changes.title.is_some()
            || changes.region_code.is_some()
            || changes.unit_id.is_some()
            || changes.active.is_some(),
    )?;
    let id = id.into_inner();
    let leader = db
        .run(move |conn| leaders::update(conn, id, &cond, &changes))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(leader.version)))
        .json(LeaderDto::from(leader)))
}
