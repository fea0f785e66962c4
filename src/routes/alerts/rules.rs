//! The alert rules analysts keep: keywords, spikes of a category or region, repeated messages of
//! one author or address.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::auth::Principal;
use crate::auth::policy::in_region;
use crate::db::Db;
use crate::domain::alerts::{
    AlertRuleKind, BASELINE_DAYS, BASELINE_FACTOR, DEFAULT_BASELINE_DAYS, DEFAULT_BASELINE_FACTOR,
    REPEAT_THRESHOLD, RepeatBy, SPIKE_THRESHOLD, WINDOW_DAYS, WINDOW_HOURS,
};
use crate::domain::ids::{AlertRuleId, CategoryId, UserId};
use crate::domain::role::Role;
use crate::error::{ApiError, FieldError};
use crate::http::extract::{ApiJson, ApiQuery, parse_path_id};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag, respond_with_etag};
use crate::http::validate::validate_region_code;
use crate::routes::dispatch_rules::{Keyword, clean_keywords, validate_keywords};
use crate::routes::double_option;
use crate::store::alerts::{self as store, AlertRule, AlertRuleChanges};

// ---------------------------------------------------------------------------------------------
// Wire types: rules

/// An early-warning rule. Kind-specific fields are `null` (or empty) for the other kinds.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b09", "name": "集体上访预警", "kind": "keyword",
    "keywords": ["集体上访", "联名上访"], "category_id": null, "region_code": "620000",
    "threshold": null, "window_hours": null, "baseline_days": null, "baseline_factor": null,
    "repeat_by": null, "window_days": null, "active": true,
    "created_by": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b", "created_at": "2026-11-26T08:00:00Z",
    "updated_at": "2026-11-26T08:00:00Z", "version": 1
}))]
pub struct AlertRuleDto {
    pub id: AlertRuleId,
    #[schema(max_length = 100)]
    pub name: String,
    pub kind: AlertRuleKind,
    /// `keyword`: the phrases looked for in title and body.
    #[schema(max_items = 20)]
    pub keywords: Vec<Keyword>,
    /// Only messages of this category (`spike`: the category watched).
    pub category_id: Option<CategoryId>,
    /// Only messages in this region or below it (`spike`: the region watched).
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub region_code: Option<String>,
    /// `spike`: messages within the window; `repeat`: messages of one author or address.
    #[schema(format = Int32)]
    pub threshold: Option<i32>,
    /// `spike`: the window, in hours.
    #[schema(format = Int32)]
    pub window_hours: Option<i32>,
    /// `spike`: days of history the baseline averages (0: none).
    #[schema(format = Int32)]
    pub baseline_days: Option<i32>,
    /// `spike`: the window must hold more than this × the baseline.
    #[schema(format = Double)]
    pub baseline_factor: Option<f64>,
    /// `repeat`: what is compared.
    pub repeat_by: Option<RepeatBy>,
    /// `repeat`: the window, in days.
    #[schema(format = Int32)]
    pub window_days: Option<i32>,
    /// Inactive rules raise nothing (rules are deactivated, never deleted).
    pub active: bool,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
}

impl From<AlertRule> for AlertRuleDto {
    fn from(r: AlertRule) -> Self {
        AlertRuleDto {
            id: r.id,
            name: r.name,
            kind: r.kind,
            keywords: r.keywords.into_iter().map(Keyword).collect(),
            category_id: r.category_id,
            region_code: r.region_code,
            threshold: r.threshold,
            window_hours: r.window_hours,
            baseline_days: r.baseline_days,
            baseline_factor: r.baseline_factor,
            repeat_by: r.repeat_by,
            window_days: r.window_days,
            active: r.active,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        }
    }
}

crate::page_type!(AlertRulePage, AlertRuleDto, "A page of alert rules.");

/// The kind tag of a keyword rule.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeywordKind {
    Keyword,
}

/// The kind tag of a spike rule.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpikeKind {
    Spike,
}

