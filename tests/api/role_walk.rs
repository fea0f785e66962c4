//! Authorization over the whole table (issue 24): every operation of the spec, as every one of
//! the nine roles (an integration client included), with path parameters filled from real
//! rows. A role outside the operation's `x-allowed-roles` gets 403 whatever it sends; a role
//! inside it never gets 403 from the role check (object-level refusals answer 404, business
//! rules 4xx of their own), except where listed below with the rule that refuses.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Demo, TestApp};

/// Operations an allowed role may still get 403 from, and why (a rule beyond the role).
/// The demo handler, unit admin and reviewer work at a department (兰州市交通运输局), not at a
/// liaison office, and the walk's assignment is not theirs.
const FORBIDDEN_BY_RULE: &[(&str, &str, &str)] = &[
    (
        "sign_for_assignment",
        "handler",
        "only the assigned unit signs for an assignment",
    ),
    (
        "sign_for_assignment",
        "unit_admin",
        "only the assigned unit signs for an assignment",
    ),
    (
        "get_routing_suggestions",
        "handler",
        "only the intake unit routes a message",
    ),
    (
        "get_routing_suggestions",
        "unit_admin",
        "only the intake unit routes a message",
    ),
    (
        "list_briefings",
        "handler",
        "briefings are a liaison office's work",
    ),
    (
        "list_briefings",
        "unit_admin",
        "briefings are a liaison office's work",
    ),
    (
        "list_briefings",
        "reviewer",
        "briefings are a liaison office's work",
    ),
    (
        "create_briefing",
        "handler",
        "briefings are a liaison office's work",
    ),
    (
        "create_briefing",
        "unit_admin",
        "briefings are a liaison office's work",
    ),
    (
        "create_briefing",
        "reviewer",
        "briefings are a liaison office's work",
    ),
    (
        "get_briefing",
        "handler",
        "briefings are a liaison office's work",
    ),
    (
        "get_briefing",
        "unit_admin",
        "briefings are a liaison office's work",
    ),
    (
        "get_briefing",
        "reviewer",
        "briefings are a liaison office's work",
    ),
    (
        "get_briefing_document",
        "handler",
        "briefings are a liaison office's work",
    ),
    (
        "get_briefing_document",
        "unit_admin",
        "briefings are a liaison office's work",
    ),
    (
        "get_briefing_document",
        "reviewer",
        "briefings are a liaison office's work",
    ),
];

/// Values for path parameters: message ids for `/messages/{id}…`, else an id an administrator
/// lists at the collection, else the parameter's example, else a fresh id (a 404).
async fn fill(app: &TestApp, admin: &str, template: &str, op: &Value, message: &str) -> String {
    let mut path = template.to_owned();
    let names: Vec<String> = template
        .split('{')
        .skip(1)
        .filter_map(|s| s.split('}').next().map(str::to_owned))
        .collect();
    for name in names {
        let slot = format!("{{{name}}}");
        let before = &template[..template.find(&slot).unwrap()];
        let example = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == name.as_str() && p["in"] == "path")
            .and_then(|p| p["example"].as_str().map(str::to_owned));
        let value = if before == "/api/v1/messages/" && name == "id" {
            message.to_owned()
        } else if name == "code" {
            "620102".to_owned()
        } else if let Some(e) = example {
            e
        } else {
            let collection = before.trim_end_matches('/');
            let collection = if collection.ends_with("/messages/{id}") || name == "message_id" {
                String::new()
            } else {
                collection.to_owned()
            };
            let listed = if collection.is_empty() || collection.contains('{') {
                None
            } else {
                let r = app.get(&format!("{collection}?limit=5"), admin).await;
                r.body["items"]
                    .as_array()
                    .and_then(|a| a.first())
                    .and_then(|i| i["id"].as_str().map(str::to_owned))
            };
            match (listed, name.as_str()) {
                (Some(id), _) => id,
                (None, "message_id") => message.to_owned(),
                (None, _) => uuid::Uuid::now_v7().to_string(),
            }
        };
        path = path.replace(&slot, &value);
    }
    path
}

