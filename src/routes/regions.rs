//! Regions: the administrative division tree.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::auth::Principal;
use crate::db::Db;
use crate::domain::reference::{RegionLevel, check_region_code};
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery, parse_path_id};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag, respond_with_etag};
use crate::http::validate::validate_region_code;
use crate::store::regions::{self, Region, RegionChanges, RegionFilter};

/// An administrative division.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "code": "620102", "name": "城关区", "level": "county", "parent_code": "620100",
    "path": ["620000", "620100", "620102"], "active": true, "version": 1,
    "created_at": "2026-11-26T08:00:00Z", "updated_at": "2026-11-26T08:00:00Z"
}))]
pub struct RegionDto {
    /// GB/T 2260 code.
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub code: String,
    #[schema(max_length = 100)]
    pub name: String,
    pub level: RegionLevel,
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub parent_code: Option<String>,
    /// Codes from the province down to this region.
    #[schema(max_items = 3)]
    pub path: Vec<String>,
    pub active: bool,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Region> for RegionDto {
    fn from(r: Region) -> Self {
        RegionDto {
            path: r
                .path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            code: r.code,
            name: r.name,
            level: r.level,
            parent_code: r.parent_code,
            active: r.active,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

crate::page_type!(RegionPage, RegionDto, "A page of regions.");

/// A new region.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "620111", "name": "红古区", "level": "county", "parent_code": "620100"}))]
pub struct CreateRegion {
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "validate_region_code"))]
    pub code: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 100))]
    pub name: String,
    pub level: RegionLevel,
    /// Required except for a province.
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "validate_region_code"))]
    pub parent_code: Option<String>,
}

/// Changes to a region. Codes and parents never change: a re-division gets new codes.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "城关区", "active": true}))]
#[schema(min_properties = 1)]
pub struct UpdateRegion {
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 100))]
    pub name: Option<String>,
    #[schema(nullable = false)]
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListRegionsQuery {
    /// Direct children of this region.
    #[param(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "validate_region_code"))]
    pub parent_code: Option<String>,
    pub level: Option<RegionLevel>,
    /// This region and everything below it.
    #[param(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "validate_region_code"))]
    pub within: Option<String>,
    pub active: Option<bool>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// List regions, ordered by code.
#[utoipa::path(
    operation_id = "list_regions",
    tag = "reference data",
    params(ListRegionsQuery),
    responses((status = 200, description = "A page of regions", body = RegionPage))
)]
#[get("/regions")]
pub async fn list_regions(
    db: web::Data<Db>,
    _principal: Principal,
    query: ApiQuery<ListRegionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let limit = page.limit;
    let filter = RegionFilter {
        parent_code: q.parent_code,
        level: q.level,
        within: q.within,
        active: q.active,
    };
    let rows = db
        .run(move |conn| regions::list(conn, &filter, &page))
        .await?;
    let (rows, next_cursor) = finish_page(rows, limit, |r| r.code.clone());
    Ok(HttpResponse::Ok().json(RegionPage {
        items: rows.into_iter().map(RegionDto::from).collect(),
        next_cursor,
    }))
}

/// Create a region. The code must match the level (a province ends in 0000, a city in 00) and
/// share its parent's prefix.
#[utoipa::path(
    operation_id = "create_region",
    tag = "reference data",
    request_body = CreateRegion,
    responses(
        (status = 201, description = "The region was created", body = RegionDto,
            headers(("Location" = String, description = "URL of the new region"),
                    ("ETag" = String, description = "Version of the region"))),
        (status = 409, description = "A region with this code exists",
            body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/regions")]
pub async fn create_region(
    db: web::Data<Db>,
    _principal: Principal,
    body: ApiJson<CreateRegion>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    check_region_code(&body.code, body.level).map_err(|m| ApiError::field("code", "format", m))?;
    let name = super::clean_name(&body.name, "name", 100)?;
    let region = db
        .run(move |conn| {
            regions::insert(
                conn,
                &body.code,
                &name,
                body.level,
                body.parent_code.as_deref(),
            )
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/regions/{}", region.code)))
        .insert_header((header::ETAG, etag(region.version)))
        .json(RegionDto::from(region)))
}

/// Read a region.
#[utoipa::path(
    operation_id = "get_region",
    tag = "reference data",
    params(("code" = String, Path, description = "GB/T 2260 code", max_length = 6, min_length = 6, pattern = "^[0-9]{6}$")),
    responses(
        (status = 200, description = "The region", body = RegionDto,
            headers(("ETag" = String, description = "Version of the region"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such region", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[get("/regions/{code}")]
pub async fn get_region(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let code: String = parse_path_id::<RegionCode>(&code, "region")?.0;
    let region = db.run(move |conn| regions::get(conn, &code)).await?;
    respond_with_etag(
        &req,
        region.version,
        &RegionDto::from(region),
        HttpResponse::Ok(),
    )
}

/// Rename or (de)activate a region. Honours `If-Match`.
#[utoipa::path(
    operation_id = "update_region",
    tag = "reference data",
    params(
        ("code" = String, Path, description = "GB/T 2260 code", max_length = 6, min_length = 6, pattern = "^[0-9]{6}$"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version you read")
    ),
    request_body = UpdateRegion,
    responses(
        (status = 200, description = "The changed region", body = RegionDto,
            headers(("ETag" = String, description = "New version of the region"))),
        (status = 404, description = "No such region", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[patch("/regions/{code}")]
pub async fn update_region(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
    code: web::Path<String>,
    body: ApiJson<UpdateRegion>,
) -> Result<HttpResponse, ApiError> {
    let code: String = parse_path_id::<RegionCode>(&code, "region")?.0;
    let cond = IfMatchCondition::from_request(&req, IfMatch::Optional)?;
    let body = body.into_inner();
    let changes = RegionChanges {
        name: body
            .name
            .as_deref()
            .map(|n| super::clean_name(n, "name", 100))
            .transpose()?,
        active: body.active,
    };
    super::require_some_change(changes.name.is_some() || changes.active.is_some())?;
    let region = db
        .run(move |conn| regions::update(conn, &code, &cond, &changes))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(region.version)))
        .json(RegionDto::from(region)))
}

/// A syntactically valid region code from a path.
struct RegionCode(String);

impl std::str::FromStr for RegionCode {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        validate_region_code(s)
            .map(|()| RegionCode(s.to_owned()))
            .map_err(|_| ())
    }
}
