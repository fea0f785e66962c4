//! Citizen feedback on final replies, and the supervisor's answers to it: reopening a message
//! (back to its unit with a new reply deadline) or closing it with an explanation.

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
use crate::app::reopen::{ReopenCause, reopen_in};
use crate::app::transition::{self, StepOutcome};
use crate::auth::policy::{MessageAccess, message_access};
use crate::auth::{Permission, Principal};
use crate::db::Db;
use crate::domain::ids::{FeedbackId, ReplyId, UnitId, UserId};
use crate::domain::message::MessageAction;
use crate::domain::reply::{FeedbackFlag, Rating, flag_after, rating_change_refusal};
use crate::error::ApiError;
use crate::http::extract::parse_message_id;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag};
use crate::routes::messages::MessageDto;
use crate::store::feedback::{self as store, Feedback};
use crate::store::messages::{Message, MessageChanges};

// ---------------------------------------------------------------------------------------------
// Wire types

/// The author's rating of a final reply. An `unsatisfied` rating raises a flag the supervisor
/// must decide (`reopened` or `closed`); until then the message does not close on its own.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b07", "message_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0c01",
    "reply_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b06", "unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c",
    "rating": "unsatisfied", "comment": "信号灯修好两天又坏了", "changes": 0, "flag": "open",
    "resolved_at": null, "resolution_note": null,
    "created_at": "2026-11-27T02:00:00Z", "updated_at": "2026-11-27T02:00:00Z", "version": 1
}))]
pub struct FeedbackDto {
    pub id: FeedbackId,
    #[schema(value_type = String, format = Uuid)]
    pub message_id: uuid::Uuid,
    /// The final reply rated.
    pub reply_id: ReplyId,
    /// The unit that wrote the reply.
    pub unit_id: UnitId,
    pub rating: Rating,
    #[schema(max_length = 1000)]
    pub comment: String,
    /// How often the author changed the rating.
    #[schema(format = Int32, minimum = 0)]
    pub changes: i32,
    pub flag: FeedbackFlag,
    pub resolved_by: Option<UserId>,
    pub resolved_at: Option<DateTime<Utc>>,
    #[schema(max_length = 2000)]
    pub resolution_note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
}

impl From<Feedback> for FeedbackDto {
    fn from(f: Feedback) -> Self {
        FeedbackDto {
            id: f.id,
            message_id: f.message_id,
            reply_id: f.reply_id,
            unit_id: f.unit_id,
            rating: f.rating,
            comment: f.comment,
            changes: f.changes,
            flag: f.flag,
            resolved_by: f.resolved_by,
            resolved_at: f.resolved_at,
            resolution_note: f.resolution_note,
            created_at: f.created_at,
            updated_at: f.updated_at,
            version: f.version,
        }
    }
}

crate::page_type!(FeedbackPage, FeedbackDto, "A page of ratings.");

/// The ratings of one message (one per final reply), oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FeedbackList {
    #[schema(max_items = 100)]
    pub items: Vec<FeedbackDto>,
}

/// The author's rating.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"rating": "basically_satisfied", "comment": "问题已解决，但回复慢了些"}))]
pub struct RateReply {
    pub rating: Rating,
    #[schema(
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 1000), custom(function = "crate::domain::validate_text"))]
    pub comment: Option<String>,
}

