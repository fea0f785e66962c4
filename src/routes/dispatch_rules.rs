//! The dispatch catalogue (which unit handles what, where, on what legal basis), and the routing
//! suggestions it gives for a message.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::{Validate, ValidationError};

use crate::app::access::{facts, viewer};
use crate::auth::Principal;
use crate::auth::policy::{MessageAccess, may_intake, message_access};
use crate::db::Db;
use crate::domain::ids::{CategoryId, UnitId};
use crate::domain::reference::UnitKind;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery, parse_path_id};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag, respond_with_etag};
use crate::http::validate::validate_region_code;
use crate::routes::double_option;
use crate::store::dispatch_rules::{
    self as store, DispatchRule, DispatchRuleChanges, DispatchRuleFilter, NewDispatchRule,
    Suggestion,
};

/// Keywords per rule, and characters per keyword.
const MAX_KEYWORDS: usize = 20;
const MAX_KEYWORD_CHARS: usize = 20;

/// A word that must occur in a message's title or body for the rule to apply.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, min_length = 1, max_length = 20, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$", example = "红绿灯")]
pub struct Keyword(pub String);

pub(crate) fn validate_keywords(keywords: &[Keyword]) -> Result<(), ValidationError> {
    if keywords.len() > MAX_KEYWORDS {
        let mut e = ValidationError::new("length");
        e.message = Some(format!("at most {MAX_KEYWORDS} keywords").into());
        return Err(e);
    }
    for Keyword(k) in keywords {
        if k.chars().any(char::is_control) {
            let mut e = ValidationError::new("format");
            e.message = Some("keywords must not contain control characters".into());
            return Err(e);
        }
        let n = k.trim().chars().count();
        if n == 0 || n > MAX_KEYWORD_CHARS {
            let mut e = ValidationError::new("length");
            e.message = Some(
                format!("each keyword must be 1 to {MAX_KEYWORD_CHARS} characters (`{k}`)").into(),
            );
            return Err(e);
        }
    }
    Ok(())
}

/// Trimmed, duplicates dropped, first occurrence kept.
pub(crate) fn clean_keywords(keywords: &[Keyword]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(keywords.len());
    for Keyword(k) in keywords {
        let k = k.trim().to_owned();
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

fn clean_basis(raw: &str) -> Result<String, ApiError> {
    let basis = raw.trim().to_owned();
    crate::domain::text::check_len(&basis, 1, 500)
        .map_err(|m| ApiError::field("basis", "length", m))?;
    Ok(basis)
}

/// Who handles what, where: messages in the region (or below it), of the category (or any),
/// mentioning one of the keywords (if any), belong to the unit.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b01", "region_code": "620100",
    "category_id": "01930000-0000-7000-8000-000000000002", "keywords": ["公交", "道路"],
    "unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c", "basis": "《兰州市城市道路管理条例》第五条",
    "active": true, "version": 1, "created_at": "2026-11-26T08:00:00Z", "updated_at": "2026-11-26T08:00:00Z"
}))]
pub struct DispatchRuleDto {
    pub id: Uuid,
    /// The region the rule covers, with everything below it.
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub region_code: String,
    /// `null`: messages of any category.
    pub category_id: Option<CategoryId>,
    /// Empty: any message; else at least one must occur in the title or the body.
    #[schema(max_items = 20)]
    pub keywords: Vec<Keyword>,
    /// The responsible unit.
    pub unit_id: UnitId,
    /// The legal or organisational basis (a statute's article, the unit's mandate).
    #[schema(max_length = 500)]
    pub basis: String,
    pub active: bool,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<DispatchRule> for DispatchRuleDto {
    fn from(r: DispatchRule) -> Self {
        DispatchRuleDto {
            id: r.id,
            region_code: r.region_code,
            category_id: r.category_id,
            keywords: r.keywords.into_iter().map(Keyword).collect(),
            unit_id: r.unit_id,
            basis: r.basis,
            active: r.active,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

crate::page_type!(
    DispatchRulePage,
    DispatchRuleDto,
    "A page of dispatch rules."
);

/// A new dispatch rule. Region, unit and category must exist and be active.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "region_code": "620102", "category_id": "01930000-0000-7000-8000-000000000002",
    "keywords": ["红绿灯", "信号灯"], "unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c",
    "basis": "《兰州市城市道路管理条例》第五条"
}))]
pub struct CreateDispatchRule {
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "validate_region_code"))]
    pub region_code: String,
    pub category_id: Option<CategoryId>,
    /// Up to 20 keywords of 1 to 20 characters (trimmed; duplicates dropped).
    #[schema(max_items = 20)]
    #[validate(custom(function = "validate_keywords"))]
    #[serde(default)]
    pub keywords: Vec<Keyword>,
    pub unit_id: UnitId,
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 500),
        custom(function = "crate::domain::validate_text")
    )]
    pub basis: String,
}

