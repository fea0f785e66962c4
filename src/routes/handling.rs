//! Handling: assignment to units, claims, sign-for, returns, transfers, co-handling
//! contributions, clarification requests and extension requests.
//!
//! Every step runs as a message transition: the message row is locked, the caller's standing
//! towards the message (author, liaison office, lead unit, co-handler, territorial unit,
//! supervisor, leader) is worked out, the status table decides, and the change, its deadlines
//! and its ledger event commit together.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use diesel::Connection as _;
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::app::access::{
    handling_scope, require_handling_view, require_readable, unit_handles_message,
};
use crate::app::transition::{self, StepOutcome};
use crate::auth::Principal;
use crate::db::Db;
use crate::domain::handling::{
    AssignmentOrigin, AssignmentRole, AssignmentStatus, DISPUTE_AFTER_RETURNS, DeadlineKind,
    ExtensionStatus, ReturnReason, extension_refusal,
};
use crate::domain::ids::{AssignmentId, ClarificationId, ExtensionId, UnitId, UserId};
use crate::domain::message::{Actor, MessageAction};
use crate::error::ApiError;
use crate::http::extract::parse_message_id;
use crate::http::extract::{ApiJson, ApiQuery, parse_path_id};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag};
use crate::routes::deadlines::{DeadlineDto, to_dtos};
use crate::store::assignments::{self as store, Assignment, AssignmentChanges, NewAssignment};
use crate::store::deadlines::{self as deadlines, Start};
use crate::store::messages::{self as messages, Message, MessageChanges};

/// The message id of an assignment the caller may read (404 when there is none, or when it is
/// not theirs to see).
fn message_of(
    conn: &mut PgConnection,
    p: &Principal,
    id: AssignmentId,
) -> Result<uuid::Uuid, ApiError> {
    let a = store::get(conn, id)?.ok_or_else(|| ApiError::not_found("assignment"))?;
    require_readable_assignment(conn, p, &a)?;
    Ok(a.message_id)
}

/// 404 unless the caller may read the assignment: its unit and intake unit, supervisors,
/// analysts and leaders of its region, and every unit handling the same message (co-handlers
/// see the lead's part, as in the message's list of assignments).
fn require_readable_assignment(
    conn: &mut PgConnection,
    p: &Principal,
    a: &Assignment,
) -> Result<(), ApiError> {
    if handling_scope(conn, p)?.covers(&a.region_path, &[a.unit_id, a.intake_unit_id])
        || unit_handles_message(conn, p, a.message_id)?
    {
        Ok(())
    } else {
        Err(ApiError::not_found("assignment"))
    }
}

/// 422 unless the unit exists and is active.
fn require_active_unit(conn: &mut PgConnection, id: UnitId, field: &str) -> Result<(), ApiError> {
    match crate::store::units::get(conn, id) {
        Ok(u) if u.active => Ok(()),
        Ok(_) => Err(ApiError::field(
            field,
            "inactive",
            "this unit is deactivated",
        )),
        Err(e) => Err(e.missing_as_field(field, "no such unit")),
    }
}

fn clean(text: Option<String>) -> String {
    text.map(|t| t.trim().to_owned()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Wire types

/// A unit's part in handling a message, with its running and closed deadlines.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b01",
    "message_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0c01",
    "unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c", "role": "lead", "origin": "assigned",
    "status": "pending", "note": "请城关区政府核实办理",
    "assigned_by": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b", "assigned_at": "2026-11-26T02:00:00Z",
    "signed_for_by": null, "signed_for_at": null, "return_reason": null, "return_note": null,
    "suggested_unit_id": null, "returned_at": null, "transferred_to": null,
    "contribution": null, "completed_at": null, "version": 1, "deadlines": []
}))]
pub struct AssignmentDto {
    pub id: AssignmentId,
    #[schema(value_type = String, format = Uuid)]
    pub message_id: uuid::Uuid,
    pub unit_id: UnitId,
    pub role: AssignmentRole,
    pub origin: AssignmentOrigin,
    pub status: AssignmentStatus,
    #[schema(max_length = 500)]
    pub note: String,
    pub assigned_by: Option<UserId>,
    pub assigned_at: DateTime<Utc>,
    pub signed_for_by: Option<UserId>,
    pub signed_for_at: Option<DateTime<Utc>>,
    pub return_reason: Option<ReturnReason>,
    #[schema(max_length = 500)]
    pub return_note: Option<String>,
    pub suggested_unit_id: Option<UnitId>,
    pub returned_at: Option<DateTime<Utc>>,
    /// After a transfer: the assignment that took over.
    pub transferred_to: Option<AssignmentId>,
    /// A co-handler's internal contribution (never published).
    #[schema(max_length = 5000)]
    pub contribution: Option<String>,
    pub completed_at: Option<DateTime<Utc>>,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
    /// The assignment's deadlines (sign-for, reply), oldest first.
    #[schema(max_items = 10)]
    pub deadlines: Vec<DeadlineDto>,
}

fn assignment_dto(a: Assignment, deadlines: Vec<DeadlineDto>) -> AssignmentDto {
    AssignmentDto {
        id: a.id,
        message_id: a.message_id,
        unit_id: a.unit_id,
        role: a.role,
        origin: a.origin,
        status: a.status,
        note: a.note,
        assigned_by: a.assigned_by,
        assigned_at: a.assigned_at,
        signed_for_by: a.signed_for_by,
        signed_for_at: a.signed_for_at,
        return_reason: a.return_reason,
        return_note: a.return_note,
        suggested_unit_id: a.suggested_unit_id,
        returned_at: a.returned_at,
        transferred_to: a.transferred_to,
        contribution: a.contribution,
        completed_at: a.completed_at,
        version: a.version,
        deadlines,
    }
}

/// Wire rows for assignments with their deadlines (one query for all deadlines).
fn assignment_dtos(
    conn: &mut PgConnection,
    rows: Vec<Assignment>,
    now: DateTime<Utc>,
) -> Result<Vec<AssignmentDto>, ApiError> {
    let ids: Vec<AssignmentId> = rows.iter().map(|a| a.id).collect();
    let mut by_assignment: std::collections::HashMap<AssignmentId, Vec<DeadlineDto>> =
        std::collections::HashMap::new();
    let rows_of = deadlines::of_assignments(conn, &ids)?;
    for d in to_dtos(conn, rows_of, now)? {
        by_assignment.entry(d.assignment_id).or_default().push(d);
    }
    Ok(rows
        .into_iter()
        .map(|a| {
            let mut mine = by_assignment.remove(&a.id).unwrap_or_default();
            mine.sort_by_key(|d| d.started_at);
            assignment_dto(a, mine)
        })
        .collect())
}