/// The kind tag of a repeat rule.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RepeatKind {
    Repeat,
}

/// A keyword rule: at intake, a message whose title or body contains one of the keywords
/// (latin letters in any case) raises an alert and becomes important.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeywordRule {
    #[schema(inline)]
    pub kind: KeywordKind,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// 1 to 20 keywords or phrases of 1 to 20 characters (trimmed; duplicates dropped).
    #[schema(min_items = 1, max_items = 20)]
    pub keywords: Vec<Keyword>,
    /// Only messages of this category.
    pub category_id: Option<CategoryId>,
    /// Only messages in this region or below it (an analyst's rules default to their region).
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub region_code: Option<String>,
}

/// A spike rule: the scheduler raises an alert when the last `window_hours` hold at least
/// `threshold` messages of the category and/or region, and more than `baseline_factor` × the
/// average count of the same window on each of the `baseline_days` days before. A spike raises
/// once: no second alert for a window that overlaps one already raised.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSpikeRule {
    #[schema(inline)]
    pub kind: SpikeKind,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// The category watched (a category, a region or both).
    pub category_id: Option<CategoryId>,
    /// The region watched, with everything below it.
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub region_code: Option<String>,
    /// Messages within the window, 1 to 100000.
    #[schema(format = Int32, minimum = 1, maximum = 100000)]
    pub threshold: i32,
    /// The window, 1 to 168 hours.
    #[schema(format = Int32, minimum = 1, maximum = 168)]
    pub window_hours: i32,
    /// Days of history for the baseline, 0 (none) to 90; default 7.
    #[schema(format = Int32, minimum = 0, maximum = 90)]
    pub baseline_days: Option<i32>,
    /// 1 to 100; default 2.
    #[schema(format = Double, minimum = 1, maximum = 100)]
    pub baseline_factor: Option<f64>,
}

/// A repeat rule: at intake (and in the scheduler's catch-up), at least `threshold` messages of
/// one author, or from one address (spacing, punctuation and full-width characters ignored),
/// within `window_days` raise an alert; later messages of the same period join it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRepeatRule {
    #[schema(inline)]
    pub kind: RepeatKind,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    pub repeat_by: RepeatBy,
    /// Messages, 2 to 1000.
    #[schema(format = Int32, minimum = 2, maximum = 1000)]
    pub threshold: i32,
    /// The window, 1 to 365 days.
    #[schema(format = Int32, minimum = 1, maximum = 365)]
    pub window_days: i32,
    /// Only messages of this category.
    pub category_id: Option<CategoryId>,
    /// Only messages in this region or below it.
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub region_code: Option<String>,
}

/// A new alert rule, by `kind`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(example = json!({
    "kind": "keyword", "name": "拖欠工资预警", "keywords": ["拖欠工资", "欠薪", "讨薪"],
    "region_code": "620100"
}))]
pub enum NewAlertRule {
    Keyword(NewKeywordRule),
    Spike(NewSpikeRule),
    Repeat(NewRepeatRule),
}

/// What `POST /alert-rules` reads: every kind's fields, checked against the kind (the document
/// describes it as [`NewAlertRule`], one schema per kind).
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateAlertRule {
    pub kind: AlertRuleKind,
    #[validate(
        length(min = 1, max = 100),
        custom(function = "crate::domain::validate_line")
    )]
    pub name: String,
    #[validate(custom(function = "validate_keywords"))]
    pub keywords: Option<Vec<Keyword>>,
    pub category_id: Option<CategoryId>,
    #[validate(custom(function = "validate_region_code"))]
    pub region_code: Option<String>,
    #[serde(default, deserialize_with = "crate::routes::optional_integer")]
    pub threshold: Option<i32>,
    #[serde(default, deserialize_with = "crate::routes::optional_integer")]
    pub window_hours: Option<i32>,
    #[serde(default, deserialize_with = "crate::routes::optional_integer")]
    pub baseline_days: Option<i32>,
    pub baseline_factor: Option<f64>,
    pub repeat_by: Option<RepeatBy>,
    #[serde(default, deserialize_with = "crate::routes::optional_integer")]
    pub window_days: Option<i32>,
}

