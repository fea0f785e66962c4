//! Replies: drafting by the lead unit, revisions, review, publication.
//!
//! Every step runs as a step of the message (its row locked, the status table deciding who may
//! act) and commits with its ledger event. The reply's own status (draft → submitted →
//! approved → published, or returned for revision) is decided by `domain::reply::reply_next`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use chrono::{DateTime, Utc};
use diesel::Connection as _;
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::app::access::handling_scope;
use crate::app::access::{facts, viewer};
use crate::app::transition::{self, StepOutcome};
use crate::auth::Principal;
use crate::auth::policy::{MessageAccess, message_access};
use crate::db::Db;
use crate::domain::handling::AssignmentRole;
use crate::domain::ids::{AssignmentId, ReplyId, UnitId, UserId};
use crate::domain::message::{Actor, MessageAction, Priority, Visibility};
use crate::domain::reply::{
    ReplyKind, ReplyStatus, ReplyStep, ReviewDecision, editorial_problems, may_review, reply_next,
};
use crate::domain::role::Role;
use crate::error::{ApiError, FieldError};
use crate::http::extract::parse_message_id;
use crate::http::extract::{ApiJson, ApiQuery, parse_path_id};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag};
use crate::routes::messages::Attachment;
use crate::store::assignments;
use crate::store::messages::{Message, MessageChanges};
use crate::store::replies::{self as store, Reply, ReplyChanges, Revision};

// ---------------------------------------------------------------------------------------------
// Wire types

/// A reply. Staff handling the message see every reply with its review trail; the author and the
/// public see published replies only, without the staff's ids.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b06", "message_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0c01",
    "assignment_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b01", "unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c",
    "kind": "final", "status": "published",
    "body": "经核实，该路口信号灯已于11月20日修复，感谢您对城市交通工作的关心和监督。", "attachments": [],
    "revision": 2, "review_unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c",
    "created_by": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b", "created_at": "2026-11-26T02:00:00Z",
    "updated_by": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b", "updated_at": "2026-11-26T06:00:00Z",
    "submitted_at": "2026-11-26T03:00:00Z", "reviewed_by": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1c",
    "reviewed_at": "2026-11-26T05:00:00Z", "review_comment": null,
    "published_by": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1c", "published_at": "2026-11-26T06:00:00Z",
    "unit_name": "城关区人民政府", "version": 6
}))]
pub struct ReplyDto {
    pub id: ReplyId,
    #[schema(value_type = String, format = Uuid)]
    pub message_id: uuid::Uuid,
    pub assignment_id: Option<AssignmentId>,
    /// The lead unit that writes it.
    pub unit_id: UnitId,
    pub kind: ReplyKind,
    pub status: ReplyStatus,
    #[schema(max_length = 10000)]
    pub body: String,
    #[schema(max_items = 10)]
    pub attachments: Vec<Attachment>,
    /// Current revision number (see `/replies/{id}/revisions`).
    #[schema(format = Int32, minimum = 1)]
    pub revision: i32,
    /// Whose reviewers decide: the unit's own, or the liaison office's for important messages.
    pub review_unit_id: Option<UnitId>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_by: Option<UserId>,
    pub updated_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub reviewed_by: Option<UserId>,
    pub reviewed_at: Option<DateTime<Utc>>,
    /// The reviewer's comment (when returned for revision, or with the approval).
    #[schema(max_length = 2000)]
    pub review_comment: Option<String>,
    pub published_by: Option<UserId>,
    pub published_at: Option<DateTime<Utc>>,
    /// The unit's name as published.
    #[schema(max_length = 200)]
    pub unit_name: Option<String>,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
}

fn attachments_of(value: serde_json::Value) -> Vec<Attachment> {
    serde_json::from_value(value).unwrap_or_default()
}

impl ReplyDto {
    /// `staff`: the full view; otherwise the published view without staff ids.
    fn from_reply(r: Reply, staff: bool) -> Self {
        let keep = |u: Option<UserId>| if staff { u } else { None };
        ReplyDto {
            id: r.id,
            message_id: r.message_id,
            assignment_id: staff.then_some(r.assignment_id),
            unit_id: r.unit_id,
            kind: r.kind,
            status: r.status,
            body: r.body,
            attachments: attachments_of(r.attachments)
                .into_iter()
                .filter(|a| staff || !a.private)
                .collect(),
            revision: r.revision,
            review_unit_id: staff.then_some(r.review_unit_id),
            created_by: keep(Some(r.created_by)),
            created_at: r.created_at,
            updated_by: keep(Some(r.updated_by)),
            updated_at: r.updated_at,
            submitted_at: if staff { r.submitted_at } else { None },
            reviewed_by: keep(r.reviewed_by),
            reviewed_at: if staff { r.reviewed_at } else { None },
            review_comment: if staff { r.review_comment } else { None },
            published_by: keep(r.published_by),
            published_at: r.published_at,
            unit_name: r.unit_name,
            version: r.version,
        }
    }
}