fn one_dto(
    conn: &mut PgConnection,
    a: Assignment,
    now: DateTime<Utc>,
) -> Result<AssignmentDto, ApiError> {
    assignment_dtos(conn, vec![a], now)?
        .pop()
        .ok_or_else(|| ApiError::Internal("assignment row lost".into()))
}

crate::page_type!(AssignmentPage, AssignmentDto, "A page of assignments.");

/// The assignments made in one step.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AssignmentList {
    /// Lead first, then co-handlers.
    #[schema(max_items = 11)]
    pub items: Vec<AssignmentDto>,
}

fn created(a: &AssignmentDto) -> actix_web::HttpResponseBuilder {
    let mut b = HttpResponse::Created();
    b.insert_header((header::LOCATION, format!("/api/v1/assignments/{}", a.id)))
        .insert_header((header::ETAG, etag(a.version)));
    b
}

// ---------------------------------------------------------------------------------------------
// Assignment

/// Whom to hand a message to.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "lead_unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c",
    "co_unit_ids": ["0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2d"],
    "note": "请城关区政府牵头，市交通运输局协办"
}))]
pub struct AssignRequest {
    /// The lead unit (主办), which replies.
    pub lead_unit_id: UnitId,
    /// Co-handling units (协办), at most 10.
    #[serde(default)]
    #[schema(max_items = 10)]
    #[validate(length(max = 10))]
    pub co_unit_ids: Vec<UnitId>,
    #[schema(
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 500), custom(function = "crate::domain::validate_text"))]
    pub note: Option<String>,
}

/// Hand an accepted message to a lead unit and optional co-handling units (liaison office of
/// the addressed leader, or a supervisor of the region). Each unit gets a sign-for deadline
/// under the policy in force. After two returns the units dispute the message: only a
/// supervisor may then assign it.
#[utoipa::path(
    operation_id = "create_assignment",
    tag = "handling",
    params(("id" = String, Path, format = Uuid, description = "Message id")),
    request_body = AssignRequest,
    responses(
        (status = 201, description = "The assignments made, lead first", body = AssignmentList,
         headers(("Location" = String, description = "The lead assignment"))),
        (status = 403, description = "Not the liaison office or a supervisor of this message, or a disputed message and not a supervisor", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The message is not accepted and unassigned", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown or inactive unit, or the lead repeated among co-handlers", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/messages/{id}/assignments")]
pub async fn create_assignment(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<AssignRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_message_id(&id)?;
    let body = body.into_inner();
    let now = crate::http::now(&req);
    let p = principal.clone();
    let items = db
        .run(move |conn| {
            let (_, made) = transition::run(
                conn,
                &p,
                id,
                &IfMatchCondition::none(),
                MessageAction::Assign,
                now,
                None,
                |conn, m, actors, _| {
                    if m.return_count >= DISPUTE_AFTER_RETURNS
                        && !actors.contains(&Actor::Supervisor)
                    {
                        return Err(ApiError::Forbidden(format!(
                            "units disputed this message ({} returns): a supervisor decides \
                             where it goes",
                            m.return_count
                        )));
                    }
                    let mut co = body.co_unit_ids.clone();
                    co.sort();
                    co.dedup();
                    if co.len() != body.co_unit_ids.len() {
                        return Err(ApiError::field(
                            "co_unit_ids",
                            "duplicate",
                            "names a unit twice",
                        ));
                    }
                    if co.contains(&body.lead_unit_id) {
                        return Err(ApiError::field(
                            "co_unit_ids",
                            "contains_lead",
                            "the lead unit cannot also co-handle",
                        ));
                    }
                    require_active_unit(conn, body.lead_unit_id, "lead_unit_id")?;
                    for u in &body.co_unit_ids {
                        require_active_unit(conn, *u, "co_unit_ids")?;
                    }
                    let note = clean(body.note.clone());
                    let seq = m.event_count + 1;
                    let mut made = Vec::new();
                    let units = std::iter::once((body.lead_unit_id, AssignmentRole::Lead)).chain(
                        body.co_unit_ids
                            .iter()
                            .map(|u| (*u, AssignmentRole::CoHandler)),
                    );
                    for (unit, role) in units {
                        let a = store::insert(
                            conn,
                            &NewAssignment::for_message(
                                m,
                                unit,
                                role,
                                AssignmentOrigin::Assigned,
                                note.clone(),
                                Some(p.user_id),
                                now,
                            ),
                        )?;
                        deadlines::start(
                            conn,
                            Start {
                                message: m,
                                assignment_id: a.id,
                                unit_id: unit,
                                kind: DeadlineKind::SignFor,
                                at: now,
                                action: MessageAction::Assign,
                                event_seq: seq,
                            },
                        )?;
                        made.push(a);
                    }
                    let payload = json!({
                        "lead_assignment_id": made[0].id,
                        "lead_unit_id": body.lead_unit_id,
                        "co_unit_ids": body.co_unit_ids,
                        "note": note,
                    });
                    Ok(StepOutcome {
                        changes: MessageChanges {
                            unit_id: Some(Some(body.lead_unit_id)),
                            ..Default::default()
                        },
                        payload,
                        result: made,
                    })
                },
            )?;
            assignment_dtos(conn, made, now)
        })
        .await?;
    let lead = items
        .first()
        .ok_or_else(|| ApiError::Internal("no lead assignment".into()))?;
    Ok(created(lead).json(AssignmentList { items }))
}

/// Why a unit takes a message.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "属我区辖区，主动认领"}))]
pub struct ClaimRequest {
    #[schema(
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 500), custom(function = "crate::domain::validate_text"))]
    pub note: Option<String>,
}

