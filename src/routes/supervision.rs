//! Supervision cases (督办) with the units' progress reports, and leaders' instructions (批示).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::app::access::{require_handling_view, require_readable, unit_handles_message};
use crate::app::transition::{self, StepOutcome};
use crate::auth::Principal;
use crate::db::Db;
use crate::domain::calendar;
use crate::domain::handling::{SupervisionLevel, SupervisionStatus};
use crate::domain::ids::{LeaderId, SupervisionId, UnitId, UserId};
use crate::domain::message::{Actor, MessageAction, Priority};
use crate::error::ApiError;
use crate::http::extract::parse_message_id;
use crate::http::extract::{ApiJson, ApiQuery, parse_path_id};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag};
use crate::store::messages::{self as messages, MessageChanges};
use crate::store::supervision::{self as store, Instruction, Report, Supervision};

/// A progress report.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReportDto {
    #[schema(value_type = String, format = Uuid)]
    pub id: uuid::Uuid,
    pub unit_id: Option<UnitId>,
    pub author_id: UserId,
    #[schema(max_length = 5000)]
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// A supervision case with its reports.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b04",
    "message_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0c01",
    "level": "key", "instruction": "请于12月5日前反馈办理进展", "due_date": "2026-12-05",
    "due_at": "2026-12-05T16:00:00Z", "status": "open",
    "unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c",
    "opened_by": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b", "opened_at": "2026-11-26T02:00:00Z",
    "closed_by": null, "closed_at": null, "closing_note": null, "version": 1, "reports": []
}))]
pub struct SupervisionDto {
    pub id: SupervisionId,
    #[schema(value_type = String, format = Uuid)]
    pub message_id: uuid::Uuid,
    pub level: SupervisionLevel,
    #[schema(max_length = 2000)]
    pub instruction: String,
    /// The case's own due date (Asia/Shanghai).
    pub due_date: NaiveDate,
    /// End of the due date.
    pub due_at: DateTime<Utc>,
    pub status: SupervisionStatus,
    /// The lead unit when the case was opened.
    pub unit_id: Option<UnitId>,
    pub opened_by: UserId,
    pub opened_at: DateTime<Utc>,
    pub closed_by: Option<UserId>,
    pub closed_at: Option<DateTime<Utc>>,
    #[schema(max_length = 2000)]
    pub closing_note: Option<String>,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
    /// Progress reports, oldest first (empty in lists).
    #[schema(max_items = 1000)]
    pub reports: Vec<ReportDto>,
}

fn dto(s: Supervision, reports: Vec<Report>) -> SupervisionDto {
    SupervisionDto {
        id: s.id,
        message_id: s.message_id,
        level: s.level,
        instruction: s.instruction,
        due_date: crate::domain::calendar::due_date(s.due_at),
        due_at: s.due_at,
        status: s.status,
        unit_id: s.unit_id,
        opened_by: s.opened_by,
        opened_at: s.opened_at,
        closed_by: s.closed_by,
        closed_at: s.closed_at,
        closing_note: s.closing_note,
        version: s.version,
        reports: reports
            .into_iter()
            .map(|r| ReportDto {
                id: r.id,
                unit_id: r.unit_id,
                author_id: r.author_id,
                body: r.body,
                created_at: r.created_at,
            })
            .collect(),
    }
}

fn full(conn: &mut PgConnection, s: Supervision) -> Result<SupervisionDto, ApiError> {
    let reports = store::reports(conn, s.id)?;
    Ok(dto(s, reports))
}

crate::page_type!(
    SupervisionPage,
    SupervisionDto,
    "A page of supervision cases."
);

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"level": "key", "instruction": "请于12月5日前反馈办理进展", "due_date": "2026-12-05"}))]
pub struct OpenSupervision {
    pub level: SupervisionLevel,
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 2000),
        custom(function = "crate::domain::validate_text")
    )]
    pub instruction: String,
    /// The case's due date (Asia/Shanghai), today or later.
    pub due_date: NaiveDate,
}

