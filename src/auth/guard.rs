//! The operation policy, enforced once: before a request reaches its handler (and so before its
//! body is read or validated), the caller's role is checked against the rule of the operation it
//! addresses — the same [`OPERATION_RULES`](super::policy::OPERATION_RULES) the spec's
//! `x-allowed-roles` come from. A role that may not call an operation gets 403 whatever it sends;
//! no token gets 401. Object-level checks (which rows, which fields) stay with the access model.

use std::collections::HashMap;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};

use super::policy::{Rule, rule_for};
use super::principal::{Identity, identify};
use crate::error::ApiError;

/// The rule of every operation, by route pattern and method.
pub struct OperationRules {
    by_route: HashMap<String, Vec<(actix_web::http::Method, Rule)>>,
}

impl OperationRules {
    /// From the spec: every path item's operations, with the rule their operation id has.
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> Self {
        let mut by_route: HashMap<String, Vec<(actix_web::http::Method, Rule)>> = HashMap::new();
        for (path, item) in &doc.paths.paths {
            let ops = [
                (actix_web::http::Method::GET, &item.get),
                (actix_web::http::Method::PUT, &item.put),
                (actix_web::http::Method::POST, &item.post),
                (actix_web::http::Method::DELETE, &item.delete),
                (actix_web::http::Method::PATCH, &item.patch),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                let rule = op
                    .operation_id
                    .as_deref()
                    .and_then(rule_for)
                    // An operation without a rule is refused to everyone (a test checks none is).
                    .unwrap_or(Rule::Requires(
                        super::policy::Permission::ManageReferenceData,
                    ));
                by_route
                    .entry(path.clone())
                    .or_default()
                    .push((method, rule));
            }
        }
        Self { by_route }
    }

    fn rule(&self, pattern: &str, method: &actix_web::http::Method) -> Option<Rule> {
        let method = if method == actix_web::http::Method::HEAD {
            &actix_web::http::Method::GET
        } else {
            method
        };
        self.by_route
            .get(pattern)?
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, r)| *r)
    }
}

/// Refuse the request before its handler when the caller's role may not call the operation.
pub async fn enforce(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if let Some(refusal) = refusal(&req) {
        return Ok(req.into_response(refusal.error_response()));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn refusal(req: &ServiceRequest) -> Option<ApiError> {
    let rules = req.app_data::<web::Data<OperationRules>>()?;
    let pattern = req.match_pattern()?;
    let Rule::Requires(permission) = rules.rule(&pattern, req.method())? else {
        return None;
    };
    match identify(req.request()) {
        Identity::Anonymous => Some(ApiError::unauthorized(
            "this operation needs a bearer access token",
        )),
        Identity::Rejected(why) => Some(ApiError::unauthorized(why)),
        Identity::Authenticated(p) => p.require(permission).err(),
    }
}
