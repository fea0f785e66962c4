//! Staff and citizen accounts, managed by administrators (all) and unit administrators (the
//! staff of their own unit).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use diesel::Connection;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::auth::policy::{may_grant, may_place_in_region, may_see_user};
use crate::auth::revocation::Revocations;
use crate::auth::{Principal, password};
use crate::db::Db;
use crate::domain::ids::{LeaderId, UnitId, UserId};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag, respond_with_etag};
use crate::http::validate::validate_region_code;
use crate::routes::auth::{Account, check_new_account};
use crate::routes::double_option;
use crate::store::refresh_tokens;
use crate::store::token_revocations::{self, Reason};
use crate::store::users::{self, NewUser, UserChanges, UserFilter};

crate::page_type!(AccountPage, Account, "A page of accounts.");

/// A new account.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "email": "zhang.wei@example.cn", "password": "交通局办理员-2026", "display_name": "张伟",
    "role": "handler", "unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c"
}))]
pub struct CreateUser {
    #[schema(max_length = 254, format = Email)]
    pub email: String,
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub display_name: String,
    pub role: Role,
    /// Required for handler, unit_admin and reviewer.
    pub unit_id: Option<UnitId>,
    /// Required for supervisor: the region subtree they supervise.
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "validate_region_code"))]
    pub scope_region_code: Option<String>,
    /// For role leader: the leader this account belongs to.
    pub leader_id: Option<LeaderId>,
}

/// Changes to an account: only the fields sent change; `null` clears a placement.
/// Deactivating an account (`active: false`) or setting a password ends its sessions: its
/// refresh tokens at once, its access tokens within seconds (on every replica).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "reviewer", "active": true}))]
#[schema(min_properties = 1)]
pub struct UpdateUser {
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 100))]
    pub display_name: Option<String>,
    #[schema(nullable = false)]
    pub role: Option<Role>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<UnitId>)]
    pub unit_id: Option<Option<UnitId>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub scope_region_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<LeaderId>)]
    pub leader_id: Option<Option<LeaderId>>,
    #[schema(nullable = false)]
    pub active: Option<bool>,
    /// A new password (10 to 128 characters).
    #[schema(nullable = false, min_length = 10, max_length = 128)]
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Accounts of this unit (a unit admin may only name their own).
    pub unit_id: Option<UnitId>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// List accounts, oldest first. A unit admin sees the accounts of their own unit only.
#[utoipa::path(
    operation_id = "list_users",
    tag = "users",
    params(ListUsersQuery),
    responses((status = 200, description = "A page of accounts", body = AccountPage))
)]
#[get("/users")]
pub async fn list_users(
    db: web::Data<Db>,
    principal: Principal,
    query: ApiQuery<ListUsersQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let limit = page.limit;
    let unit_id = match principal.role {
        Role::Admin => q.unit_id,
        _ => {
            if q.unit_id.is_some() && q.unit_id != principal.unit_id {
                return Err(ApiError::Forbidden(
                    "you may list the accounts of your own unit only".into(),
                ));
            }
            Some(
                principal
                    .unit_id
                    .ok_or_else(|| ApiError::Forbidden("your account has no unit".into()))?,
            )
        }
    };
    let filter = UserFilter {
        unit_id,
        role: q.role,
        active: q.active,
    };
    let rows = db
        .run(move |conn| users::list(conn, &filter, &page))
        .await?;
    let (rows, next_cursor) = finish_page(rows, limit, |u| u.id);
    Ok(HttpResponse::Ok().json(AccountPage {
        items: rows.into_iter().map(Account::from).collect(),
        next_cursor,
    }))
}

/// Create an account. A unit admin creates handlers, reviewers and unit admins of their own unit.
#[utoipa::path(
    operation_id = "create_user",
    tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "The account was created", body = Account,
            headers(("Location" = String, description = "URL of the new account"),
                    ("ETag" = String, description = "Version of the account"))),
        (status = 409, description = "An account with this e-mail address exists",
            body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/users")]
pub async fn create_user(
    db: web::Data<Db>,
    principal: Principal,
    body: ApiJson<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if (body.scope_region_code.is_some() || body.leader_id.is_some())
        && !may_place_in_region(principal.role)
    {
        return Err(ApiError::Forbidden(
            "only administrators set region scopes and leader links".into(),
        ));
    }
    if !may_grant(principal.role, principal.unit_id, body.role, body.unit_id) {
        return Err(ApiError::Forbidden(format!(
            "you may not create an account with role `{}` in that unit",
            body.role
        )));
    }
    let (email, display_name) = check_new_account(&body.email, &body.password, &body.display_name)?;
    let password = body.password;
    let password_hash = web::block(move || password::hash_password(&password))
        .await?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let new = NewUser {
        id: UserId::new(),
        email,
        password_hash,
        display_name,
        role: body.role,
        unit_id: body.unit_id,
        scope_region_code: body.scope_region_code,
        leader_id: body.leader_id,
    };
    let user = db.run(move |conn| users::insert(conn, &new)).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/users/{}", user.id)))
        .insert_header((header::ETAG, etag(user.version)))
        .json(Account::from(user)))
}

