//! Registration, tokens and the caller's own account.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Principal;
use crate::auth::jwt::{JwtKeys, Subject};
use crate::auth::password;
use crate::auth::revocation::Revocations;
use crate::configuration::Settings;
use crate::db::Db;
use crate::domain::ids::{LeaderId, UnitId, UserId};
use crate::domain::role::Role;
use crate::domain::text::{check_len, clean_line, normalize_email};
use crate::error::ApiError;
use crate::http::extract::ApiJson;
use crate::store::refresh_tokens::{self, Rotation};
use crate::store::users::{self, NewUser, User};

/// An account as its owner and administrators see it (never the password hash).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b", "email": "zhang.wei@example.cn",
    "display_name": "张伟", "role": "handler", "unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c",
    "scope_region_code": null, "leader_id": null, "active": true, "version": 1,
    "created_at": "2026-11-26T08:00:00Z", "updated_at": "2026-11-26T08:00:00Z",
    "last_login_at": null
}))]
pub struct Account {
    pub id: UserId,
    #[schema(max_length = 254)]
    pub email: String,
    #[schema(max_length = 100)]
    pub display_name: String,
    pub role: Role,
    pub unit_id: Option<UnitId>,
    #[schema(max_length = 6)]
    pub scope_region_code: Option<String>,
    pub leader_id: Option<LeaderId>,
    pub active: bool,
    /// Increases with every change; also the `ETag`.
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<User> for Account {
    fn from(u: User) -> Self {
        Account {
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            role: u.role,
            unit_id: u.unit_id,
            scope_region_code: u.scope_region_code,
            leader_id: u.leader_id,
            active: u.active,
            version: u.version,
            created_at: u.created_at,
            updated_at: u.updated_at,
            last_login_at: u.last_login_at,
        }
    }
}

/// A citizen's self-registration.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "li.na@example.cn", "password": "长城脚下的留言板2026", "display_name": "李娜"}))]
pub struct RegisterRequest {
    #[schema(max_length = 254, format = Email)]
    pub email: String,
    /// 10 to 128 characters.
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub display_name: String,
}

/// Check the three fields every new account has; returns the normalised e-mail and name.
pub fn check_new_account(
    email: &str,
    password: &str,
    display_name: &str,
) -> Result<(String, String), ApiError> {
    let mut errors = Vec::new();
    let email = normalize_email(email)
        .map_err(|m| errors.push(crate::error::FieldError::new("email", "format", m)))
        .ok();
    if let Err(m) = password::check_password_strength(password) {
        errors.push(crate::error::FieldError::new("password", "length", m));
    }
    let name = match clean_line(display_name) {
        Ok(n) => match check_len(&n, 1, 100) {
            Ok(()) => Some(n),
            Err(m) => {
                errors.push(crate::error::FieldError::new("display_name", "length", m));
                None
            }
        },
        Err(m) => {
            errors.push(crate::error::FieldError::new("display_name", "format", m));
            None
        }
    };
    match (email, name) {
        (Some(e), Some(n)) if errors.is_empty() => Ok((e, n)),
        _ => Err(ApiError::validation(errors)),
    }
}

/// Register a citizen account. Staff accounts are created by administrators (`POST /users`).
#[utoipa::path(
    operation_id = "register",
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The account was created; log in with `POST /auth/token`",
            body = Account, headers(("Location" = String, description = "URL of the account"))),
        (status = 409, description = "An account with this e-mail address exists",
            body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/auth/register")]
pub async fn register(
    db: web::Data<Db>,
    body: ApiJson<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (email, display_name) = check_new_account(&body.email, &body.password, &body.display_name)?;
    let password_hash = web::block(move || password::hash_password(&body.password))
        .await?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let new = NewUser {
        id: UserId::new(),
        email,
        password_hash,
        display_name,
        role: Role::Citizen,
        unit_id: None,
        scope_region_code: None,
        leader_id: None,
    };
    let user = db.run(move |conn| users::insert(conn, &new)).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, "/api/v1/me"))
        .insert_header((header::ETAG, crate::http::preconditions::etag(user.version)))
        .json(Account::from(user)))
}