/// Changes to a rule: only the fields sent change, and only those of the rule's kind (the kind
/// itself never changes; a repeat rule's `threshold` is 2 to 1000). `category_id` /
/// `region_code` `null` lift the restriction; a spike rule keeps at least one of them.
/// Deactivate with `active: false`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"keywords": ["拖欠工资", "欠薪", "讨薪", "工钱"], "active": true}))]
#[schema(min_properties = 1)]
pub struct UpdateAlertRule {
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 100),
        custom(function = "crate::domain::validate_line")
    )]
    pub name: Option<String>,
    /// `keyword` rules.
    #[schema(nullable = false, min_items = 1, max_items = 20)]
    #[validate(custom(function = "validate_keywords"))]
    pub keywords: Option<Vec<Keyword>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<CategoryId>)]
    pub category_id: Option<Option<CategoryId>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub region_code: Option<Option<String>>,
    /// `spike` (1 to 100000) and `repeat` (2 to 1000) rules.
    #[schema(nullable = false, format = Int32, minimum = 1, maximum = 100000)]
    #[serde(default, deserialize_with = "crate::routes::optional_integer")]
    #[validate(range(min = 1, max = 100_000))]
    pub threshold: Option<i32>,
    /// `spike` rules, 1 to 168.
    #[schema(nullable = false, format = Int32, minimum = 1, maximum = 168)]
    #[serde(default, deserialize_with = "crate::routes::optional_integer")]
    #[validate(range(min = 1, max = 168))]
    pub window_hours: Option<i32>,
    /// `spike` rules, 0 to 90.
    #[schema(nullable = false, format = Int32, minimum = 0, maximum = 90)]
    #[serde(default, deserialize_with = "crate::routes::optional_integer")]
    #[validate(range(min = 0, max = 90))]
    pub baseline_days: Option<i32>,
    /// `spike` rules, 1 to 100.
    #[schema(nullable = false, format = Double, minimum = 1, maximum = 100)]
    #[validate(range(min = 1.0, max = 100.0))]
    pub baseline_factor: Option<f64>,
    /// `repeat` rules.
    #[schema(nullable = false)]
    pub repeat_by: Option<RepeatBy>,
    /// `repeat` rules, 1 to 365.
    #[schema(nullable = false, format = Int32, minimum = 1, maximum = 365)]
    #[serde(default, deserialize_with = "crate::routes::optional_integer")]
    #[validate(range(min = 1, max = 365))]
    pub window_days: Option<i32>,
    #[schema(nullable = false)]
    pub active: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Checking a rule's fields against its kind

/// The kind-specific fields of a request.
#[derive(Debug, Default, Clone)]
struct KindFields {
    keywords: Option<Vec<Keyword>>,
    threshold: Option<i32>,
    window_hours: Option<i32>,
    baseline_days: Option<i32>,
    baseline_factor: Option<f64>,
    repeat_by: Option<RepeatBy>,
    window_days: Option<i32>,
}

fn in_range(errors: &mut Vec<FieldError>, field: &str, value: Option<i32>, (min, max): (i32, i32)) {
    if let Some(v) = value
        && !(min..=max).contains(&v)
    {
        errors.push(FieldError::new(
            field,
            "range",
            format!("must be between {min} and {max}"),
        ));
    }
}