crate::page_type!(ReplyPage, ReplyDto, "A page of replies.");

/// The replies of one message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReplyList {
    #[schema(max_items = 1000)]
    pub items: Vec<ReplyDto>,
}

/// One revision of a reply and the review it received.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "revision": 1, "body": "已转相关部门处理。", "attachments": [],
    "edited_by": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b", "edited_at": "2026-11-26T02:00:00Z",
    "submitted_by": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b", "submitted_at": "2026-11-26T03:00:00Z",
    "review_decision": "returned", "review_comment": "请写明处理结果和时间",
    "reviewed_by": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1c", "reviewed_at": "2026-11-26T04:00:00Z"
}))]
pub struct RevisionDto {
    #[schema(format = Int32, minimum = 1)]
    pub revision: i32,
    #[schema(max_length = 10000)]
    pub body: String,
    #[schema(max_items = 10)]
    pub attachments: Vec<Attachment>,
    pub edited_by: UserId,
    pub edited_at: DateTime<Utc>,
    pub submitted_by: Option<UserId>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub review_decision: Option<ReviewDecision>,
    #[schema(max_length = 2000)]
    pub review_comment: Option<String>,
    pub reviewed_by: Option<UserId>,
    pub reviewed_at: Option<DateTime<Utc>>,
}

impl From<Revision> for RevisionDto {
    fn from(v: Revision) -> Self {
        RevisionDto {
            revision: v.revision,
            body: v.body,
            attachments: attachments_of(v.attachments),
            edited_by: v.edited_by,
            edited_at: v.edited_at,
            submitted_by: v.submitted_by,
            submitted_at: v.submitted_at,
            review_decision: v.review_decision,
            review_comment: v.review_comment,
            reviewed_by: v.reviewed_by,
            reviewed_at: v.reviewed_at,
        }
    }
}

/// Every revision of a reply, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevisionList {
    #[schema(max_items = 1000)]
    pub items: Vec<RevisionDto>,
}

/// A new reply (a draft).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "kind": "final",
    "body": "经核实，该路口信号灯已于11月20日修复，感谢您对城市交通工作的关心和监督。",
    "attachments": []
}))]
pub struct CreateReply {
    pub kind: ReplyKind,
    #[schema(
        min_length = 1,
        max_length = 10000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 10000),
        custom(function = "crate::domain::validate_text")
    )]
    pub body: String,
    #[serde(default)]
    #[schema(max_items = 10)]
    #[validate(length(max = 10), nested)]
    pub attachments: Vec<Attachment>,
}

/// A revised draft (replaces text and attachments).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "body": "经核实，该路口信号灯因线路老化损坏，已于11月20日更换线路并恢复运行。感谢您的监督。",
    "attachments": []
}))]
pub struct ReviseReply {
    #[schema(
        min_length = 1,
        max_length = 10000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 10000),
        custom(function = "crate::domain::validate_text")
    )]
    pub body: String,
    #[serde(default)]
    #[schema(max_items = 10)]
    #[validate(length(max = 10), nested)]
    pub attachments: Vec<Attachment>,
}

/// A reviewer's approval, with an optional comment.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"comment": "同意发布"}))]
pub struct ApproveReply {
    #[schema(
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 2000), custom(function = "crate::domain::validate_text"))]
    pub comment: Option<String>,
}

/// Why a reviewer sends a draft back.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"comment": "请写明处理结果和完成时间，不要使用套话"}))]
pub struct ReturnReply {
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 2000),
        custom(function = "crate::domain::validate_text")
    )]
    pub comment: String,
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn parse_reply_id(raw: &str) -> Result<ReplyId, ApiError> {
    parse_path_id::<ReplyId>(raw, "reply")
}

/// Staff of the message's handling see every reply; others only published ones.
fn staff_view(p: &Principal, m: &Message) -> bool {
    p.role != Role::Citizen
        && matches!(
            message_access(viewer(p), facts(m)),
            MessageAccess::Full | MessageAccess::Staff
        )
}

/// The caller's unit, when it is the one that writes this reply.
fn require_reply_unit(p: &Principal, r: &Reply) -> Result<(), ApiError> {
    if p.unit_id == Some(r.unit_id) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only staff of the unit that writes this reply may change it".into(),
        ))
    }
}