/// Get an access token: people log in with e-mail and password (`grant_type=password`);
/// integration clients with their client id and secret (`grant_type=client_credentials`,
/// RFC 6749 §4.4), optionally asking for fewer scopes than they hold.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"grant_type": "password", "email": "admin@liuyan.example", "password": "Demo-Admin-2026"}))]
pub struct TokenRequest {
    pub grant_type: GrantType,
    /// `password` grant: the account's e-mail address.
    #[schema(min_length = 1, max_length = 254, nullable = false)]
    #[validate(length(min = 1, max = 254))]
    pub email: Option<String>,
    /// `password` grant.
    #[schema(min_length = 1, max_length = 128, nullable = false)]
    #[validate(length(min = 1, max = 128))]
    pub password: Option<String>,
    /// `client_credentials` grant.
    #[schema(min_length = 1, max_length = 64, nullable = false)]
    #[validate(length(min = 1, max = 64))]
    pub client_id: Option<String>,
    /// `client_credentials` grant.
    #[schema(min_length = 1, max_length = 128, nullable = false)]
    #[validate(length(min = 1, max = 128))]
    pub client_secret: Option<String>,
    /// `client_credentials` grant: the scopes wanted, space-separated (default: all the
    /// client holds), e.g. `sync:read`: `sync:read`, `sync:write`, `webhooks:manage`, and the
    /// data classes `sync:personal` and `sync:internal` (what the change feed carries).
    #[schema(max_length = 200, nullable = false, example = "sync:read sync:write")]
    #[validate(length(max = 200))]
    pub scope: Option<String>,
}

crate::text_enum! {
    /// OAuth 2.0 grant types this token endpoint accepts.
    pub enum GrantType {
        Password => "password",
        ClientCredentials => "client_credentials",
    }
}

/// Exchange a refresh token for new tokens, or end a session.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "rt_3q2-7wEzT0mQ4rS1o8yH2vN6kLcA9pXbZ5dF0gJ1uIe"}))]
pub struct RefreshRequest {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200))]
    pub refresh_token: String,
}

