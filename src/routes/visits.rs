//! Return visits (回访) and on-site checks: supervisors pick handled messages by hand or by a
//! reproducible random sample per unit, then record what each visit found. A visit that finds
//! the matter not resolved can send the message back to its unit.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::Connection as _;
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::app::access::handling_scope;
use crate::app::reopen::{ReopenCause, reopen_in};
use crate::app::transition::{self, StepOutcome};
use crate::auth::Principal;
use crate::db::Db;
use crate::domain::calendar::{local_date, start_of_local_day};
use crate::domain::ids::{UnitId, UserId, VisitId};
use crate::domain::message::MessageAction;
use crate::domain::reply::{VisitFinding, VisitKind, VisitMethod, VisitSelection, VisitStatus};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery, parse_path_id};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag};
use crate::store::messages::{Message, MessageChanges};
use crate::store::visits::{self as store, Visit};

// ---------------------------------------------------------------------------------------------
// Wire types

/// A return visit or on-site check, planned and (once done) what it found.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b08", "message_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0c01",
    "unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c", "kind": "return_visit", "status": "done",
    "selection": "sampled", "sample_seed": 20261126, "note": "",
    "planned_by": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1d", "planned_at": "2026-11-26T02:00:00Z",
    "visited_on": "2026-11-28", "method": "phone", "visitor": "督查室 李明", "finding": "resolved",
    "notes": "群众表示信号灯已正常", "reopened": false,
    "recorded_by": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1d", "recorded_at": "2026-11-28T08:00:00Z", "version": 2
}))]
pub struct VisitDto {
    pub id: VisitId,
    #[schema(value_type = String, format = Uuid)]
    pub message_id: uuid::Uuid,
    /// The unit whose handling is verified (of the final reply).
    pub unit_id: UnitId,
    pub kind: VisitKind,
    pub status: VisitStatus,
    pub selection: VisitSelection,
    /// The seed of the sample that picked it.
    #[schema(format = Int64)]
    pub sample_seed: Option<i64>,
    #[schema(max_length = 500)]
    pub note: String,
    pub planned_by: UserId,
    pub planned_at: DateTime<Utc>,
    pub visited_on: Option<NaiveDate>,
    pub method: Option<VisitMethod>,
    #[schema(max_length = 100)]
    pub visitor: Option<String>,
    pub finding: Option<VisitFinding>,
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
    /// The finding sent the message back to its unit.
    pub reopened: bool,
    pub recorded_by: Option<UserId>,
    pub recorded_at: Option<DateTime<Utc>>,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
}

impl From<Visit> for VisitDto {
    fn from(v: Visit) -> Self {
        VisitDto {
            id: v.id,
            message_id: v.message_id,
            unit_id: v.unit_id,
            kind: v.kind,
            status: v.status,
            selection: v.selection,
            sample_seed: v.sample_seed,
            note: v.note,
            planned_by: v.planned_by,
            planned_at: v.planned_at,
            visited_on: v.visited_on,
            method: v.method,
            visitor: v.visitor,
            finding: v.finding,
            notes: v.notes,
            reopened: v.reopened,
            recorded_by: v.recorded_by,
            recorded_at: v.recorded_at,
            version: v.version,
        }
    }
}

crate::page_type!(VisitPage, VisitDto, "A page of return visits.");

/// Plan a visit of one message.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "message_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0c01", "kind": "on_site_check",
    "note": "群众不满意，实地核查"
}))]
pub struct CreateVisit {
    #[schema(value_type = String, format = Uuid)]
    pub message_id: uuid::Uuid,
    pub kind: VisitKind,
    #[schema(
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 500), custom(function = "crate::domain::validate_text"))]
    pub note: Option<String>,
}

/// Sample handled messages for visits: up to `per_unit` per unit among the messages whose final
/// reply was published between `from` and `to` (local dates, inclusive).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "from": "2026-11-01", "to": "2026-11-30", "per_unit": 3, "seed": 20261126,
    "kind": "return_visit", "region_code": "620100"
}))]
pub struct SampleVisits {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Messages per unit, 1 to 50.
    #[schema(format = Int32, minimum = 1, maximum = 50)]
    #[serde(deserialize_with = "crate::routes::integer")]
    #[validate(range(min = 1, max = 50))]
    pub per_unit: i32,
    /// Any number; the same seed over the same handled messages picks the same ones.
    #[schema(format = Int64)]
    #[serde(deserialize_with = "crate::routes::integer64")]
    pub seed: i64,
    pub kind: VisitKind,
    /// Only this region subtree (default: the supervisor's whole scope).
    #[schema(min_length = 6, max_length = 6, pattern = r"^[0-9]{6}$")]
    #[validate(custom(function = "crate::http::validate::validate_region_code"))]
    pub region_code: Option<String>,
    /// Only this unit.
    pub unit_id: Option<UnitId>,
}