/// Open a supervision case on a message (supervisor of its region): a level, an instruction and
/// the case's own due date. One open case per message.
#[utoipa::path(
    operation_id = "create_supervision",
    tag = "supervision",
    params(("id" = String, Path, format = Uuid, description = "Message id")),
    request_body = OpenSupervision,
    responses(
        (status = 201, description = "The case", body = SupervisionDto,
         headers(("Location" = String, description = "The case"))),
        (status = 403, description = "Not a supervisor of this message's region", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A case is already open, or the message is not being handled", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Due date in the past", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/messages/{id}/supervisions")]
pub async fn create_supervision(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<OpenSupervision>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_message_id(&id)?;
    let body = body.into_inner();
    let now = crate::http::now(&req);
    if body.due_date < calendar::local_date(now) {
        return Err(ApiError::field(
            "due_date",
            "past",
            "must be today or later (Asia/Shanghai)",
        ));
    }
    let p = principal.clone();
    let s = db
        .run(move |conn| {
            let (_, s) = transition::run(
                conn,
                &p,
                id,
                &IfMatchCondition::none(),
                MessageAction::Supervise,
                now,
                None,
                |conn, m, _, _| {
                    let s = Supervision {
                        id: SupervisionId::new(),
                        message_id: m.id,
                        level: body.level,
                        instruction: body.instruction.trim().to_owned(),
                        due_at: calendar::end_of_local_day(body.due_date),
                        status: SupervisionStatus::Open,
                        region_path: m.region_path.clone(),
                        unit_id: m.unit_id,
                        opened_by: p.user_id,
                        opened_at: now,
                        closed_by: None,
                        closed_at: None,
                        closing_note: None,
                        version: 1,
                    };
                    store::insert(conn, &s)?;
                    Ok(StepOutcome {
                        changes: MessageChanges::default(),
                        payload: json!({
                            "supervision_id": s.id, "level": s.level,
                            "instruction": s.instruction, "due_at": s.due_at,
                        }),
                        result: s,
                    })
                },
            )?;
            Ok::<_, ApiError>(dto(s, Vec::new()))
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/supervisions/{}", s.id)))
        .insert_header((header::ETAG, etag(s.version)))
        .json(s))
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListSupervisionsQuery {
    #[param(inline)]
    pub status: Option<SupervisionStatus>,
    #[param(inline)]
    pub level: Option<SupervisionLevel>,
    pub unit_id: Option<UnitId>,
    /// Region subtree (GB/T 2260 code).
    #[param(max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "crate::http::validate::validate_region_code"))]
    pub region_code: Option<String>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub message_id: Option<uuid::Uuid>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// Supervision cases, soonest due first. Unit staff see the cases on their unit's messages;
/// supervisors, analysts and leaders their region subtree.
#[utoipa::path(
    operation_id = "list_supervisions",
    tag = "supervision",
    params(ListSupervisionsQuery),
    responses((status = 200, description = "A page of cases (without reports)", body = SupervisionPage))
)]
#[get("/supervisions")]
pub async fn list_supervisions(
    db: web::Data<Db>,
    principal: Principal,
    query: ApiQuery<ListSupervisionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page: PageRequest<store::Cursor> = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let limit = page.limit;
    let p = principal.clone();
    let rows = db
        .run(move |conn| {
            let scope = crate::app::access::handling_scope(conn, &p)?;
            let filter = store::Filter {
                status: q.status,
                level: q.level,
                unit_id: q.unit_id,
                region_path: match &q.region_code {
                    Some(code) => Some(crate::store::regions::path_of(conn, code)?),
                    None => None,
                },
                message_id: q.message_id,
            };
            store::list(conn, &scope, &filter, &page)
        })
        .await?;
    let (rows, next_cursor) = finish_page(rows, limit, |s| (s.due_at, s.id));
    Ok(HttpResponse::Ok().json(SupervisionPage {
        items: rows.into_iter().map(|s| dto(s, Vec::new())).collect(),
        next_cursor,
    }))
}

fn parse_id(raw: &str) -> Result<SupervisionId, ApiError> {
    parse_path_id::<SupervisionId>(raw, "supervision case")
}

/// A supervision case with its progress reports.
#[utoipa::path(
    operation_id = "get_supervision",
    tag = "supervision",
    params(("id" = String, Path, format = Uuid, description = "Supervision case id")),
    responses(
        (status = 200, description = "The case", body = SupervisionDto, headers(("ETag" = String, description = "Its version"))),
        (status = 404, description = "No such case, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/supervisions/{id}")]
pub async fn get_supervision(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let p = principal.clone();
    let s = db
        .run(move |conn| {
            let s = store::get(conn, id)?.ok_or_else(|| ApiError::not_found("supervision case"))?;
            require_readable_case(conn, &p, &s)?;
            full(conn, s)
        })
        .await?;
    crate::http::preconditions::respond_with_etag(&req, s.version, &s, HttpResponse::Ok())
}

/// 404 unless the caller may read the case: supervisors, analysts and leaders of its region,
/// and the units handling its message (lead and co-handlers, who report on it).
fn require_readable_case(
    conn: &mut PgConnection,
    p: &Principal,
    s: &Supervision,
) -> Result<(), ApiError> {
    if unit_handles_message(conn, p, s.message_id)? {
        return Ok(());
    }
    require_readable(
        conn,
        p,
        &s.region_path,
        s.unit_id.as_slice(),
        "supervision case",
    )
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "已联系供电公司，预计12月3日前完成更换"}))]
pub struct ReportRequest {
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 5000),
        custom(function = "crate::domain::validate_text")
    )]
    pub body: String,
}