/// The nine roles: the demo accounts and an integration client holding every scope.
async fn identities(app: &TestApp) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for d in Demo::ALL {
        let role = match d {
            Demo::Liaison => continue, // a handler too
            Demo::Admin => "admin",
            Demo::Handler => "handler",
            Demo::UnitAdmin => "unit_admin",
            Demo::Reviewer => "reviewer",
            Demo::Supervisor => "supervisor",
            Demo::Leader => "leader",
            Demo::Analyst => "analyst",
            Demo::Citizen => "citizen",
        };
        out.push((role, app.token(d).await));
    }
    out.push(("integration", integration_token(app).await));
    out
}

const ALL_SCOPES: &[&str] = &[
    "sync:read",
    "sync:write",
    "webhooks:manage",
    "sync:personal",
    "sync:internal",
];

async fn integration_token(app: &TestApp) -> String {
    crate::sync::client_token(app, ALL_SCOPES).await
}

async fn call(app: &TestApp, method: &Method, path: &str, token: &str) -> crate::helpers::Resp {
    let body = (*method != Method::GET && *method != Method::DELETE).then(|| json!({}));
    app.send_with(method.clone(), path, Some(token), body, &[])
        .await
}

#[actix_web::test]
async fn every_operation_refuses_exactly_the_roles_its_rule_leaves_out() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let liaison = crate::messages::lanzhou_liaison(&app).await;
    let message = crate::replies::in_progress(&app, &liaison, "routine").await;
    let mut who = identities(&app).await;
    let spec: Value = serde_json::from_str(&liuyan::openapi::to_pretty_json(
        &liuyan::startup::openapi_spec(),
    ))
    .unwrap();

    let mut failures = Vec::new();
    let mut checked: BTreeMap<bool, usize> = BTreeMap::new();
    for (template, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(allowed) = op["x-allowed-roles"].as_array() else {
                continue; // public operations
            };
            let id = op["operationId"].as_str().unwrap_or_default();
            let method: Method = method.to_uppercase().parse().unwrap();
            let path = fill(&app, &admin, template, op, &message).await;
            for (role, token) in who.iter_mut() {
                let may = allowed.iter().any(|r| r == *role);
                let mut r = call(&app, &method, &path, token).await;
                if r.status == 401 {
                    // An earlier operation ended this session (logout, a secret rotated).
                    *token = if *role == "integration" {
                        integration_token(&app).await
                    } else {
                        let d = Demo::ALL
                            .into_iter()
                            .find(|d| d.email().starts_with(&role.replace('_', "")))
                            .unwrap_or(Demo::Admin);
                        app.token(d).await
                    };
                    r = call(&app, &method, &path, token).await;
                }
                *checked.entry(may).or_default() += 1;
                let excused = FORBIDDEN_BY_RULE
                    .iter()
                    .any(|(op, r, _)| *op == id && *r == *role);
                match (may, r.status.as_u16()) {
                    (false, 403) => {}
                    (false, s) => failures.push(format!(
                        "{method} {template} ({id}) as {role}: {s}, expected 403 (not in x-allowed-roles) — {}",
                        r.body
                    )),
                    (true, 403) if !excused => failures.push(format!(
                        "{method} {template} ({id}) as {role}: 403 although allowed — {}",
                        r.body
                    )),
                    (true, s) if s >= 500 => failures.push(format!(
                        "{method} {template} ({id}) as {role}: {s} — {}",
                        r.body
                    )),
                    _ => {}
                }
            }
        }
    }
    eprintln!("role walk: {checked:?} (false: refused roles, true: allowed roles)");
    assert!(
        failures.is_empty(),
        "{} role checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked.get(&false).is_some_and(|n| *n > 100));
    assert!(checked.get(&true).is_some_and(|n| *n > 100));
}