/// Read an account. Accounts outside the caller's reach answer 404, as if they did not exist.
#[utoipa::path(
    operation_id = "get_user",
    tag = "users",
    params(("id" = UserId, Path, description = "Account id")),
    responses(
        (status = 200, description = "The account", body = Account,
            headers(("ETag" = String, description = "Version of the account"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such account (or not yours to see)",
            body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/users/{id}")]
pub async fn get_user(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let user = db.run(move |conn| users::get(conn, id)).await?;
    if !may_see_user(principal.role, principal.unit_id, user.unit_id) {
        return Err(ApiError::not_found("user"));
    }
    respond_with_etag(&req, user.version, &Account::from(user), HttpResponse::Ok())
}

/// Change an account: role, placement, activity, password. Honours `If-Match`.
#[utoipa::path(
    operation_id = "update_user",
    tag = "users",
    params(
        ("id" = UserId, Path, description = "Account id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version you read")
    ),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The changed account", body = Account,
            headers(("ETag" = String, description = "New version of the account"))),
        (status = 404, description = "No such account (or not yours to see)",
            body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The account is an integration client's: change it at /api/v1/integration-clients",
            body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[patch("/users/{id}")]
pub async fn update_user(
    req: HttpRequest,
    db: web::Data<Db>,
    revocations: web::Data<Revocations>,
    principal: Principal,
    id: web::Path<UserId>,
    body: ApiJson<UpdateUser>,
) -> Result<HttpResponse, ApiError> {
    let cond = IfMatchCondition::from_request(&req, IfMatch::Optional)?;
    let body = body.into_inner();
    if (body.scope_region_code.is_some() || body.leader_id.is_some())
        && !may_place_in_region(principal.role)
    {
        return Err(ApiError::Forbidden(
            "only administrators set region scopes and leader links".into(),
        ));
    }
    if let Some(Some(code)) = &body.scope_region_code {
        validate_region_code(code).map_err(|_| {
            ApiError::field(
                "scope_region_code",
                "format",
                "must be a six-digit GB/T 2260 region code",
            )
        })?;
    }
    let password_hash = match body.password {
        Some(p) => {
            password::check_password_strength(&p)
                .map_err(|m| ApiError::field("password", "length", m))?;
            Some(
                web::block(move || password::hash_password(&p))
                    .await?
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
            )
        }
        None => None,
    };
    let changes = UserChanges {
        display_name: body
            .display_name
            .as_deref()
            .map(|n| super::clean_name(n, "display_name", 100))
            .transpose()?,
        role: body.role,
        unit_id: body.unit_id,
        scope_region_code: body.scope_region_code,
        leader_id: body.leader_id,
        active: body.active,
        password_hash,
    };
    super::require_some_change(
        changes.display_name.is_some()
            || changes.role.is_some()
            || changes.unit_id.is_some()
            || changes.scope_region_code.is_some()
            || changes.leader_id.is_some()
            || changes.active.is_some()
            || changes.password_hash.is_some(),
    )?;
    let id = id.into_inner();
    let actor = principal.clone();
    // Deactivation and a new password end the account's logins and void its access tokens.
    let ends_sessions = match (changes.active, &changes.password_hash) {
        (Some(false), _) => Some(Reason::Deactivated),
        (_, Some(_)) => Some(Reason::Password),
        _ => None,
    };
    let keep_for = revocations.keep_for();
    let (user, revoked) = db
        .run(move |conn| {
            conn.transaction(|conn| {
                let user = users::update(conn, id, &cond, &changes, |current, role, after| {
                    if !may_see_user(actor.role, actor.unit_id, current.unit_id) {
                        return Err(ApiError::not_found("user"));
                    }
                    if current.id == actor.user_id
                        && (role != current.role || changes.active == Some(false))
                    {
                        return Err(ApiError::Forbidden(
                            "you may not change your own role or deactivate yourself".into(),
                        ));
                    }
                    let role_changes = role != current.role || after.unit != current.unit_id;
                    if role_changes && !may_grant(actor.role, actor.unit_id, role, after.unit) {
                        return Err(ApiError::Forbidden(format!(
                            "you may not give role `{role}` in that unit"
                        )));
                    }
                    if !may_grant(actor.role, actor.unit_id, current.role, current.unit_id) {
                        return Err(ApiError::Forbidden(
                            "you may not change this account".into(),
                        ));
                    }
                    Ok(())
                })?;
                let revoked = match ends_sessions {
                    Some(reason) => {
                        refresh_tokens::revoke_all_for_user(conn, user.id)?;
                        Some(token_revocations::revoke_subject(
                            conn, user.id.0, reason, keep_for,
                        )?)
                    }
                    None => None,
                };
                Ok::<_, ApiError>((user, revoked))
            })
        })
        .await?;
    if let Some(revoked) = revoked {
        // Committed: this process enforces it at once, the others when notified.
        revocations.note(revoked);
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(user.version)))
        .json(Account::from(user)))
}
