//! Categories: the topic list.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::{Validate, ValidationError};

use crate::auth::Principal;
use crate::db::Db;
use crate::domain::ids::CategoryId;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag, respond_with_etag};
use crate::store::categories::{self, Category, CategoryChanges, NewCategory};

fn validate_code(code: &str) -> Result<(), ValidationError> {
    let mut chars = code.chars();
    let ok = (2..=50).contains(&code.len())
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        let mut e = ValidationError::new("format");
        e.message = Some("must be 2 to 50 of a-z, 0-9 and _, starting with a letter".into());
        Err(e)
    }
}

/// A message topic.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01930000-0000-7000-8000-000000000002", "code": "transport", "name": "交通运输",
    "description": "Transport", "sort_order": 20, "active": true, "version": 1,
    "created_at": "2026-11-26T08:00:00Z", "updated_at": "2026-11-26T08:00:00Z"
}))]
pub struct CategoryDto {
    pub id: CategoryId,
    /// Stable machine name.
    #[schema(max_length = 50, pattern = "^[a-z][a-z0-9_]{1,49}$")]
    pub code: String,
    #[schema(max_length = 100)]
    pub name: String,
    #[schema(max_length = 1000)]
    pub description: String,
    /// Lists are ordered by this, then by id.
    #[schema(format = Int32)]
    pub sort_order: i32,
    pub active: bool,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Category> for CategoryDto {
    fn from(c: Category) -> Self {
        CategoryDto {
            id: c.id,
            code: c.code,
            name: c.name,
            description: c.description,
            sort_order: c.sort_order,
            active: c.active,
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

crate::page_type!(CategoryPage, CategoryDto, "A page of categories.");

/// A new category.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "housing", "name": "住房保障", "description": "Housing", "sort_order": 65}))]
pub struct CreateCategory {
    #[schema(min_length = 2, max_length = 50, pattern = "^[a-z][a-z0-9_]{1,49}$")]
    #[validate(custom(function = "validate_code"))]
    pub code: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 100))]
    pub name: String,
    #[schema(
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 1000), custom(function = "crate::domain::validate_text"))]
    pub description: Option<String>,
    #[schema(format = Int32, minimum = -1000000, maximum = 1000000)]
    #[validate(range(min = -1_000_000, max = 1_000_000))]
    #[serde(default, deserialize_with = "super::optional_integer")]
    pub sort_order: Option<i32>,
}

/// Changes to a category. The code never changes (clients may store it).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "住房和城乡建设", "sort_order": 15}))]
#[schema(min_properties = 1)]
pub struct UpdateCategory {
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
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 1000), custom(function = "crate::domain::validate_text"))]
    pub description: Option<String>,
    #[schema(nullable = false, format = Int32, minimum = -1000000, maximum = 1000000)]
    #[validate(range(min = -1_000_000, max = 1_000_000))]
    #[serde(default, deserialize_with = "super::optional_integer")]
    pub sort_order: Option<i32>,
    #[schema(nullable = false)]
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListCategoriesQuery {
    pub active: Option<bool>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// List categories in display order.
#[utoipa::path(
    operation_id = "list_categories",
    tag = "reference data",
    params(ListCategoriesQuery),
    responses((status = 200, description = "A page of categories", body = CategoryPage))
)]
#[get("/categories")]
pub async fn list_categories(
    db: web::Data<Db>,
    _principal: Principal,
    query: ApiQuery<ListCategoriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let limit = page.limit;
    let rows = db
        .run(move |conn| categories::list(conn, q.active, &page))
        .await?;
    let (rows, next_cursor) = finish_page(rows, limit, |c| (c.sort_order, c.id));
    Ok(HttpResponse::Ok().json(CategoryPage {
        items: rows.into_iter().map(CategoryDto::from).collect(),
        next_cursor,
    }))
}

/// Create a category.
#[utoipa::path(
    operation_id = "create_category",
    tag = "reference data",
    request_body = CreateCategory,
    responses(
        (status = 201, description = "The category was created", body = CategoryDto,
            headers(("Location" = String, description = "URL of the new category"),
                    ("ETag" = String, description = "Version of the category"))),
        (status = 409, description = "A category with this code or name exists",
            body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/categories")]
pub async fn create_category(
    db: web::Data<Db>,
    _principal: Principal,
    body: ApiJson<CreateCategory>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let new = NewCategory {
        id: CategoryId::new(),
        code: body.code,
        name: super::clean_name(&body.name, "name", 100)?,
        description: body.description.unwrap_or_default().trim().to_owned(),
        sort_order: body.sort_order.unwrap_or(0),
    };
    let category = db.run(move |conn| categories::insert(conn, &new)).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/categories/{}", category.id),
        ))
        .insert_header((header::ETAG, etag(category.version)))
        .json(CategoryDto::from(category)))
}

/// Read a category.
#[utoipa::path(
    operation_id = "get_category",
    tag = "reference data",
    params(("id" = CategoryId, Path, description = "Category id")),
    responses(
        (status = 200, description = "The category", body = CategoryDto,
            headers(("ETag" = String, description = "Version of the category"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such category", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[get("/categories/{id}")]
pub async fn get_category(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
    id: web::Path<CategoryId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let category = db.run(move |conn| categories::get(conn, id)).await?;
    respond_with_etag(
        &req,
        category.version,
        &CategoryDto::from(category),
        HttpResponse::Ok(),
    )
}

/// Change a category (deactivate with `active: false`). Honours `If-Match`.
#[utoipa::path(
    operation_id = "update_category",
    tag = "reference data",
    params(
        ("id" = CategoryId, Path, description = "Category id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version you read")
    ),
    request_body = UpdateCategory,
    responses(
        (status = 200, description = "The changed category", body = CategoryDto,
            headers(("ETag" = String, description = "New version of the category"))),
        (status = 404, description = "No such category", body = crate::error::Problem,
            content_type = "application/problem+json"),
        (status = 409, description = "A category with this name exists",
            body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[patch("/categories/{id}")]
pub async fn update_category(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
    id: web::Path<CategoryId>,
    body: ApiJson<UpdateCategory>,
) -> Result<HttpResponse, ApiError> {
    let cond = IfMatchCondition::from_request(&req, IfMatch::Optional)?;
    let body = body.into_inner();
    let changes = CategoryChanges {
        name: body
            .name
            .as_deref()
            .map(|n| super::clean_name(n, "name", 100))
            .transpose()?,
        description: body.description.map(|d| d.trim().to_owned()),
        sort_order: body.sort_order,
        active: body.active,
    };
    super::require_some_change(
        changes.name.is_some()
            || changes.description.is_some()
            || changes.sort_order.is_some()
            || changes.active.is_some(),
    )?;
    let id = id.into_inner();
    let category = db
        .run(move |conn| categories::update(conn, id, &cond, &changes))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(category.version)))
        .json(CategoryDto::from(category)))
}