/// Changes to a dispatch rule: only the fields sent change; `category_id: null` makes the rule
/// apply to every category.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"keywords": ["公交", "地铁", "出租车"], "active": true}))]
#[schema(min_properties = 1)]
pub struct UpdateDispatchRule {
    #[schema(
        nullable = false,
        min_length = 6,
        max_length = 6,
        pattern = "^[0-9]{6}$"
    )]
    #[validate(custom(function = "validate_region_code"))]
    pub region_code: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<CategoryId>)]
    pub category_id: Option<Option<CategoryId>>,
    #[schema(nullable = false, max_items = 20)]
    #[validate(custom(function = "validate_keywords"))]
    pub keywords: Option<Vec<Keyword>>,
    #[schema(nullable = false)]
    pub unit_id: Option<UnitId>,
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 500),
        custom(function = "crate::domain::validate_text")
    )]
    pub basis: Option<String>,
    #[schema(nullable = false)]
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListDispatchRulesQuery {
    /// Rules of this region and of every region below it.
    #[param(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "validate_region_code"))]
    pub region_code: Option<String>,
    pub unit_id: Option<UnitId>,
    pub category_id: Option<CategoryId>,
    pub active: Option<bool>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    parse_path_id::<Uuid>(raw, "dispatch rule")
}

/// List dispatch rules, by region (the province's first), then in creation order.
#[utoipa::path(
    operation_id = "list_dispatch_rules",
    tag = "handling catalogues",
    params(ListDispatchRulesQuery),
    responses((status = 200, description = "A page of dispatch rules", body = DispatchRulePage))
)]
#[get("/dispatch-rules")]
pub async fn list_dispatch_rules(
    db: web::Data<Db>,
    _principal: Principal,
    query: ApiQuery<ListDispatchRulesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let limit = page.limit;
    let filter = DispatchRuleFilter {
        region_code: q.region_code,
        unit_id: q.unit_id,
        category_id: q.category_id,
        active: q.active,
    };
    let rows = db
        .run(move |conn| store::list(conn, &filter, &page))
        .await?;
    let (rows, next_cursor) = finish_page(rows, limit, |r| (r.region_path.clone(), r.id));
    Ok(HttpResponse::Ok().json(DispatchRulePage {
        items: rows.into_iter().map(DispatchRuleDto::from).collect(),
        next_cursor,
    }))
}

/// Read a dispatch rule.
#[utoipa::path(
    operation_id = "get_dispatch_rule",
    tag = "handling catalogues",
    params(("id" = String, Path, format = Uuid, description = "Dispatch rule id")),
    responses(
        (status = 200, description = "The rule", body = DispatchRuleDto,
            headers(("ETag" = String, description = "Version of the rule"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such rule", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[get("/dispatch-rules/{id}")]
pub async fn get_dispatch_rule(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let rule = db.run(move |conn| store::get(conn, id)).await?;
    respond_with_etag(
        &req,
        rule.version,
        &DispatchRuleDto::from(rule),
        HttpResponse::Ok(),
    )
}

/// Create a dispatch rule.
#[utoipa::path(
    operation_id = "create_dispatch_rule",
    tag = "handling catalogues",
    request_body = CreateDispatchRule,
    responses(
        (status = 201, description = "The rule was created", body = DispatchRuleDto,
            headers(("Location" = String, description = "URL of the new rule"),
                    ("ETag" = String, description = "Version of the rule")))
    )
)]
#[post("/dispatch-rules")]
pub async fn create_dispatch_rule(
    db: web::Data<Db>,
    _principal: Principal,
    body: ApiJson<CreateDispatchRule>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let new = NewDispatchRule {
        id: Uuid::now_v7(),
        region_code: b.region_code,
        category_id: b.category_id,
        keywords: clean_keywords(&b.keywords),
        unit_id: b.unit_id,
        basis: clean_basis(&b.basis)?,
    };
    let rule = db.run(move |conn| store::insert(conn, &new)).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/dispatch-rules/{}", rule.id),
        ))
        .insert_header((header::ETAG, etag(rule.version)))
        .json(DispatchRuleDto::from(rule)))
}