/// A reviewer of the reply's reviewing unit, who wrote none of it.
fn require_reviewer(conn: &mut PgConnection, p: &Principal, r: &Reply) -> Result<(), ApiError> {
    if p.unit_id != Some(r.review_unit_id) {
        return Err(ApiError::Forbidden(
            "this reply is reviewed by another unit's reviewers".into(),
        ));
    }
    if !may_review(p.user_id.0, &store::editors(conn, r.id)?) {
        return Err(ApiError::Forbidden(
            "you wrote this reply; another reviewer must decide on it".into(),
        ));
    }
    Ok(())
}

fn next(r: &Reply, s: ReplyStep) -> Result<ReplyStatus, ApiError> {
    reply_next(r.status, s).map_err(ApiError::Conflict)
}

/// Who reviews a reply to `m` written by `unit`.
fn review_unit(m: &Message, unit: UnitId) -> UnitId {
    if m.priority == Some(Priority::Important) {
        m.intake_unit_id
    } else {
        unit
    }
}

fn respond(status: actix_web::http::StatusCode, dto: &ReplyDto) -> HttpResponse {
    let mut b = HttpResponse::build(status);
    b.insert_header((header::ETAG, etag(dto.version)));
    if status == actix_web::http::StatusCode::CREATED {
        b.insert_header((header::LOCATION, format!("/api/v1/replies/{}", dto.id)));
    }
    b.json(dto)
}

/// Run a step on a reply: check `If-Match` against the reply, run `decide` with the reply
/// re-read under the message lock, answer with the reply as it is afterwards.
async fn reply_step(
    req: &HttpRequest,
    db: &Db,
    principal: &Principal,
    raw_id: &str,
    if_match: IfMatch,
    action: impl FnOnce(&Reply) -> MessageAction + Send + 'static,
    decide: impl FnOnce(
        &mut PgConnection,
        &Message,
        &[Actor],
        Reply,
        DateTime<Utc>,
    ) -> Result<StepOutcome<()>, ApiError>
    + Send
    + 'static,
) -> Result<HttpResponse, ApiError> {
    let id = parse_reply_id(raw_id)?;
    let cond = IfMatchCondition::from_request(req, if_match)?;
    let now = crate::http::now(req);
    let p = principal.clone();
    let dto = db
        .run(move |conn| {
            conn.transaction(|conn| {
                // What the caller cannot read is 404 to every step, before any other check.
                let (before, _) = visible_reply(conn, &p, id)?;
                let action = action(&before);
                transition::run(
                    conn,
                    &p,
                    before.message_id,
                    &IfMatchCondition::none(),
                    action,
                    now,
                    None,
                    |conn, m, actors, _| {
                        let r =
                            store::get(conn, id)?.ok_or_else(|| ApiError::not_found("reply"))?;
                        if !staff_view(&p, m) {
                            return Err(ApiError::not_found("reply"));
                        }
                        cond.check(r.version)?;
                        decide(conn, m, actors, r, now)
                    },
                )?;
                let r = store::get(conn, id)?
                    .ok_or_else(|| ApiError::Internal("reply vanished".into()))?;
                Ok::<_, ApiError>(ReplyDto::from_reply(r, true))
            })
        })
        .await?;
    Ok(respond(actix_web::http::StatusCode::OK, &dto))
}

fn payload(r: &Reply) -> serde_json::Value {
    json!({"reply_id": r.id, "kind": r.kind, "revision": r.revision})
}

// ---------------------------------------------------------------------------------------------
// Drafting

