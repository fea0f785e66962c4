//! Units: responsible organisations (admin writes, everyone signed in reads).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::auth::Principal;
use crate::db::Db;
use crate::domain::ids::UnitId;
use crate::domain::reference::UnitKind;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag, respond_with_etag};
use crate::http::validate::validate_region_code;
use crate::routes::double_option;
use crate::store::units::{self, NewUnit, Unit, UnitChanges, UnitFilter};

/// A responsible unit.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c", "name": "兰州市交通运输局", "kind": "department",
    "region_code": "620100", "parent_id": null, "active": true, "version": 1,
    "created_at": "2026-11-26T08:00:00Z", "updated_at": "2026-11-26T08:00:00Z"
}))]
pub struct UnitDto {
    pub id: UnitId,
    #[schema(max_length = 200)]
    pub name: String,
    pub kind: UnitKind,
    /// The region the unit is responsible for.
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub region_code: String,
    /// The unit above this one, if any.
    pub parent_id: Option<UnitId>,
    /// Deactivated units keep their history but take no new work.
    pub active: bool,
    /// Increases with every change; also the `ETag`.
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Unit> for UnitDto {
    fn from(u: Unit) -> Self {
        UnitDto {
            id: u.id,
            name: u.name,
            kind: u.kind,
            region_code: u.region_code,
            parent_id: u.parent_id,
            active: u.active,
            version: u.version,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

crate::page_type!(UnitPage, UnitDto, "A page of units.");

/// A new unit.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "兰州市交通运输局", "kind": "department", "region_code": "620100"}))]
pub struct CreateUnit {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 200))]
    pub name: String,
    pub kind: UnitKind,
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "validate_region_code"))]
    pub region_code: String,
    pub parent_id: Option<UnitId>,
}

/// Changes to a unit: only the fields sent change; `parent_id: null` detaches it.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "兰州市交通运输委员会", "active": true}))]
#[schema(min_properties = 1)]
pub struct UpdateUnit {
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 200))]
    pub name: Option<String>,
    #[schema(nullable = false)]
    pub kind: Option<UnitKind>,
    #[schema(
        nullable = false,
        min_length = 6,
        max_length = 6,
        pattern = "^[0-9]{6}$"
    )]
    #[validate(custom(function = "validate_region_code"))]
    pub region_code: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<UnitId>)]
    pub parent_id: Option<Option<UnitId>>,
    #[schema(nullable = false)]
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUnitsQuery {
    /// Units of this region.
    #[param(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "validate_region_code"))]
    pub region_code: Option<String>,
    /// With `region_code`: include units of every region below it.
    pub subtree: Option<bool>,
    pub kind: Option<UnitKind>,
    pub parent_id: Option<UnitId>,
    pub active: Option<bool>,
    /// Name contains this text.
    #[param(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 100),
        custom(function = "crate::domain::validate_line")
    )]
    pub q: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// List units, ordered by name.
#[utoipa::path(
    operation_id = "list_units",
    tag = "reference data",
    params(ListUnitsQuery),
    responses((status = 200, description = "A page of units", body = UnitPage))
)]
#[get("/units")]
pub async fn list_units(
    db: web::Data<Db>,
    _principal: Principal,
    query: ApiQuery<ListUnitsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let filter = UnitFilter {
        region_code: q.region_code,
        region_subtree: q.subtree.unwrap_or(false),
        kind: q.kind,
        parent_id: q.parent_id,
        active: q.active,
        name_contains: q.q,
    };
    let limit = page.limit;
    let rows = db
        .run(move |conn| units::list(conn, &filter, &page))
        .await?;
    let (rows, next_cursor) = finish_page(rows, limit, |u| (u.name.clone(), u.id));
    Ok(HttpResponse::Ok().json(UnitPage {
        items: rows.into_iter().map(UnitDto::from).collect(),
        next_cursor,
    }))
}

/// Create a unit.
#[utoipa::path(
    operation_id = "create_unit",
    tag = "reference data",
    request_body = CreateUnit,
    responses(
        (status = 201, description = "The unit was created", body = UnitDto,
            headers(("Location" = String, description = "URL of the new unit"),
                    ("ETag" = String, description = "Version of the unit"))),
        (status = 409, description = "A unit with this name exists in the region",
            body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/units")]
pub async fn create_unit(
    db: web::Data<Db>,
    _principal: Principal,
    body: ApiJson<CreateUnit>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let new = NewUnit {
        id: UnitId::new(),
        name: super::clean_name(&body.name, "name", 200)?,
        kind: body.kind,
        region_code: body.region_code,
        parent_id: body.parent_id,
    };
    let unit = db.run(move |conn| units::insert(conn, &new)).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/units/{}", unit.id)))
        .insert_header((header::ETAG, etag(unit.version)))
        .json(UnitDto::from(unit)))
}

/// Read a unit.
#[utoipa::path(
    operation_id = "get_unit",
    tag = "reference data",
    params(("id" = UnitId, Path, description = "Unit id")),
    responses(
        (status = 200, description = "The unit", body = UnitDto,
            headers(("ETag" = String, description = "Version of the unit"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such unit", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[get("/units/{id}")]
pub async fn get_unit(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
    id: web::Path<UnitId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let unit = db.run(move |conn| units::get(conn, id)).await?;
    respond_with_etag(&req, unit.version, &UnitDto::from(unit), HttpResponse::Ok())
}

/// Change a unit (deactivate with `active: false`; units are never deleted, messages refer to
/// them). Honours `If-Match`.
#[utoipa::path(
    operation_id = "update_unit",
    tag = "reference data",
    params(
        ("id" = UnitId, Path, description = "Unit id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version you read")
    ),
    request_body = UpdateUnit,
    responses(
        (status = 200, description = "The changed unit", body = UnitDto,
            headers(("ETag" = String, description = "New version of the unit"))),
        (status = 404, description = "No such unit", body = crate::error::Problem,
            content_type = "application/problem+json"),
        (status = 409, description = "A unit with this name exists in the region",
            body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[patch("/units/{id}")]
pub async fn update_unit(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
    id: web::Path<UnitId>,
    body: ApiJson<UpdateUnit>,
) -> Result<HttpResponse, ApiError> {
    let cond = IfMatchCondition::from_request(&req, IfMatch::Optional)?;
    let body = body.into_inner();
    let changes = UnitChanges {
        name: body
            .name
            .as_deref()
            .map(|n| super::clean_name(n, "name", 200))
            .transpose()?,
        kind: body.kind,
        region_code: body.region_code,
        parent_id: body.parent_id,
        active: body.active,
    };
    super::require_some_change(
        changes.name.is_some()
            || changes.kind.is_some()
            || changes.region_code.is_some()
            || changes.parent_id.is_some()
            || changes.active.is_some(),
    )?;
    let id = id.into_inner();
    let unit = db
        .run(move |conn| units::update(conn, id, &cond, &changes))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(unit.version)))
        .json(UnitDto::from(unit)))
}