/// Claim an accepted, unassigned message that lies in the caller's unit's territory (the unit's
/// region contains the message's region). The claim counts as signed for: the reply deadline
/// starts at once. When several handlers race, exactly one claim wins; the others get 409.
#[utoipa::path(
    operation_id = "claim_message",
    tag = "handling",
    params(("id" = String, Path, format = Uuid, description = "Message id")),
    request_body = ClaimRequest,
    responses(
        (status = 201, description = "The unit's lead assignment", body = AssignmentDto,
         headers(("Location" = String, description = "The assignment"), ("ETag" = String, description = "Its version"))),
        (status = 403, description = "The message lies outside the unit's territory", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already assigned or claimed, not accepted, or disputed (a supervisor decides)", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/messages/{id}/claims")]
pub async fn claim_message(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<ClaimRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_message_id(&id)?;
    let note = clean(body.into_inner().note);
    let now = crate::http::now(&req);
    let p = principal.clone();
    let dto = db
        .run(move |conn| {
            let (_, a) = transition::run(
                conn,
                &p,
                id,
                &IfMatchCondition::none(),
                MessageAction::Claim,
                now,
                None,
                |conn, m, _, _| {
                    if m.return_count >= DISPUTE_AFTER_RETURNS {
                        return Err(ApiError::Conflict(format!(
                            "units disputed this message ({} returns): a supervisor decides",
                            m.return_count
                        )));
                    }
                    let unit = p
                        .unit_id
                        .ok_or_else(|| ApiError::Forbidden("you belong to no unit".into()))?;
                    let mut new = NewAssignment::for_message(
                        m,
                        unit,
                        AssignmentRole::Lead,
                        AssignmentOrigin::Claimed,
                        note.clone(),
                        Some(p.user_id),
                        now,
                    );
                    new.status = AssignmentStatus::SignedFor;
                    new.signed_for_by = Some(p.user_id);
                    new.signed_for_at = Some(now);
                    let a = store::insert(conn, &new)?;
                    deadlines::start(
                        conn,
                        Start {
                            message: m,
                            assignment_id: a.id,
                            unit_id: unit,
                            kind: DeadlineKind::Reply,
                            at: now,
                            action: MessageAction::Claim,
                            event_seq: m.event_count + 1,
                        },
                    )?;
                    Ok(StepOutcome {
                        changes: MessageChanges {
                            unit_id: Some(Some(unit)),
                            ..Default::default()
                        },
                        payload: json!({"assignment_id": a.id, "unit_id": unit, "note": note}),
                        result: a,
                    })
                },
            )?;
            one_dto(conn, a, now)
        })
        .await?;
    Ok(created(&dto).json(dto))
}

/// The handling history of a message: every assignment, oldest first.
#[utoipa::path(
    operation_id = "list_message_assignments",
    tag = "handling",
    params(("id" = String, Path, format = Uuid, description = "Message id")),
    responses(
        (status = 200, description = "All assignments of the message", body = AssignmentList),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/messages/{id}/assignments")]
pub async fn list_message_assignments(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_message_id(&id)?;
    let now = crate::http::now(&req);
    let p = principal.clone();
    let items = db
        .run(move |conn| {
            let m = messages::get(conn, id)?.ok_or_else(|| ApiError::not_found("message"))?;
            require_handling_view(conn, &p, &m)?;
            let rows = store::of_message(conn, id)?;
            assignment_dtos(conn, rows, now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(AssignmentList { items }))
}

// ---------------------------------------------------------------------------------------------
// Inbox

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListAssignmentsQuery {
    /// The unit's inbox. Unit staff may only ask for their own unit.
    pub unit_id: Option<UnitId>,
    #[param(inline)]
    pub status: Option<AssignmentStatus>,
    #[param(inline)]
    pub role: Option<AssignmentRole>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub message_id: Option<uuid::Uuid>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// A unit's inbox: assignments, newest first. Unit staff see their own unit's assignments (and
/// those of messages their unit runs intake for); supervisors, analysts and leaders their region
/// subtree; administrators all.
#[utoipa::path(
    operation_id = "list_assignments",
    tag = "handling",
    params(ListAssignmentsQuery),
    responses(
        (status = 200, description = "A page of assignments", body = AssignmentPage),
        (status = 403, description = "Unit staff asking for another unit's inbox", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/assignments")]
pub async fn list_assignments(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    query: ApiQuery<ListAssignmentsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    if principal.role.requires_unit()
        && let Some(u) = q.unit_id
        && Some(u) != principal.unit_id
    {
        return Err(ApiError::Forbidden(
            "unit staff see their own unit's inbox only".into(),
        ));
    }
    let page: PageRequest<store::Cursor> = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let limit = page.limit;
    let now = crate::http::now(&req);
    let p = principal.clone();
    let (items, next_cursor) = db
        .run(move |conn| {
            let scope = handling_scope(conn, &p)?;
            let filter = store::Filter {
                unit_id: q.unit_id,
                status: q.status,
                role: q.role,
                message_id: q.message_id,
            };
            let rows = store::list(conn, &scope, &filter, &page)?;
            let (rows, next) = finish_page(rows, limit, |a| (a.assigned_at, a.id));
            Ok::<_, ApiError>((assignment_dtos(conn, rows, now)?, next))
        })
        .await?;
    Ok(HttpResponse::Ok().json(AssignmentPage { items, next_cursor }))
}

fn parse_assignment_id(raw: &str) -> Result<AssignmentId, ApiError> {
    parse_path_id::<AssignmentId>(raw, "assignment")
}

/// Read an assignment with its deadlines.
#[utoipa::path(
    operation_id = "get_assignment",
    tag = "handling",
    params(("id" = String, Path, format = Uuid, description = "Assignment id")),
    responses(
        (status = 200, description = "The assignment", body = AssignmentDto,
         headers(("ETag" = String, description = "Its version"))),
        (status = 404, description = "No such assignment, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/assignments/{id}")]
pub async fn get_assignment(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_assignment_id(&id)?;
    let now = crate::http::now(&req);
    let p = principal.clone();
    let dto = db
        .run(move |conn| {
            let a = store::get(conn, id)?.ok_or_else(|| ApiError::not_found("assignment"))?;
            require_readable_assignment(conn, &p, &a)?;
            one_dto(conn, a, now)
        })
        .await?;
    crate::http::preconditions::respond_with_etag(&req, dto.version, &dto, HttpResponse::Ok())
}

/// A note with a step.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "已签收，正在核实"}))]
pub struct StepNote {
    #[schema(
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 500), custom(function = "crate::domain::validate_text"))]
    pub note: Option<String>,
}

/// Run a step on an assignment: check `If-Match` against the assignment, run `decide` under the
/// message lock, answer with the assignment as it is afterwards.
#[allow(clippy::too_many_arguments)]
async fn assignment_step(
    req: &HttpRequest,
    db: &Db,
    principal: &Principal,
    raw_id: &str,
    action: MessageAction,
    status: actix_web::http::StatusCode,
    decide: impl FnOnce(
        &mut PgConnection,
        &Message,
        &[Actor],
        Assignment,
        DateTime<Utc>,
    ) -> Result<StepOutcome<AssignmentId>, ApiError>
    + Send
    + 'static,
) -> Result<HttpResponse, ApiError> {
    let id = parse_assignment_id(raw_id)?;
    let cond = IfMatchCondition::from_request(req, IfMatch::Optional)?;
    let now = crate::http::now(req);
    let p = principal.clone();
    let dto = db
        .run(move |conn| {
            conn.transaction(|conn| {
                let message_id = message_of(conn, &p, id)?;
                let (_, shown) = transition::run(
                    conn,
                    &p,
                    message_id,
                    &IfMatchCondition::none(),
                    action,
                    now,
                    Some(id),
                    |conn, m, actors, a| {
                        let a = a.ok_or_else(|| ApiError::not_found("assignment"))?;
                        cond.check(a.version)?;
                        decide(conn, m, actors, a, now)
                    },
                )?;
                let a = store::get(conn, shown)?
                    .ok_or_else(|| ApiError::Internal("assignment vanished".into()))?;
                one_dto(conn, a, now)
            })
        })
        .await?;
    let mut b = HttpResponse::build(status);
    b.insert_header((header::ETAG, etag(dto.version)));
    if status == actix_web::http::StatusCode::CREATED {
        b.insert_header((header::LOCATION, format!("/api/v1/assignments/{}", dto.id)));
    }
    Ok(b.json(dto))
}

fn require_open(a: &Assignment) -> Result<(), ApiError> {
    if a.status.is_open() {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "the assignment is `{}`, no longer open",
            a.status
        )))
    }
}

