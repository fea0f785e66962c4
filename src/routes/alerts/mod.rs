//! Early warning (预警): the alert rules analysts keep (keywords, spikes of a category or region,
//! repeated messages of one author or address) and the alerts they raise, which supervisors,
//! analysts and leaders read and acknowledge. Evaluation itself is `store::alerts`: at intake
//! (message creation and resubmission) and in the scheduler.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::app::access::handling_scope;
use crate::auth::Principal;
use crate::db::Db;
use crate::domain::alerts::{AlertRuleKind, AlertStatus, last_code};
use crate::domain::ids::{AlertId, AlertRuleId, UserId};
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery, parse_path_id};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag, respond_with_etag};
use crate::store::alerts::{self as store, Link, NamedAlert};

pub mod rules;

fn parse_alert_id(raw: &str) -> Result<AlertId, ApiError> {
    parse_path_id::<AlertId>(raw, "alert")
}

/// Linked messages shown with an alert (the newest links).
const MAX_SHOWN_LINKS: i64 = 200;

// ---------------------------------------------------------------------------------------------
// Alerts

/// An alert raised by a rule.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b0a", "rule_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b09",
    "rule_name": "集体上访预警", "kind": "keyword", "status": "open",
    "summary": "集体上访预警: “集体上访” in GS-2026-000123",
    "details": {"message_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0c01", "tracking_no": "GS-2026-000123",
                "matched_keywords": ["集体上访"], "marked_important": true},
    "region_code": "620102", "window_start": null, "window_end": null, "message_count": 1,
    "raised_at": "2026-11-26T08:00:00Z", "acknowledged_by": null, "acknowledged_at": null,
    "acknowledgement_note": null, "version": 1
}))]
pub struct AlertDto {
    pub id: AlertId,
    pub rule_id: AlertRuleId,
    #[schema(max_length = 100)]
    pub rule_name: String,
    pub kind: AlertRuleKind,
    pub status: AlertStatus,
    /// One line for a list.
    #[schema(max_length = 500)]
    pub summary: String,
    /// What fired, by kind: `matched_keywords` (keyword); `count`, `threshold`, `window_hours`,
    /// `baseline_days`, `baseline_average`, `baseline_factor` (spike); `repeat_by`, `author_id`
    /// or `address`, `count`, `threshold`, `window_days` (repeat).
    #[schema(value_type = Object)]
    pub details: Value,
    /// The deepest region containing every linked message.
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub region_code: Option<String>,
    /// The window counted (spike and repeat).
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
    /// Messages linked to the alert.
    #[schema(format = Int32, minimum = 0)]
    pub message_count: i32,
    pub raised_at: DateTime<Utc>,
    pub acknowledged_by: Option<UserId>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[schema(max_length = 1000)]
    pub acknowledgement_note: Option<String>,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
}

impl From<NamedAlert> for AlertDto {
    fn from((a, rule_name): NamedAlert) -> Self {
        AlertDto {
            region_code: last_code(&a.region_path).map(str::to_owned),
            id: a.id,
            rule_id: a.rule_id,
            rule_name,
            kind: a.kind,
            status: a.status,
            summary: a.summary,
            details: a.details,
            window_start: a.window_start,
            window_end: a.window_end,
            message_count: a.message_count,
            raised_at: a.raised_at,
            acknowledged_by: a.acknowledged_by,
            acknowledged_at: a.acknowledged_at,
            acknowledgement_note: a.acknowledgement_note,
            version: a.version,
        }
    }
}

crate::page_type!(AlertPage, AlertDto, "A page of alerts, newest first.");

/// A message an alert is about.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LinkedMessage {
    #[schema(value_type = String, format = Uuid)]
    pub message_id: uuid::Uuid,
    #[schema(max_length = 30)]
    pub tracking_no: String,
    pub linked_at: DateTime<Utc>,
}

impl From<Link> for LinkedMessage {
    fn from(l: Link) -> Self {
        LinkedMessage {
            message_id: l.message_id,
            tracking_no: l.tracking_no,
            linked_at: l.linked_at,
        }
    }
}

