//! Webhooks (integration clients with the `webhooks:manage` scope): subscriptions to change
//! types, their Standard Webhooks secret (shown on create and rotate), the delivery log and
//! manual redelivery. A client sees and manages only its own subscriptions; administrators read
//! every client's (subscriptions and delivery logs, never a secret) but change none.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::{Permission, Principal};
use crate::configuration::Settings;
use crate::db::Db;
use crate::domain::change_type::ChangeType;
use crate::domain::client_scope::ClientScope;
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag};
use crate::store::webhooks::{
    self as store, Attempt, Delivery, DeliveryStatus, Readable, Subscription, SubscriptionChanges,
};

/// A webhook subscription (never its secret).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01937a00-0000-7000-8000-000000000b01",
    "owner_id": "01936f00-0000-7000-8000-000000000c01",
    "url": "https://board.example.org/hooks/liuyan",
    "event_types": ["reply.published", "message.status_changed"], "active": true, "version": 1,
    "created_at": "2026-11-26T08:00:00Z", "updated_at": "2026-11-26T08:00:00Z"
}))]
pub struct WebhookSubscriptionDto {
    pub id: Uuid,
    /// The integration client that subscribed (its `id`).
    pub owner_id: Uuid,
    /// Where deliveries are POSTed.
    #[schema(min_length = 8, max_length = 2048)]
    pub url: String,
    /// The change types delivered.
    #[schema(min_items = 1, max_items = 7)]
    pub event_types: Vec<ChangeType>,
    /// Inactive subscriptions get no new deliveries; pending ones wait until it is active again.
    pub active: bool,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Subscription> for WebhookSubscriptionDto {
    fn from(s: Subscription) -> Self {
        WebhookSubscriptionDto {
            event_types: s.event_types(),
            id: s.id,
            owner_id: s.owner_id,
            url: s.url,
            active: s.active,
            version: s.version,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// A subscription with its signing secret: answered on create and on rotation only.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "subscription": {
        "id": "01937a00-0000-7000-8000-000000000b01",
        "owner_id": "01936f00-0000-7000-8000-000000000c01",
        "url": "https://board.example.org/hooks/liuyan",
        "event_types": ["reply.published"], "active": true, "version": 1,
        "created_at": "2026-11-26T08:00:00Z", "updated_at": "2026-11-26T08:00:00Z"
    },
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYqr"
}))]
pub struct IssuedWebhookSecret {
    pub subscription: WebhookSubscriptionDto,
    /// Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. Verify
    /// `webhook-signature` with it. Shown here only (the server keeps it to sign).
    #[schema(min_length = 50, max_length = 100, pattern = "^whsec_[A-Za-z0-9+/=]+$")]
    pub secret: String,
}

/// A new subscription.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://board.example.org/hooks/liuyan",
    "event_types": ["reply.published", "message.status_changed"]}))]
pub struct NewWebhookSubscription {
    /// `https` (or `http`) URL of a public host: loopback, private, link-local and metadata
    /// addresses are refused.
    #[schema(min_length = 8, max_length = 2048)]
    #[validate(length(min = 8, max = 2048))]
    pub url: String,
    #[schema(min_items = 1, max_items = 7)]
    #[validate(length(min = 1, max = 7))]
    pub event_types: Vec<ChangeType>,
    /// Default true.
    #[schema(nullable = false)]
    pub active: Option<bool>,
}

/// Changes to a subscription (`If-Match` required); omitted fields stay.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"event_types": ["reply.published"], "active": false}))]
pub struct UpdateWebhookSubscription {
    #[schema(min_length = 8, max_length = 2048, nullable = false)]
    #[validate(length(min = 8, max = 2048))]
    pub url: Option<String>,
    #[schema(min_items = 1, max_items = 7, nullable = false)]
    #[validate(length(min = 1, max = 7))]
    pub event_types: Option<Vec<ChangeType>>,
    #[schema(nullable = false)]
    pub active: Option<bool>,
}

crate::page_type!(
    WebhookSubscriptionPage,
    WebhookSubscriptionDto,
    "A page of webhook subscriptions, newest first."
);

