//! The OpenAPI 3.1 document. Paths come from the handlers registered in `startup::routes` (the
//! same list the router is built from); this module adds what applies across operations, from
//! the single sources that implement it: the security rule of each operation
//! (`auth::policy::OPERATION_RULES`) and the error responses the shared middleware and
//! extractors can produce.

use serde_json::json;
use utoipa::OpenApi;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

use crate::auth::policy::{Rule, rule_for};
use crate::error::{PROBLEM_CONTENT_TYPE, problem_type};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "liuyan — leadership message board API",
        version = "1.0.0",
        description = include_str!("openapi_description.md"),
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
        contact(name = "liuyan maintainers", email = "liuyan@example.org")
    ),
    servers((url = "/", description = "This server: whichever deployment serves the document (local, staging or production)")),
    tags(
        (name = "auth", description = "Registration, log-in, tokens and the caller's own account"),
        (name = "reference data", description = "Regions, units, leaders and categories (admins write, staff read)"),
        (name = "users", description = "Accounts of citizens and staff"),
        (name = "messages", description = "Citizens' messages: intake, classification, acceptance and the ledger"),
        (name = "handling", description = "Assignment to units, claims, sign-for, returns, transfers, clarification, deadlines and extensions"),
        (name = "supervision", description = "Supervision cases (督办) and leaders' instructions (批示)"),
        (name = "replies", description = "Replies: drafts, revisions, review, publication; the editorial rules"),
        (name = "feedback", description = "Citizens' ratings of final replies; reopening and closing messages; return visits (回访)"),
        (name = "public", description = "The public board: accepted public messages with their published replies, and leaders' counters. No account, nobody's personal data; cacheable (ETag, Cache-Control)"),
        (name = "statistics", description = "Statistics and rankings of the messages received in a period: summary, breakdowns by unit, region, leader, category or kind, timeseries; from maintained aggregates"),
        (name = "sync", description = "The liaison platform's sync API (integration clients): batch imports of messages and replies with per-item results, the gap-free change feed with long polling, and the board's acknowledgements of published replies"),
        (name = "integration-clients", description = "Service accounts of machine clients such as the provincial liaison platform: client id and secret (hashed at rest, shown once, rotatable) and scopes; tokens via `grant_type=client_credentials`"),
        (name = "webhooks", description = "Signed webhooks (Standard Webhooks) for integration clients with the `webhooks:manage` scope: subscriptions to change types, a delivery log per subscription, manual redelivery; deliveries leave a transactional outbox and are retried for at least 24 h"),
        (name = "assessments", description = "Unit assessments (考核): monthly and annual scorecards per unit with a weighted score and a ranking; closed periods are frozen with a content hash and corrected only by explicit restatements"),
        (name = "alerts", description = "Early warning (预警): rules on keywords, spikes and repeated messages (analysts and admins write), and the alerts they raise"),
        (name = "briefings", description = "Weekly briefings (摘报): ranked candidates for a period, items with summaries picked by the liaison office, leaders' instructions per item, and the briefing as a Word document"),
        (name = "handling catalogues", description = "Working-day calendar, deadline policies and the dispatch catalogue (admins write, staff read)"),
        (name = "open311", description = "Open311 GeoReport v2 facade (`/open311/v2`), JSON only, with mySociety's `servicerequestupdates` extension: services are categories, service requests are messages of the public board (`service_request_id` = tracking number), `jurisdiction_id` is a leader's id. Errors are Open311 error arrays `[{\"code\": 400, \"description\": \"…\"}]`, not problem+json, so that unchanged Open311 clients understand them. Filing needs an `api_key`: an integration client's access token with `sync:write`"),
        (name = "operations", description = "Probes, metrics and this document")
    ),
    components(schemas(crate::error::Problem, crate::error::FieldError))
)]
pub struct ApiDoc;

const BEARER: &str = "bearer";
/// The Open311 `api_key` (an integration client's access token), as a query parameter; the
/// facade also takes it as a form field (GeoReport v2) or as a bearer token.
const OPEN311_API_KEY: &str = "open311_api_key";

/// A standard error response: component name, status, description, problem slug, extra header.
type StandardResponse = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
);