/// Tokens for an authenticated session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJhbGciOiJIUzI1NiIsImtpZCI6ImRldiJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl",
    "token_type": "Bearer", "expires_in": 900,
    "refresh_token": "rt_3q2-7wEzT0mQ4rS1o8yH2vN6kLcA9pXbZ5dF0gJ1uIe",
    "refresh_expires_at": "2026-12-26T08:00:00Z"
}))]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <access_token>`.
    #[schema(max_length = 4000)]
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(max_length = 10)]
    pub token_type: String,
    /// Seconds until the access token expires.
    #[schema(format = Int64, minimum = 1)]
    pub expires_in: i64,
    /// Single use: exchange at `POST /auth/refresh` for the next pair. Absent for integration
    /// clients, which ask for a new token with their credentials (RFC 6749 §4.4.3).
    #[schema(max_length = 200)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// Integration clients: the scopes granted, space-separated.
    #[schema(max_length = 200)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

fn token_response(
    keys: &JwtKeys,
    user: &User,
    refresh: refresh_tokens::IssuedRefresh,
) -> Result<HttpResponse, ApiError> {
    let access = keys
        .issue(&Subject {
            user_id: user.id,
            role: user.role,
            unit_id: user.unit_id,
            scope_region: user.scope_region_code.clone(),
            scopes: Vec::new(),
            session_id: Some(refresh.family_id),
        })
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(TokenResponse {
            access_token: access,
            token_type: "Bearer".into(),
            expires_in: keys.access_ttl_secs,
            refresh_token: Some(refresh.token),
            refresh_expires_at: Some(refresh.expires_at),
            scope: None,
        }))
}

const BAD_CREDENTIALS: &str = "the e-mail address or the password is wrong";

/// Log in: e-mail and password for a short-lived access token and a refresh token. Unknown
/// e-mail, wrong password and a deactivated account (with the right password or not) get the
/// same answer in the same time. Integration clients use
/// `grant_type=client_credentials` with their client id and secret and get an access token
/// with their scopes (no refresh token). Rate limited per client address.
#[utoipa::path(
    operation_id = "issue_token",
    tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong e-mail address or password, or a deactivated account (the same answer for all), or wrong client id or secret",
            body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"liuyan\"`"))),
        (status = 403, description = "The integration client is deactivated (its id and secret are right)", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[post("/auth/token")]
pub async fn issue_token(
    req: HttpRequest,
    db: web::Data<Db>,
    keys: web::Data<JwtKeys>,
    settings: web::Data<Settings>,
    body: ApiJson<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.grant_type == GrantType::ClientCredentials {
        return client_credentials(&req, &db, &keys, body).await;
    }
    for (field, present) in [
        ("email", body.email.is_some()),
        ("password", body.password.is_some()),
    ] {
        if !present {
            return Err(ApiError::field(
                field,
                "required",
                "the password grant needs `email` and `password`",
            ));
        }
    }
    for (field, present) in [
        ("client_id", body.client_id.is_some()),
        ("client_secret", body.client_secret.is_some()),
        ("scope", body.scope.is_some()),
    ] {
        if present {
            return Err(ApiError::field(
                field,
                "unexpected",
                "belongs to the client_credentials grant",
            ));
        }
    }
    let email = body.email.unwrap_or_default().trim().to_lowercase();
    let user = db
        .run(move |conn| users::find_by_email(conn, &email))
        .await?;
    let password = body.password.unwrap_or_default();
    // A deactivated account is checked after the password, and answers as a wrong password
    // does: the answer must not tell whether a password is right for it.
    let user = web::block(move || match user {
        Some(u) if password::verify_password(&password, &u.password_hash) && u.active => Some(u),
        Some(_) => None,
        None => {
            password::burn_verification_time(&password);
            None
        }
    })
    .await?
    .ok_or_else(|| ApiError::unauthorized(BAD_CREDENTIALS))?;
    let ttl = settings.refresh_token_ttl_secs;
    let user_id = user.id;
    let refresh = db
        .run(move |conn| {
            users::record_login(conn, user_id)?;
            refresh_tokens::issue(conn, user_id, ttl)
        })
        .await?;
    token_response(&keys, &user, refresh)
}

const BAD_CLIENT: &str = "the client id or the client secret is wrong";

/// The client credentials grant: a token for an integration client, with the scopes asked for
/// (all it holds by default), and no refresh token.
async fn client_credentials(
    req: &HttpRequest,
    db: &Db,
    keys: &JwtKeys,
    body: TokenRequest,
) -> Result<HttpResponse, ApiError> {
    for (field, present) in [
        ("client_id", body.client_id.is_some()),
        ("client_secret", body.client_secret.is_some()),
    ] {
        if !present {
            return Err(ApiError::field(
                field,
                "required",
                "the client_credentials grant needs `client_id` and `client_secret`",
            ));
        }
    }
    for (field, present) in [
        ("email", body.email.is_some()),
        ("password", body.password.is_some()),
    ] {
        if present {
            return Err(ApiError::field(
                field,
                "unexpected",
                "belongs to the password grant",
            ));
        }
    }
    let (client_id, secret) = (
        body.client_id.unwrap_or_default(),
        body.client_secret.unwrap_or_default(),
    );
    let now = crate::http::now(req);
    let client = db
        .run(move |conn| {
            crate::store::integration_clients::authenticate(conn, &client_id, &secret, now)
        })
        .await?
        .ok_or_else(|| ApiError::unauthorized(BAD_CLIENT))?;
    if !client.active {
        return Err(ApiError::Forbidden(
            "this integration client is deactivated".into(),
        ));
    }
    let scopes = crate::domain::client_scope::grant(body.scope.as_deref(), &client.scopes())
        .map_err(|why| ApiError::field("scope", "invalid_scope", why))?;
    let access = keys
        .issue(&Subject {
            user_id: UserId(client.id),
            role: Role::Integration,
            unit_id: None,
            // For the record: the feed reads the client's region as it is at each request.
            scope_region: client.region_code.clone(),
            scopes: scopes.clone(),
            session_id: None,
        })
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(TokenResponse {
            access_token: access,
            token_type: "Bearer".into(),
            expires_in: keys.access_ttl_secs,
            refresh_token: None,
            refresh_expires_at: None,
            scope: Some(crate::domain::client_scope::format_list(&scopes)),
        }))
}