/// Sign for an assignment (签收): the unit acknowledges it. Closes the sign-for deadline with its
/// verdict (met or missed, frozen); for the lead unit the reply deadline starts now. Optional
/// `If-Match` with the assignment's ETag.
#[utoipa::path(
    operation_id = "sign_for_assignment",
    tag = "handling",
    params(
        ("id" = String, Path, format = Uuid, description = "Assignment id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the assignment you read")
    ),
    request_body = StepNote,
    responses(
        (status = 200, description = "The signed-for assignment", body = AssignmentDto, headers(("ETag" = String, description = "New version"))),
        (status = 403, description = "Not staff of the assigned unit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such assignment, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already signed for, or no longer open", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/assignments/{id}/sign-for")]
pub async fn sign_for_assignment(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<StepNote>,
) -> Result<HttpResponse, ApiError> {
    let note = clean(body.into_inner().note);
    let user = principal.user_id;
    assignment_step(
        &req,
        &db,
        &principal,
        &id,
        MessageAction::SignFor,
        actix_web::http::StatusCode::OK,
        move |conn, m, _, a, now| {
            if a.status != AssignmentStatus::Pending {
                return Err(ApiError::Conflict(format!(
                    "the assignment is `{}`; only a pending one can be signed for",
                    a.status
                )));
            }
            store::update(
                conn,
                a.id,
                &AssignmentChanges {
                    status: Some(AssignmentStatus::SignedFor),
                    signed_for_by: Some(Some(user)),
                    signed_for_at: Some(Some(now)),
                    ..Default::default()
                },
                now,
            )?;
            let verdicts = deadlines::close(
                conn,
                a.id,
                DeadlineKind::SignFor,
                now,
                MessageAction::SignFor,
            )?;
            if a.role == AssignmentRole::Lead {
                deadlines::start(
                    conn,
                    Start {
                        message: m,
                        assignment_id: a.id,
                        unit_id: a.unit_id,
                        kind: DeadlineKind::Reply,
                        at: now,
                        action: MessageAction::SignFor,
                        event_seq: m.event_count + 1,
                    },
                )?;
            }
            Ok(StepOutcome {
                changes: MessageChanges::default(),
                payload: json!({
                    "assignment_id": a.id, "unit_id": a.unit_id, "role": a.role, "note": note,
                    "sign_for_verdict": verdicts.first().map(|(_, v)| v.as_str()),
                }),
                result: a.id,
            })
        },
    )
    .await
}

/// Why a unit sends a message back.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "reason": "not_our_jurisdiction", "note": "该路段属七里河区管辖",
    "suggested_unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2d"
}))]
pub struct ReturnRequest {
    pub reason: ReturnReason,
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 500),
        custom(function = "crate::domain::validate_text")
    )]
    pub note: String,
    /// The unit the returning unit believes responsible.
    pub suggested_unit_id: Option<UnitId>,
}

/// Return a message (退回): the lead unit says it is not its matter. The message goes back to the
/// liaison office as accepted and unassigned; the sign-for deadline is judged (responding by
/// returning counts), the other deadlines end without verdict, co-handling assignments end.
/// Returns are counted per unit; from the second return the message is disputed and only a
/// supervisor may assign it again.
#[utoipa::path(
    operation_id = "return_assignment",
    tag = "handling",
    params(
        ("id" = String, Path, format = Uuid, description = "Assignment id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the assignment you read")
    ),
    request_body = ReturnRequest,
    responses(
        (status = 200, description = "The returned assignment", body = AssignmentDto, headers(("ETag" = String, description = "New version"))),
        (status = 403, description = "Not staff of the lead unit (co-handlers cannot return)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such assignment, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The assignment is no longer open", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown suggested unit", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/assignments/{id}/return")]