/// Every problem with the kind-specific fields: fields of another kind (`not_applicable`),
/// values out of range, and (when creating) fields the kind needs (`required`).
fn check_kind_fields(kind: AlertRuleKind, f: &KindFields, creating: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let present = [
        ("keywords", f.keywords.is_some()),
        ("threshold", f.threshold.is_some()),
        ("window_hours", f.window_hours.is_some()),
        ("baseline_days", f.baseline_days.is_some()),
        ("baseline_factor", f.baseline_factor.is_some()),
        ("repeat_by", f.repeat_by.is_some()),
        ("window_days", f.window_days.is_some()),
    ];
    let (fields, required): (&[&str], &[&str]) = match kind {
        AlertRuleKind::Keyword => (&["keywords"], &["keywords"]),
        AlertRuleKind::Spike => (
            &[
                "threshold",
                "window_hours",
                "baseline_days",
                "baseline_factor",
            ],
            &["threshold", "window_hours"],
        ),
        AlertRuleKind::Repeat => (
            &["threshold", "repeat_by", "window_days"],
            &["threshold", "repeat_by", "window_days"],
        ),
    };
    for (name, given) in present {
        if given && !fields.contains(&name) {
            errors.push(FieldError::new(
                name,
                "not_applicable",
                format!("does not apply to {kind} rules"),
            ));
        } else if !given && creating && required.contains(&name) {
            errors.push(FieldError::new(
                name,
                "required",
                format!("is required for {kind} rules"),
            ));
        }
    }
    if let Some(k) = &f.keywords
        && kind == AlertRuleKind::Keyword
        && clean_keywords(k).is_empty()
    {
        errors.push(FieldError::new(
            "keywords",
            "length",
            "a keyword rule needs at least one keyword",
        ));
    }
    match kind {
        AlertRuleKind::Spike => {
            in_range(&mut errors, "threshold", f.threshold, SPIKE_THRESHOLD);
            in_range(&mut errors, "window_hours", f.window_hours, WINDOW_HOURS);
            in_range(&mut errors, "baseline_days", f.baseline_days, BASELINE_DAYS);
            if let Some(x) = f.baseline_factor
                && !(x.is_finite() && (BASELINE_FACTOR.0..=BASELINE_FACTOR.1).contains(&x))
            {
                errors.push(FieldError::new(
                    "baseline_factor",
                    "range",
                    format!(
                        "must be between {} and {}",
                        BASELINE_FACTOR.0, BASELINE_FACTOR.1
                    ),
                ));
            }
        }
        AlertRuleKind::Repeat => {
            in_range(&mut errors, "threshold", f.threshold, REPEAT_THRESHOLD);
            in_range(&mut errors, "window_days", f.window_days, WINDOW_DAYS);
        }
        AlertRuleKind::Keyword => {}
    }
    errors
}

const SPIKE_NEEDS_A_SLICE: &str = "a spike rule watches a category, a region or both";

/// The region an analyst's rules must lie in: `None` for administrators (anywhere), else the
/// code and path of the analyst's region (403 without one).
fn rule_scope(
    conn: &mut PgConnection,
    p: &Principal,
) -> Result<Option<(String, String)>, ApiError> {
    match (p.role, &p.scope_region) {
        (Role::Admin, _) => Ok(None),
        (_, Some(code)) => Ok(Some((
            code.clone(),
            crate::store::regions::path_of(conn, code)?,
        ))),
        (_, None) => Err(ApiError::Forbidden(
            "your account has no region to keep alert rules for".into(),
        )),
    }
}

/// 403 unless `code` (an existing, active region) lies in the scope.
fn require_region_in_scope(
    conn: &mut PgConnection,
    scope: &Option<(String, String)>,
    code: &str,
) -> Result<(), ApiError> {
    let Some((scope_code, _)) = scope else {
        return Ok(());
    };
    crate::store::regions::require_active(conn, code, "region_code")?;
    let path = crate::store::regions::path_of(conn, code)?;
    if in_region(&path, scope_code) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "the rule would watch messages outside your region {scope_code}"
        )))
    }
}

fn parse_rule_id(raw: &str) -> Result<AlertRuleId, ApiError> {
    parse_path_id::<AlertRuleId>(raw, "alert rule")
}