/// Exchange a refresh token for a new access token and a new refresh token. Each refresh token
/// works once: presenting a used one again revokes every token of that login (theft detection),
/// its access tokens included (within seconds, on every replica).
#[utoipa::path(
    operation_id = "refresh_token",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "The refresh token is unknown, expired, revoked or was already used",
            body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"liuyan\"`")))
    )
)]
#[post("/auth/refresh")]
pub async fn refresh_token(
    db: web::Data<Db>,
    keys: web::Data<JwtKeys>,
    settings: web::Data<Settings>,
    revocations: web::Data<Revocations>,
    body: ApiJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = body.into_inner().refresh_token;
    let ttl = settings.refresh_token_ttl_secs;
    let revocations = revocations.get_ref().clone();
    let keep_for = revocations.keep_for();
    let (user, next) = db
        .run(
            move |conn| match refresh_tokens::rotate(conn, &token, ttl, keep_for)? {
                Rotation::Rotated { user, next } => {
                    let user = users::get(conn, user)?;
                    if !user.active {
                        refresh_tokens::revoke_all_for_user(conn, user.id)?;
                        return Err(ApiError::unauthorized("this account is deactivated"));
                    }
                    Ok((user, next))
                }
                Rotation::Invalid => Err(ApiError::unauthorized(
                    "the refresh token is unknown, expired or revoked",
                )),
                Rotation::Reused(revoked) => {
                    // Committed: this process enforces it at once, the others when notified.
                    revocations.note(revoked);
                    Err(ApiError::unauthorized(
                        "the refresh token was already used; every session of this login is revoked",
                    ))
                }
            },
        )
        .await?;
    token_response(&keys, &user, next)
}

/// End a session: revokes the refresh token, every token rotated from it and the access tokens
/// of that login (within seconds, on every replica; the account's other logins go on). Unknown
/// tokens are accepted, so logging out twice is harmless.
#[utoipa::path(
    operation_id = "logout",
    tag = "auth",
    request_body = RefreshRequest,
    responses((status = 204, description = "Logged out"))
)]
#[post("/auth/logout")]
pub async fn logout(
    db: web::Data<Db>,
    revocations: web::Data<Revocations>,
    body: ApiJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = body.into_inner().refresh_token;
    let keep_for = revocations.keep_for();
    if let Some(revoked) = db
        .run(move |conn| refresh_tokens::revoke(conn, &token, keep_for))
        .await?
    {
        revocations.note(revoked);
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's own account.
#[utoipa::path(
    operation_id = "get_me",
    tag = "auth",
    responses(
        (status = 200, description = "The caller's account", body = Account,
            headers(("ETag" = String, description = "Version of the account"))),
        (status = 304, description = "Not modified (If-None-Match)")
    )
)]
#[get("/me")]
pub async fn get_me(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let user = db
        .run(move |conn| users::get(conn, principal.user_id))
        .await?;
    crate::http::preconditions::respond_with_etag(
        &req,
        user.version,
        &Account::from(user),
        HttpResponse::Ok(),
    )
}