/// The standard error responses the shared middleware and extractors produce.
const STANDARD: &[StandardResponse] = &[
    (
        "BadRequest",
        "400",
        "The request is malformed (e.g. invalid JSON)",
        "bad-request",
        None,
    ),
    (
        "Unauthorized",
        "401",
        "Missing, expired or invalid access token",
        "unauthorized",
        Some(("WWW-Authenticate", "`Bearer realm=\"liuyan\"`")),
    ),
    (
        "Forbidden",
        "403",
        "The caller's role may not do this",
        "forbidden",
        None,
    ),
    (
        "IdempotencyConflict",
        "409",
        "A request with the same Idempotency-Key is still in flight",
        "idempotency-key-in-use",
        None,
    ),
    (
        "PreconditionFailed",
        "412",
        "The resource changed since you read it (If-Match names an older version)",
        "precondition-failed",
        None,
    ),
    (
        "PreconditionRequired",
        "428",
        "If-Match is missing: send the ETag you read",
        "precondition-required",
        None,
    ),
    (
        "PayloadTooLarge",
        "413",
        "The request body is over the limit",
        "payload-too-large",
        None,
    ),
    (
        "RequestTimeout",
        "408",
        "The request body did not arrive within the server's time limit (LIUYAN_BODY_TIMEOUT_SECS); the connection is closed",
        "request-timeout",
        None,
    ),
    (
        "UnsupportedMediaType",
        "415",
        "The body is not `application/json`",
        "unsupported-media-type",
        None,
    ),
    (
        "ValidationFailed",
        "422",
        "The input is invalid: `errors` names every failing field (also: an Idempotency-Key reused with a different request, `urn:liuyan:problem:idempotency-key-reused`)",
        "validation-failed",
        None,
    ),
    (
        "TooManyRequests",
        "429",
        "Rate limit reached",
        "rate-limited",
        Some(("Retry-After", "Seconds to wait before retrying")),
    ),
    (
        "InternalError",
        "500",
        "An unexpected failure on our side (never the caller's input); `request_id` lets operators find it in the logs",
        "internal",
        None,
    ),
    (
        "ServiceUnavailable",
        "503",
        "The database is unreachable or saturated (or, for a CSV/XLSX download, every download slot is taken); retry shortly",
        "service-unavailable",
        Some(("Retry-After", "Seconds to wait before retrying")),
    ),
];

fn problem_response(
    status: &str,
    description: &str,
    slug: &str,
    header: Option<(&str, &str)>,
) -> Response {
    let example = json!({
        "type": problem_type(slug),
        "title": description,
        "status": status.parse::<u16>().unwrap_or(400),
        "detail": description,
        "instance": "/api/v1/units",
        "request_id": "3f0f6a43-5c1a-4c61-9d0c-54a3e0c1c2a1"
    });
    let mut builder = ResponseBuilder::new().description(description).content(
        PROBLEM_CONTENT_TYPE,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .example(Some(example))
            .build(),
    );
    if let Some((name, text)) = header {
        builder = builder.header(name, HeaderBuilder::new().description(Some(text)).build());
    }
    builder.build()
}

fn add_ref(op: &mut Operation, status: &str, component: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::Ref(Ref::new(format!("#/components/responses/{component}"))));
}