pub async fn return_assignment(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<ReturnRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let user = principal.user_id;
    assignment_step(
        &req,
        &db,
        &principal,
        &id,
        MessageAction::Return,
        actix_web::http::StatusCode::OK,
        move |conn, m, _, a, now| {
            require_open(&a)?;
            if let Some(u) = body.suggested_unit_id {
                require_active_unit(conn, u, "suggested_unit_id")?;
            }
            let note = body.note.trim().to_owned();
            store::update(
                conn,
                a.id,
                &AssignmentChanges {
                    status: Some(AssignmentStatus::Returned),
                    return_reason: Some(Some(body.reason)),
                    return_note: Some(Some(note.clone())),
                    suggested_unit_id: Some(body.suggested_unit_id),
                    returned_by: Some(Some(user)),
                    returned_at: Some(Some(now)),
                    ..Default::default()
                },
                now,
            )?;
            deadlines::close(
                conn,
                a.id,
                DeadlineKind::SignFor,
                now,
                MessageAction::Return,
            )?;
            deadlines::cancel(conn, a.id, now, MessageAction::Return)?;
            let discarded = crate::store::replies::discard_in_flight(conn, m.id, a.unit_id, now)?;
            for co in store::open_of_message(conn, m.id)?
                .into_iter()
                .filter(|c| c.id != a.id)
            {
                store::update(
                    conn,
                    co.id,
                    &AssignmentChanges {
                        status: Some(AssignmentStatus::Cancelled),
                        ..Default::default()
                    },
                    now,
                )?;
                deadlines::cancel(conn, co.id, now, MessageAction::Return)?;
            }
            let returns = m.return_count + 1;
            Ok(StepOutcome {
                changes: MessageChanges {
                    unit_id: Some(None),
                    return_count: Some(returns),
                    ..Default::default()
                },
                payload: json!({
                    "assignment_id": a.id, "unit_id": a.unit_id, "reason": body.reason,
                    "note": note, "suggested_unit_id": body.suggested_unit_id,
                    "return_count": returns, "disputed": returns >= DISPUTE_AFTER_RETURNS,
                    "discarded_replies": discarded,
                }),
                result: a.id,
            })
        },
    )
    .await
}

/// Where to move a message.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2d", "note": "经核实属七里河区职责，转七里河区办理"}))]
pub struct TransferRequest {
    /// The new lead unit.
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
    pub note: String,
}

/// Transfer (转办): the liaison office or a supervisor moves the lead to another unit. The old
/// assignment ends as `transferred` (history kept, deadlines ended without verdict); the new unit
/// gets a pending assignment with a fresh sign-for deadline. Co-handlers stay.
#[utoipa::path(
    operation_id = "transfer_assignment",
    tag = "handling",
    params(
        ("id" = String, Path, format = Uuid, description = "The current lead assignment"),
        ("If-Match" = Option<String>, Header, description = "ETag of the assignment you read")
    ),
    request_body = TransferRequest,
    responses(
        (status = 201, description = "The new lead assignment", body = AssignmentDto,
         headers(("Location" = String, description = "The new assignment"), ("ETag" = String, description = "Its version"))),
        (status = 403, description = "Not the liaison office or a supervisor of this message", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such assignment, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not an open lead assignment, or the unit already holds one", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown or inactive unit, or the same unit", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/assignments/{id}/transfer")]
pub async fn transfer_assignment(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<TransferRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let user = principal.user_id;
    assignment_step(
        &req,
        &db,
        &principal,
        &id,
        MessageAction::Transfer,
        actix_web::http::StatusCode::CREATED,
        move |conn, m, _, a, now| {
            require_open(&a)?;
            if a.role != AssignmentRole::Lead {
                return Err(ApiError::Conflict(
                    "only the lead assignment can be transferred".into(),
                ));
            }
            if a.unit_id == body.unit_id {
                return Err(ApiError::field(
                    "unit_id",
                    "same_unit",
                    "the message is already with this unit",
                ));
            }
            require_active_unit(conn, body.unit_id, "unit_id")?;
            let note = body.note.trim().to_owned();
            deadlines::cancel(conn, a.id, now, MessageAction::Transfer)?;
            let discarded = crate::store::replies::discard_in_flight(conn, m.id, a.unit_id, now)?;
            // End the old lead first: the one-open-lead index admits the new one only then.
            store::update(
                conn,
                a.id,
                &AssignmentChanges {
                    status: Some(AssignmentStatus::Transferred),
                    ..Default::default()
                },
                now,
            )?;
            let new = store::insert(
                conn,
                &NewAssignment::for_message(
                    m,
                    body.unit_id,
                    AssignmentRole::Lead,
                    AssignmentOrigin::Transferred,
                    note.clone(),
                    Some(user),
                    now,
                ),
            )?;
            store::update(
                conn,
                a.id,
                &AssignmentChanges {
                    transferred_to: Some(Some(new.id)),
                    ..Default::default()
                },
                now,
            )?;
            deadlines::start(
                conn,
                Start {
                    message: m,
                    assignment_id: new.id,
                    unit_id: body.unit_id,
                    kind: DeadlineKind::SignFor,
                    at: now,
                    action: MessageAction::Transfer,
                    event_seq: m.event_count + 1,
                },
            )?;
            Ok(StepOutcome {
                changes: MessageChanges {
                    unit_id: Some(Some(body.unit_id)),
                    ..Default::default()
                },
                payload: json!({
                    "from_assignment_id": a.id, "from_unit_id": a.unit_id,
                    "assignment_id": new.id, "unit_id": body.unit_id, "note": note,
                    "discarded_replies": discarded,
                }),
                result: new.id,
            })
        },
    )
    .await
}

/// A co-handler's part.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "经查，该路口信号灯由我局于11月20日完成维修。"}))]
pub struct ContributionRequest {
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 5000),
        custom(function = "crate::domain::validate_text")
    )]
    pub text: String,
}