/// Change a dispatch rule (deactivate it with `active: false`). Requires `If-Match`.
#[utoipa::path(
    operation_id = "update_dispatch_rule",
    tag = "handling catalogues",
    params(
        ("id" = String, Path, format = Uuid, description = "Dispatch rule id"),
        ("If-Match" = String, Header, description = "ETag of the version you read")
    ),
    request_body = UpdateDispatchRule,
    responses(
        (status = 200, description = "The changed rule", body = DispatchRuleDto,
            headers(("ETag" = String, description = "New version of the rule"))),
        (status = 404, description = "No such rule", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[patch("/dispatch-rules/{id}")]
pub async fn update_dispatch_rule(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
    id: web::Path<String>,
    body: ApiJson<UpdateDispatchRule>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let cond = IfMatchCondition::from_request(&req, IfMatch::Required)?;
    let b = body.into_inner();
    let changes = DispatchRuleChanges {
        region_code: b.region_code,
        region_path: None,
        category_id: b.category_id,
        keywords: b.keywords.as_deref().map(clean_keywords),
        unit_id: b.unit_id,
        basis: b.basis.as_deref().map(clean_basis).transpose()?,
        active: b.active,
    };
    super::require_some_change(
        changes.region_code.is_some()
            || changes.category_id.is_some()
            || changes.keywords.is_some()
            || changes.unit_id.is_some()
            || changes.basis.is_some()
            || changes.active.is_some(),
    )?;
    let rule = db
        .run(move |conn| store::update(conn, id, &cond, &changes))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(rule.version)))
        .json(DispatchRuleDto::from(rule)))
}

// ---------------------------------------------------------------------------------------------
// Routing suggestions

/// The unit a suggestion proposes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SuggestedUnit {
    pub id: UnitId,
    #[schema(max_length = 200)]
    pub name: String,
    pub kind: UnitKind,
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub region_code: String,
}

/// The rule that proposes the unit (its best matching rule).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MatchedRule {
    pub id: Uuid,
    #[schema(max_length = 500)]
    pub basis: String,
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub region_code: String,
    pub category_id: Option<CategoryId>,
    /// The rule's keywords found in the message's title or body.
    #[schema(max_items = 20)]
    pub matched_keywords: Vec<Keyword>,
}

/// How the unit fared with messages of the same category before.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UnitTrackRecord {
    /// Assignments of messages of this category to the unit (any status).
    #[schema(format = Int64, minimum = 0)]
    pub assigned: i64,
    /// Of those, the ones the unit returned.
    #[schema(format = Int64, minimum = 0)]
    pub returned: i64,
    /// `returned / assigned` (0 without assignments).
    #[schema(format = Double, minimum = 0, maximum = 1)]
    pub return_rate: f64,
}

/// A unit proposed for a message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoutingSuggestion {
    pub unit: SuggestedUnit,
    pub rule: MatchedRule,
    /// Higher is better; the list is ordered by it (see the operation).
    #[schema(format = Double)]
    pub score: f64,
    pub history: UnitTrackRecord,
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

impl From<Suggestion> for RoutingSuggestion {
    fn from(s: Suggestion) -> Self {
        RoutingSuggestion {
            score: round4(s.score),
            history: UnitTrackRecord {
                assigned: s.history.assigned,
                returned: s.history.returned,
                return_rate: round4(s.history.return_rate()),
            },
            unit: SuggestedUnit {
                id: s.unit.id,
                name: s.unit.name,
                kind: s.unit.kind,
                region_code: s.unit.region_code,
            },
            rule: MatchedRule {
                id: s.rule.id,
                basis: s.rule.basis,
                region_code: s.rule.region_code,
                category_id: s.rule.category_id,
                matched_keywords: s.matched_keywords.into_iter().map(Keyword).collect(),
            },
        }
    }
}

