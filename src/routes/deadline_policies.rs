//! Deadline policies: time limits in working days per priority, optionally narrowed to a message
//! kind and/or a category (staff read, admins write).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::Principal;
use crate::db::Db;
use crate::domain::ids::CategoryId;
use crate::domain::message::{MessageKind, Priority};
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery, parse_path_id};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag, respond_with_etag};
use crate::store::deadline_policies::{
    self as store, DeadlinePolicy, DeadlinePolicyChanges, DeadlinePolicyFilter, NewDeadlinePolicy,
};

/// Deserialize a required integer that JSON may write as `7` or `7.0`.
fn integer<'de, D>(d: D) -> Result<i32, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    super::optional_integer(d)?.ok_or_else(|| D::Error::custom("must be an integer, not null"))
}

/// Time limits, in working days, for messages of a priority (and optionally a message kind and
/// a category). The most specific active policy applies: category and kind, then category, then
/// kind, then the priority's default.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "00000000-0000-7000-8000-00000000d001", "priority": "important", "message_kind": null,
    "category_id": null, "sign_for_days": 1, "reply_days": 5, "due_soon_days": 1,
    "max_extensions": 2, "max_extension_days": 15, "is_default": true, "active": true, "version": 1,
    "created_at": "2026-11-26T08:00:00Z", "updated_at": "2026-11-26T08:00:00Z"
}))]
pub struct DeadlinePolicyDto {
    pub id: Uuid,
    pub priority: Priority,
    /// Only messages of this kind; `null`: any kind.
    pub message_kind: Option<MessageKind>,
    /// Only messages of this category; `null`: any category.
    pub category_id: Option<CategoryId>,
    /// Working days a unit has to sign for an assignment.
    #[schema(format = Int32, minimum = 0, maximum = 30)]
    pub sign_for_days: i32,
    /// Working days a unit has to reply.
    #[schema(format = Int32, minimum = 1, maximum = 180)]
    pub reply_days: i32,
    /// Working days before the due time at which a deadline counts as due soon.
    #[schema(format = Int32, minimum = 0, maximum = 30)]
    pub due_soon_days: i32,
    /// Extensions one deadline may get.
    #[schema(format = Int32, minimum = 0, maximum = 10)]
    pub max_extensions: i32,
    /// Working days all extensions of one deadline may add up to.
    #[schema(format = Int32, minimum = 0, maximum = 180)]
    pub max_extension_days: i32,
    /// The priority's default (no kind, no category): always active.
    pub is_default: bool,
    pub active: bool,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<DeadlinePolicy> for DeadlinePolicyDto {
    fn from(p: DeadlinePolicy) -> Self {
        DeadlinePolicyDto {
            is_default: p.is_default(),
            id: p.id,
            priority: p.priority,
            message_kind: p.message_kind,
            category_id: p.category_id,
            sign_for_days: p.sign_for_days,
            reply_days: p.reply_days,
            due_soon_days: p.due_soon_days,
            max_extensions: p.max_extensions,
            max_extension_days: p.max_extension_days,
            active: p.active,
            version: p.version,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

crate::page_type!(
    DeadlinePolicyPage,
    DeadlinePolicyDto,
    "A page of deadline policies."
);

/// A new deadline policy for a scope (priority, optional kind, optional category) that has none.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "priority": "routine", "message_kind": "help_request", "category_id": "01930000-0000-7000-8000-000000000005",
    "sign_for_days": 1, "reply_days": 10, "due_soon_days": 2
}))]
pub struct CreateDeadlinePolicy {
    pub priority: Priority,
    /// Narrow the policy to messages of this kind.
    pub message_kind: Option<MessageKind>,
    /// Narrow the policy to messages of this category (active).
    pub category_id: Option<CategoryId>,
    #[schema(format = Int32, minimum = 0, maximum = 30)]
    #[validate(range(min = 0, max = 30))]
    #[serde(deserialize_with = "integer")]
    pub sign_for_days: i32,
    #[schema(format = Int32, minimum = 1, maximum = 180)]
    #[validate(range(min = 1, max = 180))]
    #[serde(deserialize_with = "integer")]
    pub reply_days: i32,
    /// Default 1.
    #[schema(format = Int32, minimum = 0, maximum = 30)]
    #[validate(range(min = 0, max = 30))]
    #[serde(default, deserialize_with = "super::optional_integer")]
    pub due_soon_days: Option<i32>,
    /// Default 2.
    #[schema(format = Int32, minimum = 0, maximum = 10)]
    #[validate(range(min = 0, max = 10))]
    #[serde(default, deserialize_with = "super::optional_integer")]
    pub max_extensions: Option<i32>,
    /// Default 15.
    #[schema(format = Int32, minimum = 0, maximum = 180)]
    #[validate(range(min = 0, max = 180))]
    #[serde(default, deserialize_with = "super::optional_integer")]
    pub max_extension_days: Option<i32>,
}