/// One event sent to one subscription: the same `webhook-id` across all its attempts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "msg_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b", "subscription_id": "01937a00-0000-7000-8000-000000000b01",
    "event_id": 4711, "event_type": "reply.published", "status": "pending", "attempts": 2,
    "next_attempt_at": "2026-11-26T08:01:05Z", "last_status": 503,
    "last_error": "the receiver answered 503", "created_at": "2026-11-26T08:00:00Z",
    "delivered_at": null
}))]
pub struct WebhookDeliveryDto {
    /// The `webhook-id` header: deduplicate on it.
    #[schema(min_length = 36, max_length = 36, pattern = "^msg_[0-9a-f]{32}$")]
    pub id: String,
    pub subscription_id: Uuid,
    /// The ledger event (`event_id` in the change feed).
    #[schema(format = Int64, minimum = 1)]
    pub event_id: i64,
    pub event_type: ChangeType,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    #[schema(format = Int32, minimum = 0)]
    pub attempts: i32,
    /// When the next attempt is due (while pending).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's status code at the last attempt (null: none, or no answer).
    #[schema(format = Int32, minimum = 100, maximum = 599)]
    pub last_status: Option<i32>,
    #[schema(max_length = 500)]
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<Delivery> for WebhookDeliveryDto {
    fn from(d: Delivery) -> Self {
        let status = DeliveryStatus::parse(&d.status).unwrap_or(DeliveryStatus::Pending);
        WebhookDeliveryDto {
            event_type: ChangeType::parse(&d.event_type).unwrap_or(ChangeType::MessageUpdated),
            next_attempt_at: (status == DeliveryStatus::Pending).then_some(d.next_attempt_at),
            id: d.id,
            subscription_id: d.subscription_id,
            event_id: d.event_id,
            status,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
        }
    }
}

/// One attempt to deliver.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"n": 1, "at": "2026-11-26T08:00:01Z", "status_code": 503,
    "error": "the receiver answered 503", "duration_ms": 42}))]
pub struct WebhookAttemptDto {
    /// 1 for the first attempt.
    #[schema(format = Int32, minimum = 1)]
    pub n: i32,
    pub at: DateTime<Utc>,
    /// The receiver's status code; null when no answer came (see `error`).
    #[schema(format = Int32, minimum = 100, maximum = 599)]
    pub status_code: Option<i32>,
    #[schema(max_length = 500)]
    pub error: Option<String>,
    #[schema(format = Int32, minimum = 0)]
    pub duration_ms: i32,
}

impl From<Attempt> for WebhookAttemptDto {
    fn from(a: Attempt) -> Self {
        WebhookAttemptDto {
            n: a.n,
            at: a.at,
            status_code: a.status_code,
            error: a.error,
            duration_ms: a.duration_ms,
        }
    }
}

/// A delivery with the body sent and its attempts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "delivery": {
        "id": "msg_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b", "subscription_id": "01937a00-0000-7000-8000-000000000b01",
        "event_id": 4711, "event_type": "reply.published", "status": "delivered", "attempts": 1,
        "next_attempt_at": null, "last_status": 204, "last_error": null,
        "created_at": "2026-11-26T08:00:00Z", "delivered_at": "2026-11-26T08:00:01Z"
    },
    "payload": {"type": "reply.published", "timestamp": "2026-11-26T08:00:00Z", "data": {
        "event_id": 4711, "message_id": "01936f00-0000-7000-8000-000000000001",
        "tracking_no": "GS-2026-000123", "seq": 7, "action": "publish_reply",
        "from_status": "in_progress", "to_status": "replied", "occurred_at": "2026-11-26T08:00:00Z",
        "payload": {}, "external_source": null, "external_id": null}},
    "attempts": [{"n": 1, "at": "2026-11-26T08:00:01Z", "status_code": 204, "error": null, "duration_ms": 42}]
}))]
pub struct WebhookDeliveryDetail {
    pub delivery: WebhookDeliveryDto,
    /// The body POSTed (`{type, timestamp, data}`), fixed when the event was recorded.
    pub payload: serde_json::Value,
    #[schema(max_items = 1000)]
    pub attempts: Vec<WebhookAttemptDto>,
}

