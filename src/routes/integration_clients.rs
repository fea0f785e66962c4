//! Integration clients (administrators): service accounts for machine clients such as the
//! provincial liaison platform. They get tokens with `grant_type=client_credentials` at
//! `POST /api/v1/auth/token`, limited to their scopes.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::Principal;
use crate::db::Db;
use crate::domain::client_scope::ClientScope;
use crate::domain::ids::UserId;
use crate::domain::text::{check_len, clean_line};
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag};
use crate::http::validate::validate_region_code;
use crate::store::integration_clients::{self as store, ClientChanges, IntegrationClient};

/// An integration client (never its secret).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936f00-0000-7000-8000-000000000c01", "client_id": "lyc_4f1c2e0b9a8d4c7e8f6a5b4c3d2e1f00",
    "name": "甘肃省网上群众工作联络平台", "scopes": ["sync:read", "sync:write", "sync:personal"], "region_code": null, "active": true,
    "version": 1, "created_by": "01930000-0000-7000-8000-0000000000a1",
    "created_at": "2026-11-26T08:00:00Z", "updated_at": "2026-11-26T08:00:00Z",
    "secret_rotated_at": "2026-11-26T08:00:00Z", "last_used_at": null
}))]
pub struct IntegrationClientDto {
    /// Also the id of the client's account: its actions carry it as actor.
    pub id: Uuid,
    /// Send with the secret to get a token.
    #[schema(min_length = 36, max_length = 36, pattern = "^lyc_[0-9a-f]{32}$")]
    pub client_id: String,
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// What it may do (`sync:read`, `sync:write`, `webhooks:manage`) and which data classes
    /// it reads in the change feed and webhooks: `sync:personal` (the author's personal data,
    /// texts as written, private messages), `sync:internal` (internal working content). Without
    /// them it reads the public class of public messages only.
    pub scopes: Vec<ClientScope>,
    /// The region subtree whose messages it reads in the change feed and webhooks; null: the
    /// whole province.
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub region_code: Option<String>,
    /// Inactive clients get no tokens (tokens already issued stop working within seconds of the
    /// deactivation), and their webhook deliveries, queued ones included, are held until the
    /// client is active again.
    pub active: bool,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub secret_rotated_at: DateTime<Utc>,
    /// Last token issued.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<IntegrationClient> for IntegrationClientDto {
    fn from(c: IntegrationClient) -> Self {
        IntegrationClientDto {
            scopes: c.scopes(),
            region_code: c.region_code.clone(),
            id: c.id,
            client_id: c.client_id,
            name: c.name,
            active: c.active,
            version: c.version,
            created_by: c.created_by,
            created_at: c.created_at,
            updated_at: c.updated_at,
            secret_rotated_at: c.secret_rotated_at,
            last_used_at: c.last_used_at,
        }
    }
}

/// A client with its secret: answered once, when the client is created or its secret rotated.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "client": {
        "id": "01936f00-0000-7000-8000-000000000c01", "client_id": "lyc_4f1c2e0b9a8d4c7e8f6a5b4c3d2e1f00",
        "name": "甘肃省网上群众工作联络平台", "scopes": ["sync:read", "sync:write", "sync:personal"], "region_code": null, "active": true,
        "version": 1, "created_by": "01930000-0000-7000-8000-0000000000a1",
        "created_at": "2026-11-26T08:00:00Z", "updated_at": "2026-11-26T08:00:00Z",
        "secret_rotated_at": "2026-11-26T08:00:00Z", "last_used_at": null
    },
    "client_secret": "lys_Xq3Z0m9V7n2Lk4Jh6Gf8Ds1Aa5Ss3Dd7Ff9Gg2Hh4Jk"
}))]
pub struct IssuedClientSecret {
    pub client: IntegrationClientDto,
    /// Shown this once; only its SHA-256 is stored. Keep it in the client's secret store.
    #[schema(min_length = 47, max_length = 47)]
    pub client_secret: String,
}

/// A new integration client.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "兰州市12345热线平台", "scopes": ["sync:read"], "region_code": "620100"}))]
pub struct NewIntegrationClient {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 100),
        custom(function = "crate::domain::validate_line")
    )]
    pub name: String,
    /// Minimal by default: grant `sync:personal` and `sync:internal` only to clients that need
    /// those classes.
    #[schema(max_items = 5)]
    #[validate(length(max = 5))]
    pub scopes: Vec<ClientScope>,
    /// Limit the client to this region's subtree (an active region); omitted: the whole
    /// province.
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "crate::http::validate::validate_region_code"))]
    pub region_code: Option<String>,
}

/// Changes to a client (`If-Match` required); omitted fields stay.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"scopes": ["sync:read"], "region_code": "620100", "active": false}))]
pub struct UpdateIntegrationClient {
    #[schema(
        min_length = 1,
        max_length = 100,
        nullable = false,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 100),
        custom(function = "crate::domain::validate_line")
    )]
    pub name: Option<String>,
    #[schema(max_items = 5, nullable = false)]
    #[validate(length(max = 5))]
    pub scopes: Option<Vec<ClientScope>>,
    /// A region (its subtree), or null for the whole province.
    #[serde(default, deserialize_with = "crate::routes::double_option")]
    #[schema(value_type = Option<String>, min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub region_code: Option<Option<String>>,
    /// `false` switches the client off at once: no new tokens, no webhook deliveries.
    #[schema(nullable = false)]
    pub active: Option<bool>,
}