/// A co-handling unit completes its part with an internal contribution the lead unit sees
/// (never published). The assignment must be signed for first.
#[utoipa::path(
    operation_id = "contribute_assignment",
    tag = "handling",
    params(
        ("id" = String, Path, format = Uuid, description = "The co-handling assignment"),
        ("If-Match" = Option<String>, Header, description = "ETag of the assignment you read")
    ),
    request_body = ContributionRequest,
    responses(
        (status = 200, description = "The completed assignment", body = AssignmentDto, headers(("ETag" = String, description = "New version"))),
        (status = 403, description = "Not staff of the co-handling unit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such assignment, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not signed for yet, or no longer open", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/assignments/{id}/contribution")]
pub async fn contribute_assignment(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<ContributionRequest>,
) -> Result<HttpResponse, ApiError> {
    let text = body.into_inner().text.trim().to_owned();
    assignment_step(
        &req,
        &db,
        &principal,
        &id,
        MessageAction::Contribute,
        actix_web::http::StatusCode::OK,
        move |conn, _, _, a, now| {
            if a.status != AssignmentStatus::SignedFor {
                return Err(ApiError::Conflict(format!(
                    "the assignment is `{}`; sign for it before contributing",
                    a.status
                )));
            }
            store::update(
                conn,
                a.id,
                &AssignmentChanges {
                    status: Some(AssignmentStatus::Completed),
                    contribution: Some(Some(text.clone())),
                    completed_at: Some(Some(now)),
                    ..Default::default()
                },
                now,
            )?;
            Ok(StepOutcome {
                changes: MessageChanges::default(),
                payload: json!({"assignment_id": a.id, "unit_id": a.unit_id, "chars": text.chars().count()}),
                result: a.id,
            })
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Clarification

/// A clarification request and its answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b05",
    "message_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0c01",
    "assignment_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b01",
    "question": "请提供具体门牌号", "asked_at": "2026-11-26T02:00:00Z",
    "answer": null, "answered_at": null
}))]
pub struct ClarificationDto {
    pub id: ClarificationId,
    #[schema(value_type = String, format = Uuid)]
    pub message_id: uuid::Uuid,
    pub assignment_id: AssignmentId,
    #[schema(max_length = 1000)]
    pub question: String,
    pub asked_at: DateTime<Utc>,
    #[schema(max_length = 5000)]
    pub answer: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
}

impl From<crate::store::clarifications::Clarification> for ClarificationDto {
    fn from(c: crate::store::clarifications::Clarification) -> Self {
        Self {
            id: c.id,
            message_id: c.message_id,
            assignment_id: c.assignment_id,
            question: c.question,
            asked_at: c.asked_at,
            answer: c.answer,
            answered_at: c.answered_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClarificationList {
    #[schema(max_items = 1000)]
    pub items: Vec<ClarificationDto>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"question": "请提供具体门牌号或附近标志性建筑"}))]
pub struct ClarificationRequest {
    #[schema(
        min_length = 1,
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 1000),
        custom(function = "crate::domain::validate_text")
    )]
    pub question: String,
}

/// The lead unit asks the citizen to clarify. The message waits (`awaiting_clarification`) and the
/// reply clock pauses until the answer.
#[utoipa::path(
    operation_id = "request_clarification",
    tag = "handling",
    params(("id" = String, Path, format = Uuid, description = "Message id")),
    request_body = ClarificationRequest,
    responses(
        (status = 201, description = "The request", body = ClarificationDto),
        (status = 403, description = "Not staff of the lead unit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The message is not in progress", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/messages/{id}/clarifications")]
pub async fn request_clarification(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<ClarificationRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_message_id(&id)?;
    let question = body.into_inner().question.trim().to_owned();
    let now = crate::http::now(&req);
    let p = principal.clone();
    let c = db
        .run(move |conn| {
            let (_, c) = transition::run(
                conn,
                &p,
                id,
                &IfMatchCondition::none(),
                MessageAction::RequestClarification,
                now,
                None,
                |conn, m, _, _| {
                    let lead = store::open_of_message(conn, m.id)?
                        .into_iter()
                        .find(|a| a.role == AssignmentRole::Lead)
                        .ok_or_else(|| ApiError::Conflict("no open lead assignment".into()))?;
                    let c = crate::store::clarifications::Clarification {
                        id: ClarificationId::new(),
                        message_id: m.id,
                        assignment_id: lead.id,
                        question: question.clone(),
                        asked_by: p.user_id,
                        asked_at: now,
                        answer: None,
                        answered_by: None,
                        answered_at: None,
                    };
                    crate::store::clarifications::insert(conn, &c)?;
                    deadlines::pause(conn, lead.id, now)?;
                    Ok(StepOutcome {
                        changes: MessageChanges::default(),
                        payload: json!({"clarification_id": c.id, "question": question}),
                        result: c,
                    })
                },
            )?;
            Ok::<_, ApiError>(c)
        })
        .await?;
    Ok(HttpResponse::Created().json(ClarificationDto::from(c)))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"answer": "在城关区庆阳路与酒泉路交叉口东北角"}))]
pub struct ClarificationAnswer {
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 5000),
        custom(function = "crate::domain::validate_text")
    )]
    pub answer: String,
}