/// Start a reply (a draft) to a message the caller's unit leads and has signed for. `interim`
/// replies report progress; the `final` one answers the message (one in the making at a time).
/// Routine messages are reviewed by the unit's own reviewers, important ones by the liaison
/// office's.
#[utoipa::path(
    operation_id = "create_reply",
    tag = "replies",
    params(("id" = String, Path, format = Uuid, description = "Message id")),
    request_body = CreateReply,
    responses(
        (status = 201, description = "The draft", body = ReplyDto,
         headers(("Location" = String, description = "URL of the reply"), ("ETag" = String, description = "Its version"))),
        (status = 403, description = "Not staff of the message's lead unit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The message is not in progress, or a final reply is already in the making", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/messages/{id}/replies")]
pub async fn create_reply(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<CreateReply>,
) -> Result<HttpResponse, ApiError> {
    let message_id = parse_message_id(&id)?;
    let body = body.into_inner();
    let now = crate::http::now(&req);
    let p = principal.clone();
    let dto = db
        .run(move |conn| {
            conn.transaction(|conn| {
                let (_, reply_id) = transition::run(
                    conn,
                    &p,
                    message_id,
                    &IfMatchCondition::none(),
                    MessageAction::DraftReply,
                    now,
                    None,
                    |conn, m, _, _| {
                        let unit = p.unit_id.ok_or_else(|| {
                            ApiError::Forbidden("your account belongs to no unit".into())
                        })?;
                        let lead = assignments::open_of_message(conn, m.id)?
                            .into_iter()
                            .find(|a| a.role == AssignmentRole::Lead && a.unit_id == unit)
                            .ok_or_else(|| {
                                ApiError::Forbidden("your unit does not lead this message".into())
                            })?;
                        let reply = Reply {
                            id: ReplyId::new(),
                            message_id: m.id,
                            assignment_id: lead.id,
                            unit_id: unit,
                            intake_unit_id: m.intake_unit_id,
                            region_path: m.region_path.clone(),
                            kind: body.kind,
                            status: ReplyStatus::Draft,
                            body: body.body.trim().to_owned(),
                            attachments: serde_json::to_value(&body.attachments)
                                .unwrap_or_else(|_| json!([])),
                            revision: 1,
                            review_unit_id: review_unit(m, unit),
                            created_by: p.user_id,
                            created_at: now,
                            updated_by: p.user_id,
                            updated_at: now,
                            submitted_at: None,
                            reviewed_by: None,
                            reviewed_at: None,
                            review_comment: None,
                            published_by: None,
                            published_at: None,
                            unit_name: None,
                            version: 1,
                        };
                        store::insert(conn, &reply)?;
                        Ok(StepOutcome {
                            changes: MessageChanges::default(),
                            payload: payload(&reply),
                            result: reply.id,
                        })
                    },
                )?;
                let r = store::get(conn, reply_id)?
                    .ok_or_else(|| ApiError::Internal("reply vanished".into()))?;
                Ok::<_, ApiError>(ReplyDto::from_reply(r, true))
            })
        })
        .await?;
    Ok(respond(actix_web::http::StatusCode::CREATED, &dto))
}

/// Revise a draft, or a reply the reviewer returned: the text and attachments are replaced and
/// kept as a new revision; a returned reply becomes a draft again. `If-Match` is required.
#[utoipa::path(
    operation_id = "revise_reply",
    tag = "replies",
    params(
        ("id" = String, Path, format = Uuid, description = "Reply id"),
        ("If-Match" = String, Header, description = "ETag of the reply you edited")
    ),
    request_body = ReviseReply,
    responses(
        (status = 200, description = "The revised draft", body = ReplyDto, headers(("ETag" = String, description = "New version"))),
        (status = 403, description = "Not staff of the replying unit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such reply, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The reply is under review, approved or published", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The reply changed since you read it", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[put("/replies/{id}")]
pub async fn revise_reply(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<ReviseReply>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let p = principal.clone();
    reply_step(
        &req,
        &db,
        &principal,
        &id,
        IfMatch::Required,
        |_| MessageAction::ReviseReply,
        move |conn, _, _, r, now| {
            require_reply_unit(&p, &r)?;
            next(&r, ReplyStep::Revise)?;
            let attachments = serde_json::to_value(&body.attachments).unwrap_or_else(|_| json!([]));
            let revised = store::revise(
                conn,
                &r,
                body.body.trim().to_owned(),
                attachments,
                p.user_id,
                now,
            )?;
            Ok(StepOutcome {
                changes: MessageChanges::default(),
                payload: payload(&revised),
                result: (),
            })
        },
    )
    .await
}

/// Put a draft up for review. The editorial checks run first and fail as 422 on `body`:
/// empty or shorter than the province's minimum, the citizen's personal data (phone or ID-card
/// numbers, their name or contact) in a reply to a public message, banned phrases (see
/// `/reply-policy`).
#[utoipa::path(
    operation_id = "submit_reply",
    tag = "replies",
    params(
        ("id" = String, Path, format = Uuid, description = "Reply id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the reply you read")
    ),
    responses(
        (status = 200, description = "Submitted for review", body = ReplyDto, headers(("ETag" = String, description = "New version"))),
        (status = 403, description = "Not staff of the replying unit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such reply, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft (returned replies are revised first)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The reply changed since you read it", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The reply fails an editorial check", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/replies/{id}/submit")]
pub async fn submit_reply(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let p = principal.clone();
    reply_step(
        &req,
        &db,
        &principal,
        &id,
        IfMatch::Optional,
        |_| MessageAction::SubmitReply,
        move |conn, m, _, r, now| {
            require_reply_unit(&p, &r)?;
            let to = next(&r, ReplyStep::Submit)?;
            let rules = store::policy(conn)?.rules();
            let author = match m.author_id {
                Some(a) => Some(crate::store::users::get(conn, a)?),
                None => None,
            };
            let mut known: Vec<&str> = Vec::new();
            if let Some(a) = &author {
                known.push(&a.display_name);
                known.push(&a.email);
            }
            known.extend(m.contact_name.as_deref());
            known.extend(m.contact_phone.as_deref());
            let problems =
                editorial_problems(&r.body, &rules, m.visibility == Visibility::Public, &known);
            if !problems.is_empty() {
                return Err(ApiError::validation(
                    problems
                        .into_iter()
                        .map(|(code, msg)| FieldError::new("body", code, msg))
                        .collect(),
                ));
            }
            store::update(
                conn,
                r.id,
                &ReplyChanges {
                    status: Some(to),
                    submitted_at: Some(Some(now)),
                    ..Default::default()
                },
                now,
            )?;
            store::mark_submitted(conn, &r, p.user_id, now)?;
            Ok(StepOutcome {
                changes: MessageChanges::default(),
                payload: payload(&r),
                result: (),
            })
        },
    )
    .await
}

/// Approve a submitted reply (a reviewer of the reviewing unit who wrote none of its revisions).
#[utoipa::path(
    operation_id = "approve_reply",
    tag = "replies",
    params(
        ("id" = String, Path, format = Uuid, description = "Reply id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the reply you reviewed")
    ),
    request_body = ApproveReply,
    responses(
        (status = 200, description = "Approved", body = ReplyDto, headers(("ETag" = String, description = "New version"))),
        (status = 403, description = "Not a reviewer of the reviewing unit, or the caller wrote the reply", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such reply, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The reply is not submitted", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The reply changed since you read it", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/replies/{id}/approve")]
pub async fn approve_reply(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<ApproveReply>,
) -> Result<HttpResponse, ApiError> {
    let comment = body
        .into_inner()
        .comment
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    review(
        &req,
        &db,
        &principal,
        &id,
        ReviewDecision::Approved,
        comment,
    )
    .await
}

/// Return a submitted reply to its unit with comments; the unit revises and submits again.
#[utoipa::path(
    operation_id = "return_reply",
    tag = "replies",
    params(
        ("id" = String, Path, format = Uuid, description = "Reply id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the reply you reviewed")
    ),
    request_body = ReturnReply,
    responses(
        (status = 200, description = "Returned for revision", body = ReplyDto, headers(("ETag" = String, description = "New version"))),
        (status = 403, description = "Not a reviewer of the reviewing unit, or the caller wrote the reply", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such reply, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The reply is not submitted", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The reply changed since you read it", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/replies/{id}/return")]
pub async fn return_reply(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<ReturnReply>,
) -> Result<HttpResponse, ApiError> {
    let comment = Some(body.into_inner().comment.trim().to_owned());
    review(
        &req,
        &db,
        &principal,
        &id,
        ReviewDecision::Returned,
        comment,
    )
    .await
}

async fn review(
    req: &HttpRequest,
    db: &Db,
    principal: &Principal,
    raw_id: &str,
    decision: ReviewDecision,
    comment: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let p = principal.clone();
    let (action, step_kind) = match decision {
        ReviewDecision::Approved => (MessageAction::ApproveReply, ReplyStep::Approve),
        ReviewDecision::Returned => (MessageAction::ReturnReply, ReplyStep::Return),
    };
    reply_step(
        req,
        db,
        principal,
        raw_id,
        IfMatch::Optional,
        move |_| action,
        move |conn, _, _, r, now| {
            let to = next(&r, step_kind)?;
            require_reviewer(conn, &p, &r)?;
            store::update(
                conn,
                r.id,
                &ReplyChanges {
                    status: Some(to),
                    reviewed_by: Some(Some(p.user_id)),
                    reviewed_at: Some(Some(now)),
                    review_comment: Some(comment.clone()),
                    ..Default::default()
                },
                now,
            )?;
            store::mark_reviewed(conn, &r, decision, comment.as_deref(), p.user_id, now)?;
            let mut body = payload(&r);
            body["decision"] = json!(decision);
            body["comment"] = json!(comment);
            Ok(StepOutcome {
                changes: MessageChanges::default(),
                payload: body,
                result: (),
            })
        },
    )
    .await
}

/// Publish an approved reply on the board, with the time and the unit's name. A final reply
/// makes the message `replied`: the lead assignment completes (its reply deadline judged met or
/// missed), open co-handling assignments end, and the author's rating window opens (see
/// `/reply-policy`). An interim reply leaves the message in progress. Staff of the replying
/// unit or reviewers of the reviewing unit may publish.
#[utoipa::path(
    operation_id = "publish_reply",
    tag = "replies",
    params(
        ("id" = String, Path, format = Uuid, description = "Reply id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the reply you read")
    ),
    responses(
        (status = 200, description = "Published", body = ReplyDto, headers(("ETag" = String, description = "New version"))),
        (status = 403, description = "Neither staff of the replying unit nor a reviewer of the reviewing unit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such reply, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not approved, or (final) the message is waiting for a clarification", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The reply changed since you read it", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/replies/{id}/publish")]
pub async fn publish_reply(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let p = principal.clone();
    reply_step(
        &req,
        &db,
        &principal,
        &id,
        IfMatch::Optional,
        |r| match r.kind {
            ReplyKind::Final => MessageAction::PublishReply,
            ReplyKind::Interim => MessageAction::PublishInterimReply,
        },
        move |conn, m, _, r, now| {
            let mine = p.unit_id == Some(r.unit_id) || p.unit_id == Some(r.review_unit_id);
            if !mine {
                return Err(ApiError::Forbidden(
                    "only the replying unit or its reviewers may publish this reply".into(),
                ));
            }
            let to = next(&r, ReplyStep::Publish)?;
            let unit_name = crate::store::units::get(conn, r.unit_id)?.name;
            store::update(
                conn,
                r.id,
                &ReplyChanges {
                    status: Some(to),
                    published_by: Some(Some(p.user_id)),
                    published_at: Some(Some(now)),
                    unit_name: Some(Some(unit_name.clone())),
                    ..Default::default()
                },
                now,
            )?;
            let mut body = payload(&r);
            body["unit_name"] = json!(unit_name);
            let mut changes = MessageChanges::default();
            if r.kind == ReplyKind::Final {
                let (verdict, until) = store::complete_handling(conn, m.id, r.assignment_id, now)?;
                body["reply_verdict"] = json!(verdict);
                body["feedback_until"] = json!(until);
                changes.replied_at = Some(Some(now));
                changes.feedback_until = Some(Some(until));
                changes.closed_at = Some(None);
            }
            Ok(StepOutcome {
                changes,
                payload: body,
                result: (),
            })
        },
    )
    .await
}

/// Discard a reply that is not yet published (the unit starts again).
#[utoipa::path(
    operation_id = "discard_reply",
    tag = "replies",
    params(
        ("id" = String, Path, format = Uuid, description = "Reply id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the reply you read")
    ),
    responses(
        (status = 200, description = "Discarded", body = ReplyDto, headers(("ETag" = String, description = "New version"))),
        (status = 403, description = "Not staff of the replying unit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such reply, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already published or discarded", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The reply changed since you read it", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/replies/{id}/discard")]
pub async fn discard_reply(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let p = principal.clone();
    reply_step(
        &req,
        &db,
        &principal,
        &id,
        IfMatch::Optional,
        |_| MessageAction::DiscardReply,
        move |conn, _, _, r, now| {
            require_reply_unit(&p, &r)?;
            let to = next(&r, ReplyStep::Discard)?;
            store::update(
                conn,
                r.id,
                &ReplyChanges {
                    status: Some(to),
                    ..Default::default()
                },
                now,
            )?;
            Ok(StepOutcome {
                changes: MessageChanges::default(),
                payload: payload(&r),
                result: (),
            })
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Reading

/// The replies of a message, oldest first: every reply for the staff handling it; published
/// replies for the author and for the public (of a public message).
#[utoipa::path(
    operation_id = "list_message_replies",
    tag = "replies",
    params(("id" = String, Path, format = Uuid, description = "Message id")),
    responses(
        (status = 200, description = "The replies", body = ReplyList),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/messages/{id}/replies")]
pub async fn list_message_replies(
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let message_id = parse_message_id(&id)?;
    let p = principal.clone();
    let items = db
        .run(move |conn| {
            let m = crate::store::messages::get(conn, message_id)?
                .ok_or_else(|| ApiError::not_found("message"))?;
            let access = message_access(viewer(&p), facts(&m));
            if access == MessageAccess::None {
                return Err(ApiError::not_found("message"));
            }
            let staff = staff_view(&p, &m);
            let mut items: Vec<ReplyDto> = store::of_message(conn, m.id, !staff)?
                .into_iter()
                .map(|r| ReplyDto::from_reply(r, staff))
                .collect();
            if access == MessageAccess::Public {
                mask_bodies(conn, &m, &mut items)?;
            }
            Ok::<_, ApiError>(items)
        })
        .await?;
    Ok(HttpResponse::Ok().json(ReplyList { items }))
}

/// Reply texts for a reader with only the public class of the message: masked as on the board.
fn mask_bodies(
    conn: &mut PgConnection,
    m: &Message,
    items: &mut [ReplyDto],
) -> Result<(), ApiError> {
    let bodies = items.iter().map(|r| r.body.clone()).collect();
    let masked = crate::app::access::mask_for_public(conn, m, bodies)?;
    for (r, body) in items.iter_mut().zip(masked) {
        r.body = body;
    }
    Ok(())
}

/// Load a reply the caller may see: staff of the handling see any, others published ones only.
fn visible_reply(
    conn: &mut PgConnection,
    p: &Principal,
    id: ReplyId,
) -> Result<(Reply, bool), ApiError> {
    let r = store::get(conn, id)?.ok_or_else(|| ApiError::not_found("reply"))?;
    let m = crate::store::messages::get(conn, r.message_id)?
        .ok_or_else(|| ApiError::not_found("reply"))?;
    if message_access(viewer(p), facts(&m)) == MessageAccess::None {
        return Err(ApiError::not_found("reply"));
    }
    let staff = staff_view(p, &m);
    if !staff && r.status != ReplyStatus::Published {
        return Err(ApiError::not_found("reply"));
    }
    Ok((r, staff))
}

/// Read a reply.
#[utoipa::path(
    operation_id = "get_reply",
    tag = "replies",
    params(("id" = String, Path, format = Uuid, description = "Reply id")),
    responses(
        (status = 200, description = "The reply", body = ReplyDto, headers(("ETag" = String, description = "Its version"))),
        (status = 404, description = "No such reply, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/replies/{id}")]
pub async fn get_reply(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_reply_id(&id)?;
    let p = principal.clone();
    let dto = db
        .run(move |conn| {
            let (r, staff) = visible_reply(conn, &p, id)?;
            let message_id = r.message_id;
            let mut dto = [ReplyDto::from_reply(r, staff)];
            let m = crate::store::messages::get(conn, message_id)?
                .ok_or_else(|| ApiError::not_found("reply"))?;
            if message_access(viewer(&p), facts(&m)) == MessageAccess::Public {
                mask_bodies(conn, &m, &mut dto)?;
            }
            let [dto] = dto;
            Ok::<_, ApiError>(dto)
        })
        .await?;
    crate::http::preconditions::respond_with_etag(&req, dto.version, &dto, HttpResponse::Ok())
}

/// Every revision of a reply with the review each received, oldest first (staff handling the
/// message).
#[utoipa::path(
    operation_id = "list_reply_revisions",
    tag = "replies",
    params(("id" = String, Path, format = Uuid, description = "Reply id")),
    responses(
        (status = 200, description = "The revisions", body = RevisionList),
        (status = 404, description = "No such reply, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/replies/{id}/revisions")]
pub async fn list_reply_revisions(
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_reply_id(&id)?;
    let p = principal.clone();
    let items = db
        .run(move |conn| {
            let (r, staff) = visible_reply(conn, &p, id)?;
            if !staff {
                return Err(ApiError::not_found("reply"));
            }
            Ok::<_, ApiError>(
                store::revisions(conn, r.id)?
                    .into_iter()
                    .map(RevisionDto::from)
                    .collect::<Vec<_>>(),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(RevisionList { items }))
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListRepliesQuery {
    #[param(inline)]
    pub status: Option<ReplyStatus>,
    #[param(inline)]
    pub kind: Option<ReplyKind>,
    /// Replies written by this unit.
    pub unit_id: Option<UnitId>,
    /// Replies this unit's reviewers decide (a review queue: with `status=submitted`).
    pub review_unit_id: Option<UnitId>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub message_id: Option<uuid::Uuid>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// Replies, newest first: a unit's own and those it reviews (unit staff), a region subtree
/// (supervisors, analysts, leaders), all (administrators). With `status=submitted` and
/// `review_unit_id` it is a reviewer's queue.
#[utoipa::path(
    operation_id = "list_replies",
    tag = "replies",
    params(ListRepliesQuery),
    responses(
        (status = 200, description = "A page of replies", body = ReplyPage),
        (status = 403, description = "The account belongs to no unit", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/replies")]
pub async fn list_replies(
    db: web::Data<Db>,
    principal: Principal,
    query: ApiQuery<ListRepliesQuery>,
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
                kind: q.kind,
                unit_id: q.unit_id,
                review_unit_id: q.review_unit_id,
                message_id: q.message_id,
            };
            let rows = store::list(conn, &scope, &filter, &page)?;
            let (rows, next) = finish_page(rows, limit, |r| (r.created_at, r.id));
            Ok::<_, ApiError>((
                rows.into_iter()
                    .map(|r| ReplyDto::from_reply(r, true))
                    .collect::<Vec<_>>(),
                next,
            ))
        })
        .await?;
    Ok(HttpResponse::Ok().json(ReplyPage { items, next_cursor }))
}

// ---------------------------------------------------------------------------------------------
// The editorial rules

/// The editorial rules replies are checked against before review, and the citizens' rating
/// window.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "min_chars": 20, "banned_phrases": ["不归我们管", "请自行解决"], "feedback_window_days": 15,
    "version": 3, "updated_at": "2026-11-26T02:00:00Z"
}))]
pub struct ReplyPolicyDto {
    /// Fewest characters a reply may have (after trimming).
    #[schema(format = Int32, minimum = 1, maximum = 1000)]
    pub min_chars: i32,
    /// Phrases a reply may not contain (bureaucratic boilerplate the province forbids).
    #[schema(max_items = 200)]
    pub banned_phrases: Vec<String>,
    /// Calendar days after a final reply's publication during which the author may rate it;
    /// when they end, the message closes unless an unsatisfied rating or a supervision case is
    /// open.
    #[schema(format = Int32, minimum = 1, maximum = 90)]
    pub feedback_window_days: i32,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

impl From<store::Policy> for ReplyPolicyDto {
    fn from(p: store::Policy) -> Self {
        ReplyPolicyDto {
            min_chars: p.min_chars,
            banned_phrases: p.banned_phrases,
            feedback_window_days: p.feedback_window_days,
            version: p.version,
            updated_at: p.updated_at,
        }
    }
}

/// A banned phrase.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, min_length = 1, max_length = 50, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$", example = "请自行解决")]
pub struct Phrase(pub String);

fn validate_phrases(phrases: &[Phrase]) -> Result<(), validator::ValidationError> {
    let bad = phrases.iter().any(|Phrase(t)| {
        let n = t.trim().chars().count();
        n == 0 || n > 50 || t.chars().any(char::is_control)
    });
    if bad {
        let mut e = validator::ValidationError::new("format");
        e.message = Some("each phrase must be 1 to 50 characters".into());
        return Err(e);
    }
    Ok(())
}

/// New editorial rules (all fields; `If-Match` required).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"min_chars": 30, "banned_phrases": ["不归我们管", "请自行解决"], "feedback_window_days": 15}))]
pub struct PutReplyPolicy {
    #[schema(format = Int32, minimum = 1, maximum = 1000)]
    #[serde(deserialize_with = "crate::routes::integer")]
    #[validate(range(min = 1, max = 1000))]
    pub min_chars: i32,
    #[schema(max_items = 200)]
    #[validate(length(max = 200), custom(function = "validate_phrases"))]
    pub banned_phrases: Vec<Phrase>,
    #[schema(format = Int32, minimum = 1, maximum = 90)]
    #[serde(deserialize_with = "crate::routes::integer")]
    #[validate(range(min = 1, max = 90))]
    pub feedback_window_days: i32,
}

/// The editorial rules and the rating window.
#[utoipa::path(
    operation_id = "get_reply_policy",
    tag = "replies",
    responses(
        (status = 200, description = "The rules", body = ReplyPolicyDto, headers(("ETag" = String, description = "Their version")))
    )
)]
#[get("/reply-policy")]
pub async fn get_reply_policy(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let dto: ReplyPolicyDto = db.run(store::policy).await?.into();
    crate::http::preconditions::respond_with_etag(&req, dto.version, &dto, HttpResponse::Ok())
}

/// Replace the editorial rules (administrators). A changed rating window applies to replies
/// published afterwards.
#[utoipa::path(
    operation_id = "put_reply_policy",
    tag = "replies",
    params(("If-Match" = String, Header, description = "ETag of the rules you read")),
    request_body = PutReplyPolicy,
    responses(
        (status = 200, description = "The new rules", body = ReplyPolicyDto, headers(("ETag" = String, description = "New version"))),
        (status = 412, description = "The rules changed since you read them", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[put("/reply-policy")]
pub async fn put_reply_policy(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    body: ApiJson<PutReplyPolicy>,
) -> Result<HttpResponse, ApiError> {
    let cond = IfMatchCondition::from_request(&req, IfMatch::Required)?;
    let body = body.into_inner();
    let mut phrases: Vec<String> = body
        .banned_phrases
        .into_iter()
        .map(|Phrase(p)| p.trim().to_owned())
        .collect();
    phrases.sort();
    phrases.dedup();
    let now = crate::http::now(&req);
    let by = principal.user_id;
    let dto: ReplyPolicyDto = db
        .run(move |conn| {
            store::set_policy(
                conn,
                body.min_chars,
                &phrases,
                body.feedback_window_days,
                by,
                &cond,
                now,
            )
        })
        .await?
        .into();
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(dto.version)))
        .json(dto))
}