/// The sampled messages' visits (new plans, and plans that already existed for them).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SampleResult {
    #[schema(format = Int64)]
    pub seed: i64,
    /// Newly planned.
    #[schema(format = Int32, minimum = 0)]
    pub planned: i32,
    /// Picked, but a visit of the message was already planned (listed as it is).
    #[schema(format = Int32, minimum = 0)]
    pub already_planned: i32,
    /// By unit, in sample order.
    #[schema(max_items = 10000)]
    pub items: Vec<VisitDto>,
}

/// What the visit found.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "visited_on": "2026-11-28", "method": "on_site", "visitor": "督查室 李明",
    "finding": "not_resolved", "notes": "现场查看，信号灯仍然闪烁", "reopen": true
}))]
pub struct RecordVisit {
    /// Not in the future.
    pub visited_on: NaiveDate,
    pub method: VisitMethod,
    /// Who visited (name and office).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 100),
        custom(function = "crate::domain::validate_line")
    )]
    pub visitor: String,
    pub finding: VisitFinding,
    #[schema(
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 2000), custom(function = "crate::domain::validate_text"))]
    pub notes: Option<String>,
    /// With `not_resolved`: send the message back to its unit with a new reply deadline.
    #[serde(default)]
    pub reopen: bool,
}

// ---------------------------------------------------------------------------------------------
// Planning

fn parse_visit_id(raw: &str) -> Result<VisitId, ApiError> {
    parse_path_id::<VisitId>(raw, "return visit")
}

/// How a visit comes to be planned.
struct Plan<'a> {
    kind: VisitKind,
    selection: VisitSelection,
    seed: Option<i64>,
    note: &'a str,
}

/// Plan a visit of `m` inside its `plan_visit` step.
fn plan_in(
    conn: &mut PgConnection,
    m: &Message,
    plan: Plan<'_>,
    by: UserId,
    now: DateTime<Utc>,
) -> Result<StepOutcome<Visit>, ApiError> {
    let Plan {
        kind,
        selection,
        seed,
        note,
    } = plan;
    let last = crate::store::replies::latest_final(conn, m.id)?
        .ok_or_else(|| ApiError::Conflict("the message has no final reply to verify".into()))?;
    let visit = Visit {
        id: VisitId::new(),
        message_id: m.id,
        unit_id: last.unit_id,
        region_path: m.region_path.clone(),
        kind,
        status: VisitStatus::Planned,
        selection,
        sample_seed: seed,
        note: note.to_owned(),
        planned_by: by,
        planned_at: now,
        visited_on: None,
        method: None,
        visitor: None,
        finding: None,
        notes: None,
        reopened: false,
        recorded_by: None,
        recorded_at: None,
        version: 1,
    };
    store::insert(conn, &visit)?;
    Ok(StepOutcome {
        changes: MessageChanges::default(),
        payload: json!({
            "visit_id": visit.id, "kind": kind, "selection": selection, "seed": seed,
            "unit_id": visit.unit_id,
        }),
        result: visit,
    })
}

fn created(dto: &VisitDto) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/return-visits/{}", dto.id),
        ))
        .insert_header((header::ETAG, etag(dto.version)))
        .json(dto)
}

/// Plan a return visit or on-site check of a replied or closed message (a supervisor of its
/// region).
#[utoipa::path(
    operation_id = "create_visit",
    tag = "feedback",
    request_body = CreateVisit,
    responses(
        (status = 201, description = "The planned visit", body = VisitDto,
         headers(("Location" = String, description = "URL of the visit"), ("ETag" = String, description = "Its version"))),
        (status = 403, description = "Not a supervisor of the message's region", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not handled yet, or a visit is already planned", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/return-visits")]
pub async fn create_visit(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    body: ApiJson<CreateVisit>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let note = body.note.map(|n| n.trim().to_owned()).unwrap_or_default();
    let now = crate::http::now(&req);
    let p = principal.clone();
    let dto = db
        .run(move |conn| {
            conn.transaction(|conn| {
                transition::run(
                    conn,
                    &p,
                    body.message_id,
                    &IfMatchCondition::none(),
                    MessageAction::PlanVisit,
                    now,
                    None,
                    |conn, m, _, _| {
                        plan_in(
                            conn,
                            m,
                            Plan {
                                kind: body.kind,
                                selection: VisitSelection::Manual,
                                seed: None,
                                note: &note,
                            },
                            p.user_id,
                            now,
                        )
                    },
                )
                .map(|(_, v)| VisitDto::from(v))
            })
        })
        .await?;
    Ok(created(&dto))
}

