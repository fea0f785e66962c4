//! The authenticated caller, extracted from `Authorization: Bearer <access token>`.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};

use super::jwt::{Claims, JwtKeys};
use super::policy::Permission;
use super::revocation::Revocations;
use crate::domain::client_scope::ClientScope;
use crate::domain::ids::{UnitId, UserId};
use crate::domain::role::Role;
use crate::error::ApiError;

#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: UserId,
    pub role: Role,
    pub unit_id: Option<UnitId>,
    pub scope_region: Option<String>,
    /// Integration clients' scopes (empty for people).
    pub scopes: Vec<ClientScope>,
}

impl Principal {
    /// 403 unless the caller is an integration client granted `scope` (after the role check).
    pub fn require_scope(&self, scope: ClientScope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this operation needs the scope `{}`",
                scope.as_str()
            )))
        }
    }

    /// 403 unless the caller's role holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if permission.allows(self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "role `{}` may not {}",
                self.role,
                permission.describe()
            )))
        }
    }
}

impl From<Claims> for Principal {
    fn from(c: Claims) -> Self {
        Principal {
            user_id: c.sub,
            role: c.role,
            unit_id: c.unit,
            scope_region: c.region,
            // Unknown scopes in a token signed by us cannot happen; they would grant nothing.
            scopes: c
                .scope
                .as_deref()
                .map(|s| {
                    s.split(' ')
                        .filter_map(ClientScope::parse)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        }
    }
}

/// The outcome of looking at the Authorization header, cached in the request's extensions so
/// middleware (rate limits, idempotency scopes) and handlers decode the token once.
#[derive(Clone)]
pub enum Identity {
    Anonymous,
    Authenticated(Principal),
    Rejected(String),
}

pub fn identify(req: &HttpRequest) -> Identity {
    if let Some(found) = req.extensions().get::<Identity>() {
        return found.clone();
    }
    let identity = compute_identity(req);
    req.extensions_mut().insert(identity.clone());
    identity
}

fn compute_identity(req: &HttpRequest) -> Identity {
    let Some(value) = req.headers().get(actix_web::http::header::AUTHORIZATION) else {
        return Identity::Anonymous;
    };
    let Ok(value) = value.to_str() else {
        return Identity::Rejected("the Authorization header is not valid text".into());
    };
    let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
    else {
        return Identity::Rejected("use `Authorization: Bearer <access token>`".into());
    };
    match verify_token(req, token) {
        Ok(principal) => Identity::Authenticated(principal),
        Err(detail) => Identity::Rejected(detail.into()),
    }
}

/// Verify an access token (signature, claims, not revoked) with this application's keys and
/// revocation set. The error is the fixed sentence to tell the client.
pub fn verify_token(req: &HttpRequest, token: &str) -> Result<Principal, &'static str> {
    let (Some(keys), Some(revocations)) = (
        req.app_data::<web::Data<JwtKeys>>(),
        req.app_data::<web::Data<Revocations>>(),
    ) else {
        return Err("authentication is not configured");
    };
    match keys.verify(token) {
        // The in-memory set only: no database round trip per request.
        Ok(claims) if revocations.is_revoked(&claims) => Err(REVOKED),
        Ok(claims) => Ok(claims.into()),
        Err(e) => {
            // The reason (a parser's words, perhaps) is for the log; the client gets a fixed
            // sentence.
            tracing::debug!(reason = %e, "access token refused");
            Err(e.client_detail())
        }
    }
}

/// What a client is told about a revoked token (deactivation, logout, a replayed refresh token).
pub const REVOKED: &str = "the access token has been revoked";

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match identify(req) {
            Identity::Authenticated(p) => Ok(p),
            Identity::Anonymous => Err(ApiError::unauthorized(
                "this operation needs a bearer access token",
            )),
            Identity::Rejected(why) => Err(ApiError::unauthorized(why)),
        })
    }
}