/// An alert with the messages it is about.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertDetail {
    #[serde(flatten)]
    pub alert: AlertDto,
    /// The linked messages, newest link first (at most 200; `message_count` has them all).
    #[schema(max_items = 200)]
    pub messages: Vec<LinkedMessage>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListAlertsQuery {
    #[param(inline)]
    pub status: Option<AlertStatus>,
    pub rule_id: Option<AlertRuleId>,
    #[param(inline)]
    pub kind: Option<AlertRuleKind>,
    /// Raised at or after (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// Alerts, newest first: supervisors, analysts and leaders see those in their region subtree
/// (an alert lies in the deepest region containing all its messages), administrators all.
#[utoipa::path(
    operation_id = "list_alerts",
    tag = "alerts",
    params(ListAlertsQuery),
    responses((status = 200, description = "A page of alerts", body = AlertPage))
)]
#[get("/alerts")]
pub async fn list_alerts(
    db: web::Data<Db>,
    principal: Principal,
    query: ApiQuery<ListAlertsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page: PageRequest<store::AlertCursor> = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let limit = page.limit;
    let p = principal.clone();
    let rows = db
        .run(move |conn| {
            let scope = handling_scope(conn, &p)?;
            let filter = store::AlertFilter {
                status: q.status,
                rule_id: q.rule_id,
                kind: q.kind,
                since: q.since,
            };
            store::list_alerts(conn, &scope, &filter, &page)
        })
        .await?;
    let (rows, next_cursor) = finish_page(rows, limit, |(a, _)| (a.raised_at, a.id));
    Ok(HttpResponse::Ok().json(AlertPage {
        items: rows.into_iter().map(AlertDto::from).collect(),
        next_cursor,
    }))
}

/// The alert, if the caller's scope covers it (404 otherwise).
fn visible_alert(
    conn: &mut PgConnection,
    p: &Principal,
    id: AlertId,
) -> Result<NamedAlert, ApiError> {
    let alert = store::get_alert(conn, id)?.ok_or_else(|| ApiError::not_found("alert"))?;
    if handling_scope(conn, p)?.covers(&alert.0.region_path, &[]) {
        Ok(alert)
    } else {
        Err(ApiError::not_found("alert"))
    }
}

/// Read an alert with the messages it is about (ids and tracking numbers).
#[utoipa::path(
    operation_id = "get_alert",
    tag = "alerts",
    params(("id" = String, Path, format = Uuid, description = "Alert id")),
    responses(
        (status = 200, description = "The alert", body = AlertDetail,
            headers(("ETag" = String, description = "Version of the alert"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such alert, or not in your region", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[get("/alerts/{id}")]
pub async fn get_alert(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_alert_id(&id)?;
    let p = principal.clone();
    let detail = db
        .run(move |conn| {
            let alert = visible_alert(conn, &p, id)?;
            let links = store::links(conn, id, MAX_SHOWN_LINKS)?;
            Ok::<_, ApiError>(AlertDetail {
                alert: alert.into(),
                messages: links.into_iter().map(LinkedMessage::from).collect(),
            })
        })
        .await?;
    respond_with_etag(&req, detail.alert.version, &detail, HttpResponse::Ok())
}

/// Acknowledging an alert.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "已通知城关区政府核实，并安排信访接待"}))]
pub struct AcknowledgeAlert {
    /// What was done or decided, 1 to 1000 characters.
    #[schema(
        min_length = 1,
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 1000),
        custom(function = "crate::domain::validate_text")
    )]
    pub note: String,
}

/// Acknowledge an open alert with a note (supervisors and analysts of its region,
/// administrators). 409 when it is already acknowledged.
#[utoipa::path(
    operation_id = "acknowledge_alert",
    tag = "alerts",
    params(
        ("id" = String, Path, format = Uuid, description = "Alert id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the alert you read")
    ),
    request_body = AcknowledgeAlert,
    responses(
        (status = 200, description = "The acknowledged alert", body = AlertDto,
            headers(("ETag" = String, description = "New version of the alert"))),
        (status = 404, description = "No such alert, or not in your region", body = crate::error::Problem,
            content_type = "application/problem+json"),
        (status = 409, description = "The alert is already acknowledged", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[post("/alerts/{id}/acknowledge")]
pub async fn acknowledge_alert(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<AcknowledgeAlert>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_alert_id(&id)?;
    let cond = IfMatchCondition::from_request(&req, IfMatch::Optional)?;
    let note = body.into_inner().note.trim().to_owned();
    if note.is_empty() {
        return Err(ApiError::field("note", "length", "must not be blank"));
    }
    let now = crate::http::now(&req);
    let p = principal.clone();
    let dto = db
        .run(move |conn| {
            let scope = handling_scope(conn, &p)?;
            store::acknowledge(conn, id, p.user_id, &note, now, |a| {
                if !scope.covers(&a.region_path, &[]) {
                    return Err(ApiError::not_found("alert"));
                }
                cond.check(a.version)
            })
            .map(AlertDto::from)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(dto.version)))
        .json(dto))
}