/// Answer a clarification request: the author, or the lead unit recording an answer given by
/// phone. The message is in progress again and the reply clock resumes; the paused working days
/// are added to the limit.
#[utoipa::path(
    operation_id = "answer_clarification",
    tag = "handling",
    params(
        ("id" = String, Path, format = Uuid, description = "Message id"),
        ("clarification_id" = String, Path, format = Uuid, description = "Clarification request id")
    ),
    request_body = ClarificationAnswer,
    responses(
        (status = 200, description = "The answered request", body = ClarificationDto),
        (status = 403, description = "Neither the author nor the lead unit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message or request, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already answered, or the message is not waiting", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/messages/{id}/clarifications/{clarification_id}/answer")]
pub async fn answer_clarification(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(String, String)>,
    body: ApiJson<ClarificationAnswer>,
) -> Result<HttpResponse, ApiError> {
    let (raw_id, raw_cid) = path.into_inner();
    let id = parse_message_id(&raw_id)?;
    let cid: ClarificationId = parse_path_id(&raw_cid, "clarification request")?;
    let answer = body.into_inner().answer.trim().to_owned();
    let now = crate::http::now(&req);
    let p = principal.clone();
    let c = db
        .run(move |conn| {
            let (_, c) = transition::run(
                conn,
                &p,
                id,
                &IfMatchCondition::none(),
                MessageAction::AnswerClarification,
                now,
                None,
                |conn, m, _, _| {
                    let c = crate::store::clarifications::get(conn, cid)?
                        .filter(|c| c.message_id == m.id)
                        .ok_or_else(|| ApiError::not_found("clarification request"))?;
                    if c.answered_at.is_some() {
                        return Err(ApiError::Conflict("already answered".into()));
                    }
                    let c =
                        crate::store::clarifications::answer(conn, cid, &answer, p.user_id, now)?;
                    deadlines::resume(conn, c.assignment_id, now)?;
                    Ok(StepOutcome {
                        changes: MessageChanges::default(),
                        payload: json!({"clarification_id": c.id, "answer": answer}),
                        result: c,
                    })
                },
            )?;
            Ok::<_, ApiError>(c)
        })
        .await?;
    Ok(HttpResponse::Ok().json(ClarificationDto::from(c)))
}

/// The clarification requests of a message, oldest first (author and staff).
#[utoipa::path(
    operation_id = "list_clarifications",
    tag = "handling",
    params(("id" = String, Path, format = Uuid, description = "Message id")),
    responses(
        (status = 200, description = "The requests", body = ClarificationList),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/messages/{id}/clarifications")]
pub async fn list_clarifications(
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_message_id(&id)?;
    let p = principal.clone();
    let items = db
        .run(move |conn| {
            let m = messages::get(conn, id)?.ok_or_else(|| ApiError::not_found("message"))?;
            // The author reads the questions addressed to them.
            if m.author_id != Some(p.user_id) {
                require_handling_view(conn, &p, &m)?;
            }
            crate::store::clarifications::of_message(conn, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(ClarificationList {
        items: items.into_iter().map(ClarificationDto::from).collect(),
    }))
}

// ---------------------------------------------------------------------------------------------
// Extensions

/// A request for more time and its decision.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b03",
    "assignment_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b01",
    "deadline_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b02",
    "message_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0c01",
    "unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c", "days": 5,
    "reason": "需协调供电部门现场勘察", "status": "pending",
    "requested_by": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b", "requested_at": "2026-11-26T02:00:00Z",
    "decided_by": null, "decided_at": null, "decision_note": null, "version": 1
}))]
pub struct ExtensionDto {
    pub id: ExtensionId,
    pub assignment_id: AssignmentId,
    #[schema(value_type = String, format = Uuid)]
    pub deadline_id: uuid::Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub message_id: uuid::Uuid,
    pub unit_id: UnitId,
    /// Working days asked for.
    #[schema(format = Int32, minimum = 1, maximum = 180)]
    pub days: i32,
    #[schema(max_length = 1000)]
    pub reason: String,
    pub status: ExtensionStatus,
    pub requested_by: UserId,
    pub requested_at: DateTime<Utc>,
    pub decided_by: Option<UserId>,
    pub decided_at: Option<DateTime<Utc>>,
    #[schema(max_length = 1000)]
    pub decision_note: Option<String>,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
}

impl From<crate::store::extensions::ExtensionRequest> for ExtensionDto {
    fn from(x: crate::store::extensions::ExtensionRequest) -> Self {
        Self {
            id: x.id,
            assignment_id: x.assignment_id,
            deadline_id: x.deadline_id.0,
            message_id: x.message_id,
            unit_id: x.unit_id,
            days: x.days,
            reason: x.reason,
            status: x.status,
            requested_by: x.requested_by,
            requested_at: x.requested_at,
            decided_by: x.decided_by,
            decided_at: x.decided_at,
            decision_note: x.decision_note,
            version: x.version,
        }
    }
}

crate::page_type!(ExtensionPage, ExtensionDto, "A page of extension requests.");

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"days": 5, "reason": "需协调供电部门现场勘察"}))]
pub struct ExtensionRequestBody {
    /// Working days to add to the reply deadline.
    #[schema(minimum = 1, maximum = 180, format = Int32)]
    #[validate(range(min = 1, max = 180))]
    #[serde(deserialize_with = "crate::routes::integer")]
    pub days: i32,
    #[schema(
        min_length = 1,
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 1000),
        custom(function = "crate::domain::validate_text")
    )]
    pub reason: String,
}