/// Changes to a policy's limits, or (de)activation. The scope never changes; a default policy
/// cannot be deactivated.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reply_days": 10, "due_soon_days": 2}))]
#[schema(min_properties = 1)]
pub struct UpdateDeadlinePolicy {
    #[schema(nullable = false, format = Int32, minimum = 0, maximum = 30)]
    #[validate(range(min = 0, max = 30))]
    #[serde(default, deserialize_with = "super::optional_integer")]
    pub sign_for_days: Option<i32>,
    #[schema(nullable = false, format = Int32, minimum = 1, maximum = 180)]
    #[validate(range(min = 1, max = 180))]
    #[serde(default, deserialize_with = "super::optional_integer")]
    pub reply_days: Option<i32>,
    #[schema(nullable = false, format = Int32, minimum = 0, maximum = 30)]
    #[validate(range(min = 0, max = 30))]
    #[serde(default, deserialize_with = "super::optional_integer")]
    pub due_soon_days: Option<i32>,
    #[schema(nullable = false, format = Int32, minimum = 0, maximum = 10)]
    #[validate(range(min = 0, max = 10))]
    #[serde(default, deserialize_with = "super::optional_integer")]
    pub max_extensions: Option<i32>,
    #[schema(nullable = false, format = Int32, minimum = 0, maximum = 180)]
    #[validate(range(min = 0, max = 180))]
    #[serde(default, deserialize_with = "super::optional_integer")]
    pub max_extension_days: Option<i32>,
    #[schema(nullable = false)]
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListDeadlinePoliciesQuery {
    pub priority: Option<Priority>,
    pub active: Option<bool>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    parse_path_id::<Uuid>(raw, "deadline policy")
}

/// List deadline policies, the defaults first, then in creation order.
#[utoipa::path(
    operation_id = "list_deadline_policies",
    tag = "handling catalogues",
    params(ListDeadlinePoliciesQuery),
    responses((status = 200, description = "A page of deadline policies", body = DeadlinePolicyPage))
)]
#[get("/deadline-policies")]
pub async fn list_deadline_policies(
    db: web::Data<Db>,
    _principal: Principal,
    query: ApiQuery<ListDeadlinePoliciesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let limit = page.limit;
    let filter = DeadlinePolicyFilter {
        priority: q.priority,
        active: q.active,
    };
    let rows = db
        .run(move |conn| store::list(conn, &filter, &page))
        .await?;
    let (rows, next_cursor) = finish_page(rows, limit, |p| p.id);
    Ok(HttpResponse::Ok().json(DeadlinePolicyPage {
        items: rows.into_iter().map(DeadlinePolicyDto::from).collect(),
        next_cursor,
    }))
}

/// Read a deadline policy.
#[utoipa::path(
    operation_id = "get_deadline_policy",
    tag = "handling catalogues",
    params(("id" = String, Path, format = Uuid, description = "Deadline policy id")),
    responses(
        (status = 200, description = "The policy", body = DeadlinePolicyDto,
            headers(("ETag" = String, description = "Version of the policy"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such policy", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[get("/deadline-policies/{id}")]
pub async fn get_deadline_policy(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let policy = db.run(move |conn| store::get(conn, id)).await?;
    respond_with_etag(
        &req,
        policy.version,
        &DeadlinePolicyDto::from(policy),
        HttpResponse::Ok(),
    )
}

/// Create a deadline policy for a priority, narrowed to a message kind and/or a category (the
/// priority's default exists already). Deadlines started afterwards use the most specific
/// active policy.
#[utoipa::path(
    operation_id = "create_deadline_policy",
    tag = "handling catalogues",
    request_body = CreateDeadlinePolicy,
    responses(
        (status = 201, description = "The policy was created", body = DeadlinePolicyDto,
            headers(("Location" = String, description = "URL of the new policy"),
                    ("ETag" = String, description = "Version of the policy"))),
        (status = 409, description = "A policy with this scope (priority, kind, category) exists",
            body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/deadline-policies")]
pub async fn create_deadline_policy(
    db: web::Data<Db>,
    _principal: Principal,
    body: ApiJson<CreateDeadlinePolicy>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let new = NewDeadlinePolicy {
        id: Uuid::now_v7(),
        priority: b.priority,
        message_kind: b.message_kind,
        category_id: b.category_id,
        sign_for_days: b.sign_for_days,
        reply_days: b.reply_days,
        due_soon_days: b.due_soon_days.unwrap_or(1),
        max_extensions: b.max_extensions.unwrap_or(2),
        max_extension_days: b.max_extension_days.unwrap_or(15),
    };
    let policy = db.run(move |conn| store::insert(conn, &new)).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/deadline-policies/{}", policy.id),
        ))
        .insert_header((header::ETAG, etag(policy.version)))
        .json(DeadlinePolicyDto::from(policy)))
}

/// Change a policy's limits or (de)activate it. The default policy of a priority cannot be
/// deactivated. Requires `If-Match`.
#[utoipa::path(
    operation_id = "update_deadline_policy",
    tag = "handling catalogues",
    params(
        ("id" = String, Path, format = Uuid, description = "Deadline policy id"),
        ("If-Match" = String, Header, description = "ETag of the version you read")
    ),
    request_body = UpdateDeadlinePolicy,
    responses(
        (status = 200, description = "The changed policy", body = DeadlinePolicyDto,
            headers(("ETag" = String, description = "New version of the policy"))),
        (status = 404, description = "No such policy", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[patch("/deadline-policies/{id}")]
pub async fn update_deadline_policy(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
    id: web::Path<String>,
    body: ApiJson<UpdateDeadlinePolicy>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let cond = IfMatchCondition::from_request(&req, IfMatch::Required)?;
    let b = body.into_inner();
    let changes = DeadlinePolicyChanges {
        sign_for_days: b.sign_for_days,
        reply_days: b.reply_days,
        due_soon_days: b.due_soon_days,
        max_extensions: b.max_extensions,
        max_extension_days: b.max_extension_days,
        active: b.active,
    };
    super::require_some_change(
        changes.sign_for_days.is_some()
            || changes.reply_days.is_some()
            || changes.due_soon_days.is_some()
            || changes.max_extensions.is_some()
            || changes.max_extension_days.is_some()
            || changes.active.is_some(),
    )?;
    let policy = db
        .run(move |conn| crate::app::deadlines::update_policy(conn, id, &cond, &changes))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(policy.version)))
        .json(DeadlinePolicyDto::from(policy)))
}