// ---------------------------------------------------------------------------------------------
// Rules

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListAlertRulesQuery {
    #[param(inline)]
    pub kind: Option<AlertRuleKind>,
    pub active: Option<bool>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// List the alert rules, oldest first.
#[utoipa::path(
    operation_id = "list_alert_rules",
    tag = "alerts",
    params(ListAlertRulesQuery),
    responses((status = 200, description = "A page of alert rules", body = AlertRulePage))
)]
#[get("/alert-rules")]
pub async fn list_alert_rules(
    db: web::Data<Db>,
    _principal: Principal,
    query: ApiQuery<ListAlertRulesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page: PageRequest<AlertRuleId> = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let limit = page.limit;
    let filter = store::RuleFilter {
        kind: q.kind,
        active: q.active,
    };
    let rows = db
        .run(move |conn| store::list_rules(conn, &filter, &page))
        .await?;
    let (rows, next_cursor) = finish_page(rows, limit, |r| r.id);
    Ok(HttpResponse::Ok().json(AlertRulePage {
        items: rows.into_iter().map(AlertRuleDto::from).collect(),
        next_cursor,
    }))
}

/// Read an alert rule.
#[utoipa::path(
    operation_id = "get_alert_rule",
    tag = "alerts",
    params(("id" = String, Path, format = Uuid, description = "Alert rule id")),
    responses(
        (status = 200, description = "The rule", body = AlertRuleDto,
            headers(("ETag" = String, description = "Version of the rule"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such rule", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[get("/alert-rules/{id}")]
pub async fn get_alert_rule(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_rule_id(&id)?;
    let rule = db.run(move |conn| store::get_rule(conn, id)).await?;
    respond_with_etag(
        &req,
        rule.version,
        &AlertRuleDto::from(rule),
        HttpResponse::Ok(),
    )
}

/// Create an alert rule. One schema per `kind`; a field of another kind is refused (422
/// `not_applicable`). An analyst's rule lies in the analyst's region (the default when
/// `region_code` is left out; 403 for a region outside it).
#[utoipa::path(
    operation_id = "create_alert_rule",
    tag = "alerts",
    request_body = NewAlertRule,
    responses(
        (status = 201, description = "The rule was created (active)", body = AlertRuleDto,
            headers(("Location" = String, description = "URL of the new rule"),
                    ("ETag" = String, description = "Version of the rule"))),
        (status = 403, description = "Not an analyst or administrator, or the region lies outside the analyst's", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[post("/alert-rules")]
pub async fn create_alert_rule(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    body: ApiJson<CreateAlertRule>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let name = crate::routes::clean_name(&b.name, "name", 100);
    let fields = KindFields {
        keywords: b.keywords,
        threshold: b.threshold,
        window_hours: b.window_hours,
        baseline_days: b.baseline_days,
        baseline_factor: b.baseline_factor,
        repeat_by: b.repeat_by,
        window_days: b.window_days,
    };
    let mut errors = check_kind_fields(b.kind, &fields, true);
    if b.kind == AlertRuleKind::Spike && b.category_id.is_none() && b.region_code.is_none() {
        errors.push(FieldError::new(
            "category_id",
            "required",
            SPIKE_NEEDS_A_SLICE,
        ));
    }
    let name = match name {
        Ok(n) => n,
        Err(ApiError::Validation { errors: e, .. }) => {
            errors.extend(e);
            String::new()
        }
        Err(other) => return Err(other),
    };
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(ApiError::validation(errors));
    }
    let spike = b.kind == AlertRuleKind::Spike;
    let now = crate::http::now(&req);
    let mut rule = AlertRule {
        id: AlertRuleId::new(),
        name,
        kind: b.kind,
        keywords: fields
            .keywords
            .as_deref()
            .map(clean_keywords)
            .unwrap_or_default(),
        category_id: b.category_id,
        region_code: b.region_code,
        region_path: None,
        threshold: fields.threshold,
        window_hours: fields.window_hours,
        baseline_days: spike.then(|| fields.baseline_days.unwrap_or(DEFAULT_BASELINE_DAYS)),
        baseline_factor: spike.then(|| fields.baseline_factor.unwrap_or(DEFAULT_BASELINE_FACTOR)),
        repeat_by: fields.repeat_by,
        window_days: fields.window_days,
        active: true,
        created_by: Some(principal.user_id),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let p = principal.clone();
    let rule = db
        .run(move |conn| {
            let scope = rule_scope(conn, &p)?;
            match (&rule.region_code, &scope) {
                (Some(code), _) => require_region_in_scope(conn, &scope, code)?,
                (None, Some((code, _))) => rule.region_code = Some(code.clone()),
                (None, None) => {}
            }
            store::insert_rule(conn, &rule)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/alert-rules/{}", rule.id)))
        .insert_header((header::ETAG, etag(rule.version)))
        .json(AlertRuleDto::from(rule)))
}

/// Change an alert rule (its kind stays), or deactivate it with `active: false`. Only the fields
/// of the rule's kind may be sent (422 `not_applicable`). Requires `If-Match`. Analysts change
/// the rules of their region only.
#[utoipa::path(
    operation_id = "update_alert_rule",
    tag = "alerts",
    params(
        ("id" = String, Path, format = Uuid, description = "Alert rule id"),
        ("If-Match" = String, Header, description = "ETag of the version you read")
    ),
    request_body = UpdateAlertRule,
    responses(
        (status = 200, description = "The changed rule", body = AlertRuleDto,
            headers(("ETag" = String, description = "New version of the rule"))),
        (status = 403, description = "Not an analyst or administrator, or the rule lies outside the analyst's region", body = crate::error::Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "No such rule", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[patch("/alert-rules/{id}")]
pub async fn update_alert_rule(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<UpdateAlertRule>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_rule_id(&id)?;
    let cond = IfMatchCondition::from_request(&req, IfMatch::Required)?;
    let b = body.into_inner();
    if let Some(Some(code)) = &b.region_code
        && let Err(e) = validate_region_code(code)
    {
        return Err(ApiError::field(
            "region_code",
            "format",
            e.message.map(|m| m.to_string()).unwrap_or_default(),
        ));
    }
    let name = b
        .name
        .as_deref()
        .map(|n| crate::routes::clean_name(n, "name", 100))
        .transpose()?;
    let fields = KindFields {
        keywords: b.keywords,
        threshold: b.threshold,
        window_hours: b.window_hours,
        baseline_days: b.baseline_days,
        baseline_factor: b.baseline_factor,
        repeat_by: b.repeat_by,
        window_days: b.window_days,
    };
    crate::routes::require_some_change(
        name.is_some()
            || fields.keywords.is_some()
            || b.category_id.is_some()
            || b.region_code.is_some()
            || fields.threshold.is_some()
            || fields.window_hours.is_some()
            || fields.baseline_days.is_some()
            || fields.baseline_factor.is_some()
            || fields.repeat_by.is_some()
            || fields.window_days.is_some()
            || b.active.is_some(),
    )?;
    let now = crate::http::now(&req);
    let p = principal.clone();
    let (category_id, region_code, active) = (b.category_id, b.region_code, b.active);
    let rule = db
        .run(move |conn| {
            store::update_rule(conn, id, &cond, now, |conn, current| {
                let scope = rule_scope(conn, &p)?;
                if let Some((code, path)) = &scope
                    && !current
                        .region_path
                        .as_deref()
                        .is_some_and(|r| r.starts_with(path.as_str()))
                {
                    return Err(ApiError::Forbidden(format!(
                        "this rule watches messages outside your region {code}"
                    )));
                }
                match (&region_code, &scope) {
                    (Some(Some(code)), _) => require_region_in_scope(conn, &scope, code)?,
                    (Some(None), Some((code, _))) => {
                        return Err(ApiError::Forbidden(format!(
                            "your rules stay inside your region {code}"
                        )));
                    }
                    _ => {}
                }
                let mut errors = check_kind_fields(current.kind, &fields, false);
                let category_after = category_id.unwrap_or(current.category_id);
                let region_after = region_code.clone().unwrap_or(current.region_code.clone());
                if current.kind == AlertRuleKind::Spike
                    && category_after.is_none()
                    && region_after.is_none()
                {
                    let field = if category_id == Some(None) {
                        "category_id"
                    } else {
                        "region_code"
                    };
                    errors.push(FieldError::new(field, "required", SPIKE_NEEDS_A_SLICE));
                }
                if !errors.is_empty() {
                    errors.sort_by(|a, b| a.field.cmp(&b.field));
                    return Err(ApiError::validation(errors));
                }
                Ok(AlertRuleChanges {
                    name: name.clone(),
                    keywords: fields.keywords.as_deref().map(clean_keywords),
                    category_id,
                    region_code: region_code.clone(),
                    region_path: None,
                    threshold: fields.threshold,
                    window_hours: fields.window_hours,
                    baseline_days: fields.baseline_days,
                    baseline_factor: fields.baseline_factor,
                    repeat_by: fields.repeat_by,
                    window_days: fields.window_days,
                    active,
                })
            })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(rule.version)))
        .json(AlertRuleDto::from(rule)))
}
#[cfg(test)]
mod tests {
    use super::*;

    fn fields(f: impl FnOnce(&mut KindFields)) -> KindFields {
        let mut k = KindFields::default();
        f(&mut k);
        k
    }

    fn names(errors: &[FieldError]) -> Vec<(&str, &str)> {
        errors
            .iter()
            .map(|e| (e.field.as_str(), e.code.as_str()))
            .collect()
    }

    #[test]
    fn each_kind_needs_its_fields_and_refuses_the_others() {
        let keyword = fields(|f| f.keywords = Some(vec![Keyword("集体上访".into())]));
        assert!(check_kind_fields(AlertRuleKind::Keyword, &keyword, true).is_empty());
        assert_eq!(
            names(&check_kind_fields(AlertRuleKind::Spike, &keyword, true)),
            vec![
                ("keywords", "not_applicable"),
                ("threshold", "required"),
                ("window_hours", "required")
            ]
        );
        let spike = fields(|f| {
            f.threshold = Some(10);
            f.window_hours = Some(24);
        });
        assert!(check_kind_fields(AlertRuleKind::Spike, &spike, true).is_empty());
        assert_eq!(
            names(&check_kind_fields(AlertRuleKind::Repeat, &spike, true)),
            vec![
                ("window_hours", "not_applicable"),
                ("repeat_by", "required"),
                ("window_days", "required")
            ]
        );
        // Updates need nothing, but what they send must fit.
        assert!(check_kind_fields(AlertRuleKind::Repeat, &KindFields::default(), false).is_empty());
        assert_eq!(
            names(&check_kind_fields(
                AlertRuleKind::Keyword,
                &fields(|f| f.baseline_factor = Some(2.0)),
                false
            )),
            vec![("baseline_factor", "not_applicable")]
        );
    }

    #[test]
    fn ranges_depend_on_the_kind() {
        let bad = fields(|f| {
            f.threshold = Some(1);
            f.window_hours = Some(0);
            f.baseline_days = Some(91);
            f.baseline_factor = Some(f64::NAN);
        });
        assert_eq!(
            names(&check_kind_fields(AlertRuleKind::Spike, &bad, false)),
            vec![
                ("window_hours", "range"),
                ("baseline_days", "range"),
                ("baseline_factor", "range")
            ]
        );
        // One message is a spike threshold, not a repetition.
        let repeat = fields(|f| {
            f.threshold = Some(1);
            f.window_days = Some(366);
        });
        assert_eq!(
            names(&check_kind_fields(AlertRuleKind::Repeat, &repeat, false)),
            vec![("threshold", "range"), ("window_days", "range")]
        );
        // (Blank keywords are refused by `validate_keywords` before.)
        let blank = fields(|f| f.keywords = Some(vec![]));
        assert_eq!(
            names(&check_kind_fields(AlertRuleKind::Keyword, &blank, false)),
            vec![("keywords", "length")]
        );
    }
}