/// Load a case and run a step on its message; the case is re-read under the message lock.
async fn case_step(
    req: &HttpRequest,
    db: &Db,
    principal: &Principal,
    raw_id: &str,
    action: MessageAction,
    decide: impl FnOnce(
        &mut PgConnection,
        Supervision,
        DateTime<Utc>,
    ) -> Result<(Supervision, serde_json::Value), ApiError>
    + Send
    + 'static,
) -> Result<SupervisionDto, ApiError> {
    let id = parse_id(raw_id)?;
    let cond = IfMatchCondition::from_request(req, IfMatch::Optional)?;
    let now = crate::http::now(req);
    let p = principal.clone();
    db.run(move |conn| {
        let case = store::get(conn, id)?.ok_or_else(|| ApiError::not_found("supervision case"))?;
        require_readable_case(conn, &p, &case)?;
        let message_id = case.message_id;
        let (_, s) = transition::run(
            conn,
            &p,
            message_id,
            &IfMatchCondition::none(),
            action,
            now,
            None,
            |conn, _, _, _| {
                let s =
                    store::get(conn, id)?.ok_or_else(|| ApiError::not_found("supervision case"))?;
                cond.check(s.version)?;
                if s.status != SupervisionStatus::Open {
                    return Err(ApiError::Conflict("the case is closed".into()));
                }
                let (s, payload) = decide(conn, s, now)?;
                Ok(StepOutcome {
                    changes: MessageChanges::default(),
                    payload,
                    result: s,
                })
            },
        )?;
        full(conn, s)
    })
    .await
}

/// A unit handling the message (lead or co-handler) reports progress on an open case.
#[utoipa::path(
    operation_id = "add_supervision_report",
    tag = "supervision",
    params(
        ("id" = String, Path, format = Uuid, description = "Supervision case id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the case you read")
    ),
    request_body = ReportRequest,
    responses(
        (status = 201, description = "The case with the new report", body = SupervisionDto),
        (status = 403, description = "Not staff of a unit handling the message", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The case is closed, or the message is no longer being handled", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/supervisions/{id}/reports")]