/// The whole document: collected paths plus the cross-cutting parts.
pub fn finish(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    // The API is public-facing (citizens' apps and the liaison platform), not an internal one.
    for server in doc.servers.iter_mut().flatten() {
        let ext = ExtensionsBuilder::new()
            .add("x-internal", json!(false))
            .build();
        match &mut server.extensions {
            Some(e) => e.merge(ext),
            None => server.extensions = Some(ext),
        }
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "Access token from `POST /api/v1/auth/token`: a JWT handled as RFC8725 \
                     (JSON Web Token Best Current Practices) asks: one algorithm (HS256) fixed \
                     by the server, never taken from the token; issuer, audience and expiry \
                     always checked; short-lived (refresh tokens rotate)",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        OPEN311_API_KEY,
        SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Query(
            utoipa::openapi::security::ApiKeyValue::with_description(
                "api_key",
                "Open311 `api_key`: an access token of an integration client holding `sync:write` \
                 (also accepted as the `api_key` form field, as GeoReport v2 says, or as a bearer token)",
            ),
        )),
    );
    for (name, status, description, slug, header) in STANDARD {
        components.responses.insert(
            (*name).to_owned(),
            RefOr::T(problem_response(status, description, slug, *header)),
        );
    }

    for (path, item) in doc.paths.paths.iter_mut() {
        let is_api = path.starts_with("/api/v1/");
        // The Open311 facade documents its own errors (Open311 error arrays, not problem+json).
        let is_open311 = path.starts_with("/open311/");
        for (method, op) in operations(item) {
            let id = op.operation_id.clone().unwrap_or_default();
            // A missing rule is caught by the spec tests; here it simply stays undecorated.
            match rule_for(&id) {
                Some(Rule::Requires(permission)) => {
                    op.security =
                        Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
                    let roles: Vec<&str> = permission.roles().iter().map(|r| r.as_str()).collect();
                    let ext = ExtensionsBuilder::new()
                        .add("x-allowed-roles", json!(roles))
                        .build();
                    match &mut op.extensions {
                        Some(e) => e.merge(ext),
                        None => op.extensions = Some(ext),
                    }
                    let line = format!("\n\nAllowed roles: {}.", roles.join(", "));
                    op.description = Some(op.description.take().unwrap_or_default() + &line);
                    if is_open311 {
                        op.security = Some(vec![
                            SecurityRequirement::new(OPEN311_API_KEY, Vec::<String>::new()),
                            SecurityRequirement::new(BEARER, Vec::<String>::new()),
                        ]);
                    } else {
                        add_ref(op, "401", "Unauthorized");
                        add_ref(op, "403", "Forbidden");
                    }
                }
                // `[]`, not `[{}]`: both say "no authentication" here (there is no global requirement),
                // but generators read a non-empty list as "needs credentials" (openapi-python-client
                // then demands an AuthenticatedClient for logging in).
                Some(Rule::Public) => op.security = Some(Vec::new()),
                None => {}
            }
            if op.responses.responses.contains_key("304") {
                add_if_none_match_header(op);
            }
            normalise_precondition_headers(op);
            if is_open311 {
                // Filing is idempotent like the API's POSTs (its 409 is in its own responses).
                if method == "POST" {
                    add_idempotency_header(op);
                }
                continue;
            }
            // The precondition answers follow from the If-Match header an operation declares.
            if let Some(required) = if_match_required(op) {
                add_ref(op, "412", "PreconditionFailed");
                if required {
                    add_ref(op, "428", "PreconditionRequired");
                }
            }
            if op.request_body.is_some() {
                add_ref(op, "400", "BadRequest");
                add_ref(op, "408", "RequestTimeout");
                add_ref(op, "413", "PayloadTooLarge");
                add_ref(op, "415", "UnsupportedMediaType");
                add_ref(op, "422", "ValidationFailed");
            }
            if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                add_ref(op, "422", "ValidationFailed");
                add_ref(op, "400", "BadRequest");
            }
            if method == "POST" && is_api {
                if !crate::http::idempotency::EXCLUDED_PATHS.contains(&path.as_str()) {
                    match op.responses.responses.get_mut("409") {
                        // The operation documents its own 409: say it also means this.
                        Some(RefOr::T(own)) => own.description.push_str(IDEMPOTENCY_409_NOTE),
                        _ => add_ref(op, "409", "IdempotencyConflict"),
                    }
                    add_idempotency_header(op);
                }
                add_ref(op, "422", "ValidationFailed");
            }

            if is_api && id != "get_openapi" {
                add_ref(op, "503", "ServiceUnavailable");
                add_ref(op, "500", "InternalError");
            }
            if is_api {
                add_ref(op, "429", "TooManyRequests");
            }
        }
    }
    prune_unused_responses(&mut doc);
    add_middleware_headers(&mut doc);
    doc
}

/// The operations of a path, with their methods.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("GET", &mut item.get),
        ("POST", &mut item.post),
        ("PUT", &mut item.put),
        ("PATCH", &mut item.patch),
        ("DELETE", &mut item.delete),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.as_mut().map(|op| (method, op)))
}

/// Headers the middleware puts on responses: the limiter's on every 2XX/4XX response of a
/// rate-limited path (all but the probes; `http::rate_limit`), and CORS's
/// `Access-Control-Allow-Origin` on every response when the caller's origin is allowed. Inline
/// responses get them directly, shared ones in their component.
fn add_middleware_headers(doc: &mut utoipa::openapi::OpenApi) {
    use crate::http::rate_limit::{EXEMPT_PATHS, LIMIT_HEADER, REMAINING_HEADER, RESET_HEADER};
    use std::collections::BTreeMap;
    use utoipa::openapi::header::Header;
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    let count = |description: &str| -> Header {
        HeaderBuilder::new()
            .schema(Some(Schema::Object(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Int64,
                    )))
                    .minimum(Some(0))
                    .maximum(Some(u32::MAX))
                    .build(),
            )))
            .description(Some(description))
            .build()
    };
    let rate_limit = [
        (
            LIMIT_HEADER,
            count("The most requests this client may send at once (the burst)"),
        ),
        (
            REMAINING_HEADER,
            count("Requests left before the limit answers 429"),
        ),
        (
            RESET_HEADER,
            count("Seconds until the budget is full again"),
        ),
    ];
    let cors = HeaderBuilder::new()
        .schema(Some(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(2048))
                .build(),
        )))
        .description(Some(
            "The caller's `Origin`, when the deployment allows it (`LIUYAN_CORS_ORIGINS`); absent otherwise",
        ))
        .build();
    let limited = |status: &str| status.starts_with('2') || status.starts_with('4');
    let add = |r: &mut Response, with_limits: bool| {
        r.headers.insert(
            "Access-Control-Allow-Origin".to_owned(),
            RefOr::T(cors.clone()),
        );
        if with_limits {
            for (name, h) in &rate_limit {
                r.headers.insert((*name).to_owned(), RefOr::T(h.clone()));
            }
        }
    };
    // Shared responses by name: whether some rate-limited use needs the limiter's headers.
    let mut shared: BTreeMap<String, bool> = BTreeMap::new();
    for (path, item) in doc.paths.paths.iter_mut() {
        let exempt = EXEMPT_PATHS.contains(&path.as_str());
        for (_, op) in operations(item) {
            for (status, response) in op.responses.responses.iter_mut() {
                let with_limits = !exempt && limited(status);
                match response {
                    RefOr::T(r) => add(r, with_limits),
                    RefOr::Ref(r) => {
                        if let Some(name) = r.ref_location.strip_prefix("#/components/responses/") {
                            *shared.entry(name.to_owned()).or_default() |= with_limits;
                        }
                    }
                }
            }
        }
    }
    if let Some(components) = doc.components.as_mut() {
        for (name, with_limits) in shared {
            if let Some(RefOr::T(r)) = components.responses.get_mut(&name) {
                add(r, with_limits);
            }
        }
    }
}