/// Ask for more time on the reply deadline (lead unit). The deadline's policy limits how many
/// extensions and how many working days in all; one request at a time.
#[utoipa::path(
    operation_id = "request_extension",
    tag = "handling",
    params(("id" = String, Path, format = Uuid, description = "The lead assignment")),
    request_body = ExtensionRequestBody,
    responses(
        (status = 201, description = "The request, pending", body = ExtensionDto),
        (status = 403, description = "Not staff of the lead unit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such assignment, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "No running reply deadline, or a request is already pending", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Beyond what the policy allows", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/assignments/{id}/extensions")]
pub async fn request_extension(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<ExtensionRequestBody>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_assignment_id(&id)?;
    let body = body.into_inner();
    let now = crate::http::now(&req);
    let p = principal.clone();
    let x = db
        .run(move |conn| {
            conn.transaction(|conn| {
                let message_id = message_of(conn, &p, id)?;
                let (_, x) = transition::run(
                    conn,
                    &p,
                    message_id, &IfMatchCondition::none(),
                    MessageAction::RequestExtension,
                    now,
                    Some(id),
                    |conn, m, _, a| {
                        let a = a.ok_or_else(|| ApiError::not_found("assignment"))?;
                        let dl = deadlines::open_of(conn, a.id, Some(DeadlineKind::Reply))?
                            .pop()
                            .ok_or_else(|| {
                                ApiError::Conflict("the assignment has no running reply deadline".into())
                            })?;
                        let policy = deadlines::policy_by_id(conn, dl.policy_id)?;
                        if let Some(why) = extension_refusal(
                            dl.extension_count,
                            dl.extension_days,
                            body.days,
                            policy.max_extensions,
                            policy.max_extension_days,
                        ) {
                            return Err(ApiError::field("days", "policy_limit", why));
                        }
                        let reason = body.reason.trim().to_owned();
                        let x = crate::store::extensions::insert(
                            conn,
                            &crate::store::extensions::NewExtensionRequest {
                                id: ExtensionId::new(),
                                assignment_id: a.id,
                                deadline_id: dl.id,
                                message_id: m.id,
                                unit_id: a.unit_id,
                                region_path: m.region_path.clone(),
                                days: body.days,
                                reason: reason.clone(),
                                status: ExtensionStatus::Pending,
                                requested_by: p.user_id,
                                requested_at: now,
                            },
                        )?;
                        Ok(StepOutcome {
                            changes: MessageChanges::default(),
                            payload: json!({"extension_id": x.id, "deadline_id": dl.id, "days": body.days, "reason": reason}),
                            result: x,
                        })
                    },
                )?;
                Ok::<_, ApiError>(x)
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(ExtensionDto::from(x)))
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListExtensionsQuery {
    #[param(inline)]
    pub status: Option<ExtensionStatus>,
    pub unit_id: Option<UnitId>,
    pub assignment_id: Option<AssignmentId>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// Extension requests, oldest first (the supervisor's queue with `status=pending`). Unit staff
/// see their unit's; supervisors, analysts and leaders their region subtree.
#[utoipa::path(
    operation_id = "list_extensions",
    tag = "handling",
    params(ListExtensionsQuery),
    responses((status = 200, description = "A page of extension requests", body = ExtensionPage))
)]
#[get("/extensions")]
pub async fn list_extensions(
    db: web::Data<Db>,
    principal: Principal,
    query: ApiQuery<ListExtensionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page: PageRequest<crate::store::extensions::Cursor> =
        PageRequest::new(q.limit, q.cursor.as_deref())?;
    let limit = page.limit;
    let p = principal.clone();
    let rows = db
        .run(move |conn| {
            use crate::store::extensions::Filter;
            let scope = handling_scope(conn, &p)?;
            let filter = Filter {
                status: q.status,
                unit_id: q.unit_id,
                assignment_id: q.assignment_id,
            };
            crate::store::extensions::list(conn, &scope, &filter, &page)
        })
        .await?;
    let (rows, next_cursor) = finish_page(rows, limit, |x| (x.requested_at, x.id));
    Ok(HttpResponse::Ok().json(ExtensionPage {
        items: rows.into_iter().map(ExtensionDto::from).collect(),
        next_cursor,
    }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "同意延期5个工作日"}))]
pub struct DecisionNote {
    #[schema(
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 1000), custom(function = "crate::domain::validate_text"))]
    pub note: Option<String>,
}

async fn decide_extension(
    req: &HttpRequest,
    db: &Db,
    principal: &Principal,
    raw_id: &str,
    approve: bool,
    note: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ExtensionId = parse_path_id(raw_id, "extension request")?;
    let cond = IfMatchCondition::from_request(req, IfMatch::Optional)?;
    let now = crate::http::now(req);
    let p = principal.clone();
    let action = if approve {
        MessageAction::ApproveExtension
    } else {
        MessageAction::RejectExtension
    };
    let x = db
        .run(move |conn| {
            let x = crate::store::extensions::get(conn, id)?
                .ok_or_else(|| ApiError::not_found("extension request"))?;
            require_readable(conn, &p, &x.region_path, &[x.unit_id], "extension request")?;
            let message_id = x.message_id;
            let (_, x) = transition::run(
                conn,
                &p,
                message_id,
                &IfMatchCondition::none(),
                action,
                now,
                None,
                |conn, _, _, _| {
                    let x = crate::store::extensions::get(conn, id)?
                        .ok_or_else(|| ApiError::not_found("extension request"))?;
                    cond.check(x.version)?;
                    if x.status != ExtensionStatus::Pending {
                        return Err(ApiError::Conflict(format!(
                            "the request was already decided: `{}`",
                            x.status
                        )));
                    }
                    let mut due_at = None;
                    if approve {
                        let dl = deadlines::get(conn, x.deadline_id)?.ok_or_else(|| {
                            ApiError::Internal("deadline of a request lost".into())
                        })?;
                        let policy = deadlines::policy_by_id(conn, dl.policy_id)?;
                        if let Some(why) = extension_refusal(
                            dl.extension_count,
                            dl.extension_days,
                            x.days,
                            policy.max_extensions,
                            policy.max_extension_days,
                        ) {
                            return Err(ApiError::field("days", "policy_limit", why));
                        }
                        due_at = deadlines::extend(conn, dl.id, x.days, now)?.due_at;
                    }
                    let status = if approve {
                        ExtensionStatus::Approved
                    } else {
                        ExtensionStatus::Rejected
                    };
                    let note = note.map(|n| n.trim().to_owned());
                    let x = crate::store::extensions::decide(
                        conn,
                        id,
                        status,
                        p.user_id,
                        note.clone(),
                        now,
                    )?;
                    Ok(StepOutcome {
                        changes: MessageChanges::default(),
                        payload: json!({
                            "extension_id": x.id, "deadline_id": x.deadline_id, "days": x.days,
                            "note": note, "due_at": due_at,
                        }),
                        result: x,
                    })
                },
            )?;
            Ok::<_, ApiError>(x)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(x.version)))
        .json(ExtensionDto::from(x)))
}

/// Approve an extension request (supervisor of the region): the reply deadline moves by the
/// days asked, counted in working days. Optional `If-Match` with the request's ETag.
#[utoipa::path(
    operation_id = "approve_extension",
    tag = "handling",
    params(
        ("id" = String, Path, format = Uuid, description = "Extension request id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the request you read")
    ),
    request_body = DecisionNote,
    responses(
        (status = 200, description = "The approved request", body = ExtensionDto, headers(("ETag" = String, description = "New version"))),
        (status = 403, description = "Not a supervisor of this message's region", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided, or the deadline is closed", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Beyond what the policy allows", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/extensions/{id}/approve")]
pub async fn approve_extension(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<DecisionNote>,
) -> Result<HttpResponse, ApiError> {
    decide_extension(&req, &db, &principal, &id, true, body.into_inner().note).await
}

/// Reject an extension request (supervisor of the region); the deadline stays.
#[utoipa::path(
    operation_id = "reject_extension",
    tag = "handling",
    params(
        ("id" = String, Path, format = Uuid, description = "Extension request id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the request you read")
    ),
    request_body = DecisionNote,
    responses(
        (status = 200, description = "The rejected request", body = ExtensionDto, headers(("ETag" = String, description = "New version"))),
        (status = 403, description = "Not a supervisor of this message's region", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/extensions/{id}/reject")]
pub async fn reject_extension(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<DecisionNote>,
) -> Result<HttpResponse, ApiError> {
    decide_extension(&req, &db, &principal, &id, false, body.into_inner().note).await
}