pub async fn add_supervision_report(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<ReportRequest>,
) -> Result<HttpResponse, ApiError> {
    let text = body.into_inner().body.trim().to_owned();
    let (user, unit) = (principal.user_id, principal.unit_id);
    let s = case_step(
        &req,
        &db,
        &principal,
        &id,
        MessageAction::ReportProgress,
        move |conn, s, now| {
            let report = Report {
                id: uuid::Uuid::now_v7(),
                supervision_id: s.id,
                unit_id: unit,
                author_id: user,
                body: text,
                created_at: now,
            };
            store::add_report(conn, &report)?;
            let payload = json!({"supervision_id": s.id, "report_id": report.id, "unit_id": unit});
            Ok((s, payload))
        },
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::ETAG, etag(s.version)))
        .json(s))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "已办结，群众满意"}))]
pub struct CloseRequest {
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 2000),
        custom(function = "crate::domain::validate_text")
    )]
    pub note: String,
}

/// Close a supervision case (supervisor of the region), with a closing note.
#[utoipa::path(
    operation_id = "close_supervision",
    tag = "supervision",
    params(
        ("id" = String, Path, format = Uuid, description = "Supervision case id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the case you read")
    ),
    request_body = CloseRequest,
    responses(
        (status = 200, description = "The closed case", body = SupervisionDto, headers(("ETag" = String, description = "New version"))),
        (status = 403, description = "Not a supervisor of this message's region", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already closed", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/supervisions/{id}/close")]
pub async fn close_supervision(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<CloseRequest>,
) -> Result<HttpResponse, ApiError> {
    let note = body.into_inner().note.trim().to_owned();
    let user = principal.user_id;
    let s = case_step(
        &req,
        &db,
        &principal,
        &id,
        MessageAction::CloseSupervision,
        move |conn, s, now| {
            let closed = store::close(conn, s.id, user, &note, now)?;
            Ok((closed, json!({"supervision_id": s.id, "note": note})))
        },
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(s.version)))
        .json(s))
}

// ---------------------------------------------------------------------------------------------
// Leader instructions

/// A leader's written instruction on a message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b06",
    "message_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0c01",
    "leader_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a3d",
    "body": "请城关区高度重视，尽快解决，并将结果报我。",
    "recorded_by": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b", "created_at": "2026-11-26T02:00:00Z"
}))]
pub struct InstructionDto {
    #[schema(value_type = String, format = Uuid)]
    pub id: uuid::Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub message_id: uuid::Uuid,
    pub leader_id: LeaderId,
    #[schema(max_length = 2000)]
    pub body: String,
    /// The leader's own account, or the liaison staff who recorded it.
    pub recorded_by: UserId,
    pub created_at: DateTime<Utc>,
}

impl From<Instruction> for InstructionDto {
    fn from(i: Instruction) -> Self {
        Self {
            id: i.id,
            message_id: i.message_id,
            leader_id: i.leader_id,
            body: i.body,
            recorded_by: i.recorded_by,
            created_at: i.created_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InstructionList {
    #[schema(max_items = 1000)]
    pub items: Vec<InstructionDto>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "请城关区高度重视，尽快解决，并将结果报我。"}))]
pub struct InstructionRequest {
    /// The leader who gave the instruction. Leaders omit it (their own); liaison staff recording
    /// an instruction must name the leader.
    pub leader_id: Option<LeaderId>,
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 2000),
        custom(function = "crate::domain::validate_text")
    )]
    pub body: String,
}