const IDEMPOTENCY_409_NOTE: &str = "; or a request with the same Idempotency-Key is still in flight \
     (`urn:liuyan:problem:idempotency-key-in-use`)";

/// An entity-tag list as our parser accepts it: `*`, or quoted tags (optionally weak) separated
/// by commas.
const ETAG_LIST_PATTERN: &str =
    r#"^(\*|(W/)?"[\x21\x23-\x2B\x2D-\x7E]*"(\s*,\s*(W/)?"[\x21\x23-\x2B\x2D-\x7E]*")*)$"#;

fn etag_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(200))
        .pattern(Some(ETAG_LIST_PATTERN))
        .examples([json!("\"3\"")])
        .build()
}

/// `If-Match` / `If-None-Match` parameters declared by handlers get one precise schema.
fn normalise_precondition_headers(op: &mut Operation) {
    use utoipa::openapi::path::ParameterIn;
    for p in op.parameters.iter_mut().flatten() {
        if let RefOr::T(p) = p
            && p.parameter_in == ParameterIn::Header
            && (p.name == "If-Match" || p.name == "If-None-Match")
        {
            p.schema = Some(RefOr::T(utoipa::openapi::schema::Schema::Object(
                etag_schema(),
            )));
        }
    }
}

/// Whether the operation takes `If-Match`, and if so whether it requires it.
fn if_match_required(op: &Operation) -> Option<bool> {
    use utoipa::openapi::path::ParameterIn;
    op.parameters.iter().flatten().find_map(|p| match p {
        RefOr::T(p) if p.parameter_in == ParameterIn::Header && p.name == "If-Match" => {
            Some(matches!(p.required, utoipa::openapi::Required::True))
        }
        _ => None,
    })
}

fn add_if_none_match_header(op: &mut Operation) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    let exists = op
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p, RefOr::T(p) if p.name == "If-None-Match"));
    if exists {
        return;
    }
    let param = ParameterBuilder::new()
        .name("If-None-Match")
        .parameter_in(ParameterIn::Header)
        .required(utoipa::openapi::Required::False)
        .description(Some(
            "ETag(s) you hold: 304 Not Modified when the resource still has one of them",
        ))
        .build();
    op.parameters
        .get_or_insert_with(Vec::new)
        .push(RefOr::T(param));
}

/// Drop standard responses no operation refers to (the lint flags unused components).
fn prune_unused_responses(doc: &mut utoipa::openapi::OpenApi) {
    let text = serde_json::to_string(&doc.paths).unwrap_or_default();
    if let Some(components) = doc.components.as_mut() {
        components
            .responses
            .retain(|name, _| text.contains(&format!("\"#/components/responses/{name}\"")));
    }
}

fn add_idempotency_header(op: &mut Operation) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let param = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(utoipa::openapi::Required::False)
        .description(Some(
            "Makes the request safe to retry: a replay with the same key and body returns the \
             stored response (with `Idempotent-Replayed: true`); the same key with another body \
             is 422; while the first is in flight, 409. Keys are kept at least 24 h.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255)),
        ))
        .example(Some(json!("6f1c2a8e-3b4d-4e5f-9a0b-1c2d3e4f5a6b")))
        .build();
    op.parameters
        .get_or_insert_with(Vec::new)
        .push(RefOr::T(param));
}

/// The document as pretty JSON with sorted keys (stable output for the committed file).
pub fn to_pretty_json(doc: &utoipa::openapi::OpenApi) -> String {
    let value = serde_json::to_value(doc).unwrap_or_default();
    let mut out = serde_json::to_string_pretty(&value).unwrap_or_default();
    out.push('\n');
    out
}