/// A page of integration clients, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"items": [], "next_cursor": null}))]
pub struct IntegrationClientPage {
    pub items: Vec<IntegrationClientDto>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(max_length = 512)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListIntegrationClientsQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

fn clean_name(name: &str) -> Result<String, ApiError> {
    let name = clean_line(name).map_err(|why| ApiError::field("name", "format", why))?;
    check_len(&name, 1, 100).map_err(|why| ApiError::field("name", "length", why))?;
    Ok(name)
}

/// Create an integration client; the answer carries its secret, once.
#[utoipa::path(
    operation_id = "create_integration_client",
    tag = "integration-clients",
    request_body = NewIntegrationClient,
    responses(
        (status = 201, description = "Created; the secret is in this answer only", body = IssuedClientSecret,
            headers(("Location" = String, description = "URL of the client"), ("ETag" = String, description = "Its version")))
    )
)]
#[post("/integration-clients")]
pub async fn create_integration_client(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    body: ApiJson<NewIntegrationClient>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = clean_name(&body.name)?;
    let now = crate::http::now(&req);
    let by = principal.user_id;
    let region = body.region_code;
    let (client, secret) = db
        .run(move |conn| store::create(conn, &name, &body.scopes, region.as_deref(), by, now))
        .await?;
    let dto = IntegrationClientDto::from(client);
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/integration-clients/{}", dto.id),
        ))
        .insert_header((header::ETAG, etag(dto.version)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(IssuedClientSecret {
            client: dto,
            client_secret: secret,
        }))
}

/// List integration clients, newest first.
#[utoipa::path(
    operation_id = "list_integration_clients",
    tag = "integration-clients",
    params(ListIntegrationClientsQuery),
    responses((status = 200, description = "A page of clients", body = IntegrationClientPage))
)]
#[get("/integration-clients")]
pub async fn list_integration_clients(
    db: web::Data<Db>,
    _principal: Principal,
    query: ApiQuery<ListIntegrationClientsQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageRequest::new(query.limit, query.cursor.as_deref())?;
    let limit = page.limit;
    let rows = db.run(move |conn| store::list(conn, &page)).await?;
    let (rows, next_cursor) = finish_page(rows, limit, |c| (c.created_at, c.id));
    Ok(HttpResponse::Ok().json(IntegrationClientPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// One integration client.
#[utoipa::path(
    operation_id = "get_integration_client",
    tag = "integration-clients",
    params(("id" = Uuid, Path, description = "The client's id")),
    responses(
        (status = 200, description = "The client", body = IntegrationClientDto, headers(("ETag" = String, description = "Its version"))),
        (status = 404, description = "No such client", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/integration-clients/{id}")]
pub async fn get_integration_client(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let dto: IntegrationClientDto = db.run(move |conn| store::get(conn, id)).await?.into();
    crate::http::preconditions::respond_with_etag(&req, dto.version, &dto, HttpResponse::Ok())
}

/// Rename a client, change its scopes or region, or (de)activate it. Deactivating voids the client's
/// access tokens within seconds (on every replica).
#[utoipa::path(
    operation_id = "update_integration_client",
    tag = "integration-clients",
    params(
        ("id" = Uuid, Path, description = "The client's id"),
        ("If-Match" = String, Header, description = "ETag of the client you read")
    ),
    request_body = UpdateIntegrationClient,
    responses(
        (status = 200, description = "The changed client", body = IntegrationClientDto, headers(("ETag" = String, description = "New version"))),
        (status = 404, description = "No such client", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The client changed since you read it", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[patch("/integration-clients/{id}")]
pub async fn update_integration_client(
    req: HttpRequest,
    db: web::Data<Db>,
    revocations: web::Data<crate::auth::revocation::Revocations>,
    _principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<UpdateIntegrationClient>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if let Some(Some(code)) = &body.region_code {
        validate_region_code(code).map_err(|_| {
            ApiError::field(
                "region_code",
                "format",
                "must be a six-digit GB/T 2260 region code",
            )
        })?;
    }
    let changes = ClientChanges {
        name: body.name.as_deref().map(clean_name).transpose()?,
        scopes: body.scopes,
        region_code: body.region_code,
        active: body.active,
    };
    let cond = IfMatchCondition::from_request(&req, IfMatch::Required)?;
    let now = crate::http::now(&req);
    let id = id.into_inner();
    let keep_for = revocations.keep_for();
    let (client, revoked) = db
        .run(move |conn| store::update(conn, id, &changes, &cond, now, keep_for))
        .await?;
    if let Some(revoked) = revoked {
        // Committed: this process enforces it at once, the others when notified.
        revocations.note(revoked);
    }
    let dto = IntegrationClientDto::from(client);
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(dto.version)))
        .json(dto))
}

/// Issue a new secret; the old one stops working at once. The answer carries the new secret,
/// once.
#[utoipa::path(
    operation_id = "rotate_integration_client_secret",
    tag = "integration-clients",
    params(
        ("id" = Uuid, Path, description = "The client's id"),
        ("If-Match" = String, Header, description = "ETag of the client you read")
    ),
    responses(
        (status = 200, description = "The new secret", body = IssuedClientSecret, headers(("ETag" = String, description = "New version"))),
        (status = 404, description = "No such client", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The client changed since you read it", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/integration-clients/{id}/secret")]
pub async fn rotate_integration_client_secret(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let cond = IfMatchCondition::from_request(&req, IfMatch::Required)?;
    let now = crate::http::now(&req);
    let id = id.into_inner();
    let (client, secret) = db
        .run(move |conn| store::rotate_secret(conn, id, &cond, now))
        .await?;
    let dto = IntegrationClientDto::from(client);
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(dto.version)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(IssuedClientSecret {
            client: dto,
            client_secret: secret,
        }))
}