crate::page_type!(
    WebhookDeliveryPage,
    WebhookDeliveryDto,
    "A page of a subscription's deliveries, newest first."
);

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListWebhooksQuery {
    /// Only this integration client's subscriptions (its `id`); for administrators, who see
    /// every client's.
    pub owner_id: Option<Uuid>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListWebhookDeliveriesQuery {
    /// Only deliveries in this state.
    pub status: Option<DeliveryStatus>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// The caller must be an integration client holding `webhooks:manage`.
fn authorize(principal: &Principal) -> Result<Uuid, ApiError> {
    principal.require(Permission::ManageWebhooks)?;
    principal.require_scope(ClientScope::WebhooksManage)?;
    Ok(principal.user_id.0)
}

/// Readers: an integration client holding `webhooks:manage` (its own subscriptions) or an
/// administrator (every client's).
fn reader(principal: &Principal) -> Result<Readable, ApiError> {
    principal.require(Permission::ReadWebhooks)?;
    if principal.role == Role::Admin {
        return Ok(Readable::All);
    }
    principal.require_scope(ClientScope::WebhooksManage)?;
    Ok(Readable::OwnedBy(principal.user_id.0))
}

async fn vet_url(settings: &Settings, url: &str) -> Result<String, ApiError> {
    let url = url.trim().to_owned();
    crate::webhooks::vet_target(&url, settings.webhook_allow_private_targets)
        .await
        .map_err(|why| ApiError::field("url", "target", why))?;
    Ok(url)
}

/// Subscribe to change types; the answer carries the signing secret, once.
#[utoipa::path(
    operation_id = "create_webhook",
    tag = "webhooks",
    request_body = NewWebhookSubscription,
    responses(
        (status = 201, description = "Subscribed; the secret is in this answer only", body = IssuedWebhookSecret,
            headers(("Location" = String, description = "URL of the subscription"), ("ETag" = String, description = "Its version")))
    )
)]
#[post("/webhooks")]
pub async fn create_webhook(
    req: HttpRequest,
    db: web::Data<Db>,
    settings: web::Data<Settings>,
    principal: Principal,
    body: ApiJson<NewWebhookSubscription>,
) -> Result<HttpResponse, ApiError> {
    let owner = authorize(&principal)?;
    let body = body.into_inner();
    let url = vet_url(&settings, &body.url).await?;
    let now = crate::http::now(&req);
    let active = body.active.unwrap_or(true);
    let sub = db
        .run(move |conn| store::create(conn, owner, &url, &body.event_types, active, now))
        .await?;
    let secret = sub.secret.clone();
    let dto = WebhookSubscriptionDto::from(sub);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/webhooks/{}", dto.id)))
        .insert_header((header::ETAG, etag(dto.version)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(IssuedWebhookSecret {
            subscription: dto,
            secret,
        }))
}

/// The caller's subscriptions (an administrator's: every client's), newest first.
#[utoipa::path(
    operation_id = "list_webhooks",
    tag = "webhooks",
    params(ListWebhooksQuery),
    responses((status = 200, description = "A page of subscriptions", body = WebhookSubscriptionPage))
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    db: web::Data<Db>,
    principal: Principal,
    query: ApiQuery<ListWebhooksQuery>,
) -> Result<HttpResponse, ApiError> {
    let reader = reader(&principal)?;
    let page = PageRequest::new(query.limit, query.cursor.as_deref())?;
    let limit = page.limit;
    let owner = query.owner_id;
    let rows = db
        .run(move |conn| store::list(conn, reader, owner, &page))
        .await?;
    let (rows, next_cursor) = finish_page(rows, limit, |s| (s.created_at, s.id));
    Ok(HttpResponse::Ok().json(WebhookSubscriptionPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// One of the caller's subscriptions (an administrator: anyone's).
#[utoipa::path(
    operation_id = "get_webhook",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "The subscription", body = WebhookSubscriptionDto, headers(("ETag" = String, description = "Its version"))),
        (status = 404, description = "No such subscription of yours", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let reader = reader(&principal)?;
    let id = id.into_inner();
    let dto: WebhookSubscriptionDto = db
        .run(move |conn| store::get(conn, reader, id))
        .await?
        .into();
    crate::http::preconditions::respond_with_etag(&req, dto.version, &dto, HttpResponse::Ok())
}

/// Change the URL or the change types, or (de)activate the subscription.
#[utoipa::path(
    operation_id = "update_webhook",
    tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "The subscription's id"),
        ("If-Match" = String, Header, description = "ETag of the subscription you read")
    ),
    request_body = UpdateWebhookSubscription,
    responses(
        (status = 200, description = "The changed subscription", body = WebhookSubscriptionDto, headers(("ETag" = String, description = "New version"))),
        (status = 404, description = "No such subscription of yours", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The subscription changed since you read it", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[patch("/webhooks/{id}")]
pub async fn update_webhook(
    req: HttpRequest,
    db: web::Data<Db>,
    settings: web::Data<Settings>,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<UpdateWebhookSubscription>,
) -> Result<HttpResponse, ApiError> {
    let owner = authorize(&principal)?;
    let body = body.into_inner();
    let url = match &body.url {
        Some(u) => Some(vet_url(&settings, u).await?),
        None => None,
    };
    let changes = SubscriptionChanges {
        url,
        event_types: body.event_types,
        active: body.active,
    };
    let cond = IfMatchCondition::from_request(&req, IfMatch::Required)?;
    let now = crate::http::now(&req);
    let id = id.into_inner();
    let dto: WebhookSubscriptionDto = db
        .run(move |conn| store::update(conn, owner, id, &changes, &cond, now))
        .await?
        .into();
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(dto.version)))
        .json(dto))
}