/// Attach a leader's instruction (批示) to a message: by the leader, or recorded by the liaison
/// office of the message. The message becomes important, and the ledger event tells the units
/// handling it.
#[utoipa::path(
    operation_id = "create_instruction",
    tag = "supervision",
    params(("id" = String, Path, format = Uuid, description = "Message id")),
    request_body = InstructionRequest,
    responses(
        (status = 201, description = "The instruction", body = InstructionDto),
        (status = 403, description = "Neither a leader nor the message's liaison office, or a leader naming another leader", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The message is not accepted or being handled", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown leader, or the leader missing when recording", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/messages/{id}/instructions")]
pub async fn create_instruction(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<InstructionRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_message_id(&id)?;
    let body = body.into_inner();
    let now = crate::http::now(&req);
    let p = principal.clone();
    let i = db
        .run(move |conn| record_instruction(conn, &p, id, body.leader_id, &body.body, now, None))
        .await?;
    Ok(HttpResponse::Created().json(InstructionDto::from(i)))
}

/// Record a leader's instruction on a message as one handling step (action `instruct`): by the
/// leader (`leader_id` omitted or their own), or by the message's liaison office naming the
/// leader. The message becomes important and the ledger event tells the units handling it.
/// `briefing` names the briefing the instruction was given on, when it was.
///
/// `POST /messages/{id}/instructions` and the briefings' instructions both go through here, so
/// an instruction is the same record and the same ledger event whichever way it came.
pub(crate) fn record_instruction(
    conn: &mut PgConnection,
    p: &Principal,
    message_id: uuid::Uuid,
    leader: Option<LeaderId>,
    text: &str,
    now: DateTime<Utc>,
    briefing: Option<crate::domain::ids::BriefingId>,
) -> Result<Instruction, ApiError> {
    let (_, i) = transition::run(
        conn,
        p,
        message_id,
        &IfMatchCondition::none(),
        MessageAction::Instruct,
        now,
        None,
        |conn, m, actors, _| {
            let leader_id = if actors.contains(&Actor::Leader) {
                let own = crate::store::users::get(conn, p.user_id)?
                    .leader_id
                    .ok_or_else(|| ApiError::Forbidden("no leader record".into()))?;
                if leader.is_some_and(|l| l != own) {
                    return Err(ApiError::Forbidden(
                        "leaders record their own instructions".into(),
                    ));
                }
                own
            } else {
                let l = leader.ok_or_else(|| {
                    ApiError::field(
                        "leader_id",
                        "required",
                        "name the leader whose instruction you record",
                    )
                })?;
                crate::store::leaders::get(conn, l)
                    .map_err(|e| e.missing_as_field("leader_id", "no such leader"))?;
                l
            };
            let i = Instruction {
                id: uuid::Uuid::now_v7(),
                message_id: m.id,
                leader_id,
                body: text.trim().to_owned(),
                recorded_by: p.user_id,
                created_at: now,
            };
            store::add_instruction(conn, &i)?;
            let mut payload = json!({
                "instruction_id": i.id, "leader_id": leader_id, "body": i.body,
                "notify_unit_id": m.unit_id, "priority_before": m.priority,
            });
            if let (Some(b), Some(obj)) = (briefing, payload.as_object_mut()) {
                obj.insert("briefing_id".into(), json!(b));
            }
            Ok(StepOutcome {
                changes: MessageChanges {
                    priority: Some(Some(Priority::Important)),
                    ..Default::default()
                },
                payload,
                result: i,
            })
        },
    )?;
    Ok(i)
}

/// The instructions on a message, oldest first (staff of the message and its units; internal
/// working content, so never the author).
#[utoipa::path(
    operation_id = "list_instructions",
    tag = "supervision",
    params(("id" = String, Path, format = Uuid, description = "Message id")),
    responses(
        (status = 200, description = "The instructions", body = InstructionList),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/messages/{id}/instructions")]
pub async fn list_instructions(
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_message_id(&id)?;
    let p = principal.clone();
    let items = db
        .run(move |conn| {
            let m = messages::get(conn, id)?.ok_or_else(|| ApiError::not_found("message"))?;
            require_handling_view(conn, &p, &m)?;
            store::instructions_of(conn, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(InstructionList {
        items: items.into_iter().map(InstructionDto::from).collect(),
    }))
}