/// Sample handled messages for visits, at random but reproducibly: each message's place in the
/// draw is the MD5 of `seed:message_id`, so the same seed over the same handled messages picks
/// the same ones. Up to `per_unit` messages per unit whose final reply was published in the
/// period (and which are still replied or closed), within the supervisor's region. Each picked
/// message gets a planned visit (a message already planned keeps its plan).
#[utoipa::path(
    operation_id = "sample_visits",
    tag = "feedback",
    request_body = SampleVisits,
    responses(
        (status = 200, description = "The sample", body = SampleResult),
        (status = 403, description = "Not a supervisor, or the region lies outside the supervisor's scope", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/return-visit-samples")]
pub async fn sample_visits(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    body: ApiJson<SampleVisits>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.to < body.from {
        return Err(ApiError::field("to", "range", "must not be before `from`"));
    }
    if (body.to - body.from).num_days() > 366 {
        return Err(ApiError::field("to", "range", "a period is at most a year"));
    }
    let from = start_of_local_day(body.from);
    let to = start_of_local_day(body.to + Duration::days(1));
    let now = crate::http::now(&req);
    let p = principal.clone();
    let result = db
        .run(move |conn| {
            let prefix = match (&body.region_code, p.role, p.scope_region.as_deref()) {
                (Some(code), Role::Supervisor, Some(scope)) => {
                    let path = crate::store::regions::path_of(conn, code)
                        .map_err(|e| e.missing_as_field("region_code", "no such region"))?;
                    if !crate::auth::policy::in_region(&path, scope) {
                        return Err(ApiError::Forbidden(
                            "the region lies outside your scope".into(),
                        ));
                    }
                    Some(path)
                }
                (Some(code), _, _) => Some(
                    crate::store::regions::path_of(conn, code)
                        .map_err(|e| e.missing_as_field("region_code", "no such region"))?,
                ),
                (None, Role::Admin, _) => None,
                (None, _, Some(scope)) => Some(crate::store::regions::path_of(conn, scope)?),
                (None, _, None) => {
                    return Err(ApiError::Forbidden(
                        "your account has no region scope".into(),
                    ));
                }
            };
            let picked = store::sample(
                conn,
                from,
                to,
                i64::from(body.per_unit),
                body.seed,
                prefix.as_deref(),
                body.unit_id,
            )?;
            let mut result = SampleResult {
                seed: body.seed,
                planned: 0,
                already_planned: 0,
                items: Vec::with_capacity(picked.len()),
            };
            for c in picked {
                // One transaction per message: a sample of hundreds holds no lock for long.
                let visit = conn.transaction(|conn| {
                    if let Some(existing) = store::planned_of(conn, c.message_id)? {
                        return Ok::<_, ApiError>((existing, false));
                    }
                    transition::run(
                        conn,
                        &p,
                        c.message_id,
                        &IfMatchCondition::none(),
                        MessageAction::PlanVisit,
                        now,
                        None,
                        |conn, m, _, _| {
                            plan_in(
                                conn,
                                m,
                                Plan {
                                    kind: body.kind,
                                    selection: VisitSelection::Sampled,
                                    seed: Some(body.seed),
                                    note: "",
                                },
                                p.user_id,
                                now,
                            )
                        },
                    )
                    .map(|(_, v)| (v, true))
                })?;
                if visit.1 {
                    result.planned += 1;
                } else {
                    result.already_planned += 1;
                }
                result.items.push(visit.0.into());
            }
            Ok::<_, ApiError>(result)
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

// ---------------------------------------------------------------------------------------------
// Recording

/// Record what a planned visit found (a supervisor of the message's region). With
/// `finding=not_resolved` and `reopen=true` the message goes back to its unit with a new reply
/// deadline (both steps in the ledger, in one transaction).
#[utoipa::path(
    operation_id = "record_visit",
    tag = "feedback",
    params(
        ("id" = String, Path, format = Uuid, description = "Visit id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the visit you read")
    ),
    request_body = RecordVisit,
    responses(
        (status = 200, description = "The recorded visit", body = VisitDto, headers(("ETag" = String, description = "New version"))),
        (status = 403, description = "Not a supervisor of the message's region", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such visit, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The visit is already recorded, or the message was reopened meanwhile", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The visit changed since you read it", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/return-visits/{id}/result")]
pub async fn record_visit(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<RecordVisit>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_visit_id(&id)?;
    let cond = IfMatchCondition::from_request(&req, IfMatch::Optional)?;
    let body = body.into_inner();
    let now = crate::http::now(&req);
    if body.visited_on > local_date(now) {
        return Err(ApiError::field(
            "visited_on",
            "range",
            "must not be in the future",
        ));
    }
    if body.reopen && body.finding != VisitFinding::NotResolved {
        return Err(ApiError::field(
            "reopen",
            "invalid_value",
            "only a visit that found the matter not resolved can reopen the message",
        ));
    }
    let notes = body.notes.map(|n| n.trim().to_owned()).unwrap_or_default();
    let visitor = body.visitor.trim().to_owned();
    let p = principal.clone();
    let dto = db
        .run(move |conn| {
            conn.transaction(|conn| {
                let before =
                    store::get(conn, id)?.ok_or_else(|| ApiError::not_found("return visit"))?;
                if !handling_scope(conn, &p)?.covers(&before.region_path, &[before.unit_id]) {
                    return Err(ApiError::not_found("return visit"));
                }
                let (_, visit) = transition::run(
                    conn,
                    &p,
                    before.message_id,
                    &IfMatchCondition::none(),
                    MessageAction::RecordVisit,
                    now,
                    None,
                    |conn, _, _, _| {
                        let v = store::get(conn, id)?
                            .ok_or_else(|| ApiError::not_found("return visit"))?;
                        cond.check(v.version)?;
                        if v.status != VisitStatus::Planned {
                            return Err(ApiError::Conflict(format!(
                                "the visit is `{}`; only a planned visit can be recorded",
                                v.status
                            )));
                        }
                        let v = store::record(
                            conn,
                            id,
                            &store::Record {
                                visited_on: body.visited_on,
                                method: body.method,
                                visitor: &visitor,
                                finding: body.finding,
                                notes: &notes,
                                reopened: body.reopen,
                                by: p.user_id,
                                at: now,
                            },
                        )?;
                        Ok(StepOutcome {
                            changes: MessageChanges::default(),
                            payload: json!({
                                "visit_id": v.id, "visited_on": v.visited_on, "method": v.method,
                                "finding": v.finding, "reopen": body.reopen,
                            }),
                            result: v,
                        })
                    },
                )?;
                if body.reopen {
                    let note = if notes.is_empty() {
                        "return visit: not resolved".to_owned()
                    } else {
                        notes.clone()
                    };
                    transition::run(
                        conn,
                        &p,
                        visit.message_id,
                        &IfMatchCondition::none(),
                        MessageAction::Reopen,
                        now,
                        None,
                        |conn, m, _, _| {
                            reopen_in(conn, m, p.user_id, &note, ReopenCause::Visit(id), now)
                        },
                    )?;
                }
                Ok::<_, ApiError>(VisitDto::from(visit))
            })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(dto.version)))
        .json(dto))
}

// ---------------------------------------------------------------------------------------------
// Reading

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListVisitsQuery {
    #[param(inline)]
    pub status: Option<VisitStatus>,
    #[param(inline)]
    pub finding: Option<VisitFinding>,
    pub unit_id: Option<UnitId>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub message_id: Option<uuid::Uuid>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// Visits, newest plan first: supervisors, analysts and leaders see their region subtree, unit
/// staff the visits of their unit's handling, administrators all.
#[utoipa::path(
    operation_id = "list_visits",
    tag = "feedback",
    params(ListVisitsQuery),
    responses(
        (status = 200, description = "A page of visits", body = VisitPage),
        (status = 403, description = "The account belongs to no unit", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/return-visits")]
pub async fn list_visits(
    db: web::Data<Db>,
    principal: Principal,
    query: ApiQuery<ListVisitsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page: PageRequest<store::Cursor> = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let limit = page.limit;
    let p = principal.clone();
    let (items, next_cursor) = db
        .run(move |conn| {
            let scope = handling_scope(conn, &p)?;
            let filter = store::Filter {
                status: q.status,
                finding: q.finding,
                unit_id: q.unit_id,
                message_id: q.message_id,
            };
            let rows = store::list(conn, &scope, &filter, &page)?;
            let (rows, next) = finish_page(rows, limit, |v| (v.planned_at, v.id));
            Ok::<_, ApiError>((rows.into_iter().map(VisitDto::from).collect(), next))
        })
        .await?;
    Ok(HttpResponse::Ok().json(VisitPage { items, next_cursor }))
}

/// Read a visit.
#[utoipa::path(
    operation_id = "get_visit",
    tag = "feedback",
    params(("id" = String, Path, format = Uuid, description = "Visit id")),
    responses(
        (status = 200, description = "The visit", body = VisitDto, headers(("ETag" = String, description = "Its version"))),
        (status = 404, description = "No such visit, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/return-visits/{id}")]
pub async fn get_visit(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_visit_id(&id)?;
    let p = principal.clone();
    let dto = db
        .run(move |conn| {
            let v = store::get(conn, id)?.ok_or_else(|| ApiError::not_found("return visit"))?;
            if !handling_scope(conn, &p)?.covers(&v.region_path, &[v.unit_id]) {
                return Err(ApiError::not_found("return visit"));
            }
            Ok::<_, ApiError>(VisitDto::from(v))
        })
        .await?;
    crate::http::preconditions::respond_with_etag(&req, dto.version, &dto, HttpResponse::Ok())
}