/// Why a supervisor reopens or closes a message.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "群众反映信号灯仍有故障，请重新核查处理"}))]
pub struct SupervisorNote {
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

// ---------------------------------------------------------------------------------------------
// Rating

/// Rate the final reply to one's own message (the author), or change the rating (at most three
/// times), while the rating window is open (`feedback_until` on the message). 201 for the first rating, 200 for a
/// change. An `unsatisfied` rating flags the message for the supervisors of its region.
#[utoipa::path(
    operation_id = "rate_reply",
    tag = "feedback",
    params(("id" = String, Path, format = Uuid, description = "Message id")),
    request_body = RateReply,
    responses(
        (status = 200, description = "The changed rating", body = FeedbackDto, headers(("ETag" = String, description = "Its version"))),
        (status = 201, description = "The rating", body = FeedbackDto, headers(("ETag" = String, description = "Its version"))),
        (status = 403, description = "Not the author of the message", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "No final reply to rate, the rating window has ended, or the rating was already changed three times", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[put("/messages/{id}/feedback")]
pub async fn rate_reply(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<RateReply>,
) -> Result<HttpResponse, ApiError> {
    let message_id = parse_message_id(&id)?;
    let body = body.into_inner();
    let comment = body
        .comment
        .map(|c| c.trim().to_owned())
        .unwrap_or_default();
    let now = crate::http::now(&req);
    let p = principal.clone();
    let (created, dto) = db
        .run(move |conn| {
            conn.transaction(|conn| {
                let (_, result) = transition::run(
                    conn,
                    &p,
                    message_id,
                    &IfMatchCondition::none(),
                    MessageAction::Rate,
                    now,
                    None,
                    |conn, m, _, _| {
                        match m.feedback_until {
                            Some(until) if now < until => {}
                            Some(until) => {
                                return Err(ApiError::Conflict(format!(
                                    "the rating window ended at {}",
                                    until.to_rfc3339()
                                )));
                            }
                            None => {
                                return Err(ApiError::Conflict(
                                    "there is no final reply to rate".into(),
                                ));
                            }
                        }
                        let reply =
                            crate::store::replies::latest_final(conn, m.id)?.ok_or_else(|| {
                                ApiError::Conflict("there is no final reply to rate".into())
                            })?;
                        let (row, created) = match store::of_reply(conn, reply.id)? {
                            Some(existing) => {
                                if let Some(why) = rating_change_refusal(existing.changes) {
                                    return Err(ApiError::Conflict(why));
                                }
                                let flag = flag_after(Some(existing.flag), body.rating);
                                (
                                    store::change(
                                        conn,
                                        existing.id,
                                        body.rating,
                                        &comment,
                                        flag,
                                        now,
                                    )?,
                                    false,
                                )
                            }
                            None => {
                                let row = Feedback {
                                    id: FeedbackId::new(),
                                    message_id: m.id,
                                    reply_id: reply.id,
                                    author_id: p.user_id,
                                    unit_id: reply.unit_id,
                                    region_path: m.region_path.clone(),
                                    rating: body.rating,
                                    comment: comment.clone(),
                                    changes: 0,
                                    flag: flag_after(None, body.rating),
                                    resolved_by: None,
                                    resolved_at: None,
                                    resolution_note: None,
                                    created_at: now,
                                    updated_at: now,
                                    version: 1,
                                };
                                store::insert(conn, &row)?;
                                (row, true)
                            }
                        };
                        Ok(StepOutcome {
                            changes: MessageChanges::default(),
                            payload: json!({
                                "feedback_id": row.id, "reply_id": reply.id, "rating": row.rating,
                                "changed": !created, "flag": row.flag,
                            }),
                            result: (created, FeedbackDto::from(row)),
                        })
                    },
                )?;
                Ok::<_, ApiError>(result)
            })
        })
        .await?;
    let mut b = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(b.insert_header((header::ETAG, etag(dto.version))).json(dto))
}

/// The ratings of a message (the author, and the staff who see the message).
#[utoipa::path(
    operation_id = "list_message_feedback",
    tag = "feedback",
    params(("id" = String, Path, format = Uuid, description = "Message id")),
    responses(
        (status = 200, description = "The ratings", body = FeedbackList),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/messages/{id}/feedback")]
pub async fn list_message_feedback(
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
            let sees = matches!(
                access,
                MessageAccess::Staff | MessageAccess::Full | MessageAccess::Author
            );
            if !sees {
                return Err(ApiError::not_found("message"));
            }
            Ok::<_, ApiError>(
                store::of_message(conn, m.id)?
                    .into_iter()
                    .map(FeedbackDto::from)
                    .collect::<Vec<_>>(),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(FeedbackList { items }))
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListFeedbackQuery {
    /// `open`: unsatisfied ratings waiting for a supervisor's decision.
    #[param(inline)]
    pub flag: Option<FeedbackFlag>,
    #[param(inline)]
    pub rating: Option<Rating>,
    pub unit_id: Option<UnitId>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// Ratings, oldest change first: with `flag=open` the supervisors' queue of unsatisfied
/// ratings. Supervisors, analysts and leaders see their region subtree, unit staff their unit's
/// replies' ratings, administrators all.
#[utoipa::path(
    operation_id = "list_feedback",
    tag = "feedback",
    params(ListFeedbackQuery),
    responses(
        (status = 200, description = "A page of ratings", body = FeedbackPage),
        (status = 403, description = "The account belongs to no unit", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/feedback")]
pub async fn list_feedback(
    db: web::Data<Db>,
    principal: Principal,
    query: ApiQuery<ListFeedbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page: PageRequest<store::Cursor> = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let limit = page.limit;
    let p = principal.clone();
    let (items, next_cursor) = db
        .run(move |conn| {
            let scope = handling_scope(conn, &p)?;
            let filter = store::Filter {
                flag: q.flag,
                rating: q.rating,
                unit_id: q.unit_id,
            };
            let rows = store::list(conn, &scope, &filter, &page)?;
            let (rows, next) = finish_page(rows, limit, |f| (f.updated_at, f.id));
            Ok::<_, ApiError>((rows.into_iter().map(FeedbackDto::from).collect(), next))
        })
        .await?;
    Ok(HttpResponse::Ok().json(FeedbackPage { items, next_cursor }))
}

// ---------------------------------------------------------------------------------------------
// Reopening and closing

/// Run a supervisor's step on a message (`decide` gets the locked message, the caller and the
/// time) and answer with the message as it is afterwards.
async fn supervisor_step(
    req: &HttpRequest,
    db: &Db,
    principal: &Principal,
    raw_id: &str,
    action: MessageAction,
    decide: impl FnOnce(
        &mut PgConnection,
        &Message,
        &Principal,
        DateTime<Utc>,
    ) -> Result<StepOutcome<()>, ApiError>
    + Send
    + 'static,
) -> Result<HttpResponse, ApiError> {
    principal.require(Permission::Supervise)?;
    let message_id = parse_message_id(raw_id)?;
    // Reopening and closing are decisions on the message as the caller saw it: with If-Match, a
    // decision taken on an older version (someone else closed or reopened meanwhile) is 412.
    let cond = IfMatchCondition::from_request(req, IfMatch::Optional)?;
    let now = crate::http::now(req);
    let p = principal.clone();
    let m = db
        .run(move |conn| {
            conn.transaction(|conn| {
                transition::run(
                    conn,
                    &p,
                    message_id,
                    &IfMatchCondition::none(),
                    action,
                    now,
                    None,
                    |conn, m, _, _| {
                        cond.check(m.version)?;
                        decide(conn, m, &p, now)
                    },
                )
                .map(|(m, _)| m)
            })
        })
        .await?;
    let access = message_access(viewer(principal), facts(&m));
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(m.version)))
        .json(MessageDto::from_message(m, access)))
}

/// Reopen a replied or closed message (a supervisor of its region): it goes back to the unit of
/// its last final reply with a new reply deadline, and counts as reopened in the statistics.
#[utoipa::path(
    operation_id = "reopen_message",
    tag = "feedback",
    params(
        ("id" = String, Path, format = Uuid, description = "Message id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the message you read: the decision is refused (412) when the message changed since")
    ),
    request_body = SupervisorNote,
    responses(
        (status = 200, description = "The reopened message", body = MessageDto, headers(("ETag" = String, description = "New version"))),
        (status = 403, description = "Not a supervisor of the message's region", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The message is not replied or closed", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/messages/{id}/reopen")]
pub async fn reopen_message(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<SupervisorNote>,
) -> Result<HttpResponse, ApiError> {
    let note = body.into_inner().note.trim().to_owned();
    supervisor_step(
        &req,
        &db,
        &principal,
        &id,
        MessageAction::Reopen,
        move |conn, m, p, now| reopen_in(conn, m, p.user_id, &note, ReopenCause::Supervisor, now),
    )
    .await
}

/// Close a replied message with an explanation (a supervisor of its region), e.g. when an
/// unsatisfied rating asks for what the law does not allow. Decides an open unsatisfied rating
/// as `closed`. An open supervision case must be closed first. Closing inside the rating window
/// does not end it: the author may still rate until `feedback_until`, and an unsatisfied rating
/// then flags the closed message for the supervisors again.
#[utoipa::path(
    operation_id = "close_message",
    tag = "feedback",
    params(
        ("id" = String, Path, format = Uuid, description = "Message id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the message you read: the decision is refused (412) when the message changed since")
    ),
    request_body = SupervisorNote,
    responses(
        (status = 200, description = "The closed message", body = MessageDto, headers(("ETag" = String, description = "New version"))),
        (status = 403, description = "Not a supervisor of the message's region", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The message is not replied, or a supervision case is open", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/messages/{id}/close")]
pub async fn close_message(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<SupervisorNote>,
) -> Result<HttpResponse, ApiError> {
    let note = body.into_inner().note.trim().to_owned();
    supervisor_step(
        &req,
        &db,
        &principal,
        &id,
        MessageAction::Close,
        move |conn, m, p, now| {
            if crate::store::supervision::open_of_message(conn, m.id)?.is_some() {
                return Err(ApiError::Conflict(
                    "a supervision case on this message is open; close it first".into(),
                ));
            }
            let flag = match store::open_flag(conn, m.id)? {
                Some(f) => Some(
                    store::resolve(conn, f.id, FeedbackFlag::Closed, p.user_id, &note, now)?.id,
                ),
                None => None,
            };
            Ok(StepOutcome {
                changes: MessageChanges {
                    closed_at: Some(Some(now)),
                    ..Default::default()
                },
                // Closed inside the rating window: the window stays open (the author may
                // still rate, and an unsatisfied rating comes back to the supervisors).
                payload: json!({
                    "reason": "supervisor", "note": note, "feedback_id": flag,
                    "rating_window_open": m.feedback_until.is_some_and(|until| now < until),
                }),
                result: (),
            })
        },
    )
    .await
}