/// Delete a subscription with its delivery log; deliveries not yet made are dropped.
#[utoipa::path(
    operation_id = "delete_webhook",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such subscription of yours", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let owner = authorize(&principal)?;
    let id = id.into_inner();
    db.run(move |conn| store::delete(conn, owner, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Issue a new signing secret; deliveries sent from now on (retries included) are signed
/// with it. The answer carries it, once.
#[utoipa::path(
    operation_id = "rotate_webhook_secret",
    tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "The subscription's id"),
        ("If-Match" = String, Header, description = "ETag of the subscription you read")
    ),
    responses(
        (status = 200, description = "The new secret", body = IssuedWebhookSecret, headers(("ETag" = String, description = "New version"))),
        (status = 404, description = "No such subscription of yours", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The subscription changed since you read it", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/webhooks/{id}/secret")]
pub async fn rotate_webhook_secret(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let owner = authorize(&principal)?;
    let cond = IfMatchCondition::from_request(&req, IfMatch::Required)?;
    let now = crate::http::now(&req);
    let id = id.into_inner();
    let sub = db
        .run(move |conn| store::rotate_secret(conn, owner, id, &cond, now))
        .await?;
    let secret = sub.secret.clone();
    let dto = WebhookSubscriptionDto::from(sub);
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(dto.version)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(IssuedWebhookSecret {
            subscription: dto,
            secret,
        }))
}

/// The subscription's delivery log, newest first.
#[utoipa::path(
    operation_id = "list_webhook_deliveries",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id"), ListWebhookDeliveriesQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = WebhookDeliveryPage),
        (status = 404, description = "No such subscription of yours", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_webhook_deliveries(
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<Uuid>,
    query: ApiQuery<ListWebhookDeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let reader = reader(&principal)?;
    let page = PageRequest::new(query.limit, query.cursor.as_deref())?;
    let limit = page.limit;
    let status = query.status;
    let id = id.into_inner();
    let rows = db
        .run(move |conn| store::list_deliveries(conn, reader, id, status, &page))
        .await?;
    let (rows, next_cursor) = finish_page(rows, limit, |d| (d.created_at, d.id.clone()));
    Ok(HttpResponse::Ok().json(WebhookDeliveryPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// One delivery: the body sent and every attempt.
#[utoipa::path(
    operation_id = "get_webhook_delivery",
    tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "The subscription's id"),
        ("delivery_id" = String, Path, min_length = 1, max_length = 64, description = "The delivery's id (`webhook-id`)")
    ),
    responses(
        (status = 200, description = "The delivery", body = WebhookDeliveryDetail),
        (status = 404, description = "No such subscription of yours, or no such delivery of it", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/webhooks/{id}/deliveries/{delivery_id}")]
pub async fn get_webhook_delivery(
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(Uuid, String)>,
) -> Result<HttpResponse, ApiError> {
    let reader = reader(&principal)?;
    let (id, delivery_id) = path.into_inner();
    let (d, attempts) = db
        .run(move |conn| store::get_delivery(conn, reader, id, &delivery_id))
        .await?;
    let payload = d.payload.clone();
    Ok(HttpResponse::Ok().json(WebhookDeliveryDetail {
        delivery: d.into(),
        payload,
        attempts: attempts.into_iter().map(Into::into).collect(),
    }))
}

/// Send a delivery again, now (delivered or failed ones too), with the same `webhook-id` and
/// body, and a fresh retry schedule.
#[utoipa::path(
    operation_id = "redeliver_webhook_delivery",
    tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "The subscription's id"),
        ("delivery_id" = String, Path, min_length = 1, max_length = 64, description = "The delivery's id (`webhook-id`)")
    ),
    responses(
        (status = 202, description = "Queued; the dispatcher sends it shortly", body = WebhookDeliveryDto),
        (status = 404, description = "No such subscription of yours, or no such delivery of it", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The delivery is being sent right now", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/webhooks/{id}/deliveries/{delivery_id}/redeliver")]
pub async fn redeliver_webhook_delivery(
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(Uuid, String)>,
) -> Result<HttpResponse, ApiError> {
    let owner = authorize(&principal)?;
    let (id, delivery_id) = path.into_inner();
    let d = db
        .run(move |conn| store::redeliver(conn, owner, id, &delivery_id))
        .await?;
    Ok(HttpResponse::Accepted().json(WebhookDeliveryDto::from(d)))
}