/// Candidate units for a message, best first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "message_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0c01",
    "items": [{
        "unit": {"id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c", "name": "兰州市城关区人民政府",
                 "kind": "district_government", "region_code": "620102"},
        "rule": {"id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b01", "basis": "《兰州市城市道路管理条例》第五条",
                 "region_code": "620102", "category_id": "01930000-0000-7000-8000-000000000002",
                 "matched_keywords": ["红绿灯"]},
        "score": 352.0,
        "history": {"assigned": 4, "returned": 0, "return_rate": 0.0}
    }]
}))]
pub struct RoutingSuggestions {
    pub message_id: Uuid,
    /// At most 10.
    #[schema(max_items = 10)]
    pub items: Vec<RoutingSuggestion>,
}

/// Units the dispatch catalogue proposes for a message, best first (at most 10; an empty list
/// when no rule matches).
///
/// A rule matches when it is active (and its unit is), its region is the message's region or
/// lies above it, its category is the message's or none, and, if it has keywords, at least one
/// of them occurs in the message's title or body. Each unit appears once, with its best rule.
///
/// Ranking: the more specific region first (county before city before province), then
/// category-specific rules before generic ones, then more keyword hits, then the lower return
/// rate (how many of its assignments of messages of the same category the unit returned; a unit
/// that bounced such messages before sinks), then the unit's name. `score` =
/// 100 × region depth (1 province, 2 city, 3 county) + 50 if category-specific + 2 × keyword
/// hits − return rate: each term outweighs all later ones, so ordering by `score` is the
/// ranking.
///
/// Object-level: the caller must be allowed to run intake on the message (its intake unit's
/// staff, supervisors in scope, admins); 404 when the caller may not see the message at all.
#[utoipa::path(
    operation_id = "get_routing_suggestions",
    tag = "messages",
    params(("id" = String, Path, format = Uuid, description = "Message id")),
    responses(
        (status = 200, description = "The suggestions, best first", body = RoutingSuggestions),
        (status = 404, description = "No such message, or not yours to see",
            body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/messages/{id}/routing-suggestions")]
pub async fn get_routing_suggestions(
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_path_id::<Uuid>(&id, "message")?;
    let p = principal.clone();
    let items = db
        .run(move |conn| {
            let message = crate::store::messages::get(conn, id)?
                .ok_or_else(|| ApiError::not_found("message"))?;
            let v = viewer(&p);
            if message_access(v, facts(&message)) == MessageAccess::None {
                return Err(ApiError::not_found("message"));
            }
            if !may_intake(v, facts(&message)) {
                return Err(ApiError::Forbidden(
                    "only the message's intake unit, supervisors in scope and admins may route it"
                        .into(),
                ));
            }
            store::suggestions(conn, &message)
        })
        .await?;
    Ok(HttpResponse::Ok().json(RoutingSuggestions {
        message_id: id,
        items: items.into_iter().map(RoutingSuggestion::from).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(words: &[&str]) -> Vec<Keyword> {
        words.iter().map(|w| Keyword((*w).to_owned())).collect()
    }

    #[test]
    fn keywords_are_trimmed_deduplicated_and_bounded() {
        assert_eq!(
            clean_keywords(&kw(&[" 公交 ", "地铁", "公交"])),
            vec!["公交", "地铁"]
        );
        assert!(validate_keywords(&kw(&["公交"; 20])).is_ok());
        assert!(validate_keywords(&kw(&["公交"; 21])).is_err());
        assert!(validate_keywords(&kw(&["  "])).is_err());
        assert!(validate_keywords(&kw(&[&"长".repeat(21)])).is_err());
        assert!(validate_keywords(&kw(&[&format!(" {} ", "长".repeat(20))])).is_ok());
        assert!(validate_keywords(&kw(&["a\u{7}b"])).is_err());
    }
}
