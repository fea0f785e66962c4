//! Replies, their revisions and reviews, and the editorial rules they are checked against.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;

use crate::domain::ids::{AssignmentId, ReplyId, UnitId, UserId};
use crate::domain::reply::{EditorialRules, ReplyKind, ReplyStatus, ReviewDecision};
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::schema::{replies as r, reply_policy as p, reply_revisions as v};
use crate::store::messages::MessageId;

/// Read model (also the insert form).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = r)]
pub struct Reply {
    pub id: ReplyId,
    pub message_id: MessageId,
    pub assignment_id: AssignmentId,
    pub unit_id: UnitId,
    pub intake_unit_id: UnitId,
    pub region_path: String,
    pub kind: ReplyKind,
    pub status: ReplyStatus,
    pub body: String,
    pub attachments: Value,
    pub revision: i32,
    pub review_unit_id: UnitId,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_by: UserId,
    pub updated_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub reviewed_by: Option<UserId>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub review_comment: Option<String>,
    pub published_by: Option<UserId>,
    pub published_at: Option<DateTime<Utc>>,
    pub unit_name: Option<String>,
    pub version: i32,
}

/// Update form.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = r)]
pub struct ReplyChanges {
    pub status: Option<ReplyStatus>,
    pub body: Option<String>,
    pub attachments: Option<Value>,
    pub revision: Option<i32>,
    pub updated_by: Option<UserId>,
    pub submitted_at: Option<Option<DateTime<Utc>>>,
    pub reviewed_by: Option<Option<UserId>>,
    pub reviewed_at: Option<Option<DateTime<Utc>>>,
    pub review_comment: Option<Option<String>>,
    pub published_by: Option<Option<UserId>>,
    pub published_at: Option<Option<DateTime<Utc>>>,
    pub unit_name: Option<Option<String>>,
}

/// One revision and the review it received (read model and insert form).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = v)]
pub struct Revision {
    pub reply_id: ReplyId,
    pub revision: i32,
    pub body: String,
    pub attachments: Value,
    pub edited_by: UserId,
    pub edited_at: DateTime<Utc>,
    pub submitted_by: Option<UserId>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub review_decision: Option<ReviewDecision>,
    pub review_comment: Option<String>,
    pub reviewed_by: Option<UserId>,
    pub reviewed_at: Option<DateTime<Utc>>,
}

/// Store a new draft and its first revision.
pub fn insert(conn: &mut PgConnection, new: &Reply) -> Result<(), ApiError> {
    diesel::insert_into(r::table)
        .values(new)
        .execute(conn)
        .map_err(|e| {
            super::unique_as_conflict(
                e,
                "the message already has a final reply in the making; revise or discard it",
            )
        })?;
    add_revision(conn, new)
}

/// Record the reply's current text as its revision `new.revision`.
pub(crate) fn add_revision(conn: &mut PgConnection, reply: &Reply) -> Result<(), ApiError> {
    diesel::insert_into(v::table)
        .values(&Revision {
            reply_id: reply.id,
            revision: reply.revision,
            body: reply.body.clone(),
            attachments: reply.attachments.clone(),
            edited_by: reply.updated_by,
            edited_at: reply.updated_at,
            submitted_by: None,
            submitted_at: None,
            review_decision: None,
            review_comment: None,
            reviewed_by: None,
            reviewed_at: None,
        })
        .execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut PgConnection, id: ReplyId) -> Result<Option<Reply>, ApiError> {
    Ok(r::table
        .find(id)
        .select(Reply::as_select())
        .first(conn)
        .optional()?)
}

/// Apply a change (bumping the version) and return the reply as it is now.
pub fn update(
    conn: &mut PgConnection,
    id: ReplyId,
    changes: &ReplyChanges,
    at: DateTime<Utc>,
) -> Result<Reply, ApiError> {
    diesel::update(r::table.find(id))
        .set((changes, r::version.eq(r::version + 1), r::updated_at.eq(at)))
        .execute(conn)?;
    get(conn, id)?.ok_or_else(|| ApiError::Internal("reply vanished".into()))
}

/// A new text: the next revision.
pub fn revise(
    conn: &mut PgConnection,
    current: &Reply,
    body: String,
    attachments: Value,
    by: UserId,
    at: DateTime<Utc>,
) -> Result<Reply, ApiError> {
    let updated = update(
        conn,
        current.id,
        &ReplyChanges {
            status: Some(ReplyStatus::Draft),
            body: Some(body),
            attachments: Some(attachments),
            revision: Some(current.revision + 1),
            updated_by: Some(by),
            ..Default::default()
        },
        at,
    )?;
    add_revision(conn, &updated)?;
    Ok(updated)
}

/// Mark the current revision submitted.
pub fn mark_submitted(
    conn: &mut PgConnection,
    reply: &Reply,
    by: UserId,
    at: DateTime<Utc>,
) -> Result<(), ApiError> {
    diesel::update(v::table.find((reply.id, reply.revision)))
        .set((v::submitted_by.eq(Some(by)), v::submitted_at.eq(Some(at))))
        .execute(conn)?;
    Ok(())
}

/// Record a review decision on the current revision.
pub fn mark_reviewed(
    conn: &mut PgConnection,
    reply: &Reply,
    decision: ReviewDecision,
    comment: Option<&str>,
    by: UserId,
    at: DateTime<Utc>,
) -> Result<(), ApiError> {
    diesel::update(v::table.find((reply.id, reply.revision)))
        .set((
            v::review_decision.eq(Some(decision)),
            v::review_comment.eq(comment),
            v::reviewed_by.eq(Some(by)),
            v::reviewed_at.eq(Some(at)),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn revisions(conn: &mut PgConnection, id: ReplyId) -> Result<Vec<Revision>, ApiError> {
    Ok(v::table
        .filter(v::reply_id.eq(id))
        .order(v::revision.asc())
        .select(Revision::as_select())
        .load(conn)?)
}

/// Everyone who wrote a revision of the reply (they may not review it).
pub fn editors(conn: &mut PgConnection, id: ReplyId) -> Result<Vec<uuid::Uuid>, ApiError> {
    let ids: Vec<UserId> = v::table
        .filter(v::reply_id.eq(id))
        .select(v::edited_by)
        .distinct()
        .load(conn)?;
    Ok(ids.into_iter().map(|u| u.0).collect())
}

/// The replies of a message, oldest first; `published_only` for readers outside the handling.
pub fn of_message(
    conn: &mut PgConnection,
    message: MessageId,
    published_only: bool,
) -> Result<Vec<Reply>, ApiError> {
    let mut q = r::table
        .filter(r::message_id.eq(message))
        .select(Reply::as_select())
        .into_boxed();
    if published_only {
        q = q.filter(r::status.eq(ReplyStatus::Published));
    }
    Ok(q.order((r::created_at.asc(), r::id.asc())).load(conn)?)
}

/// Discard what a unit had in the making when the message leaves it (return, transfer):
/// the next unit starts afresh. Returns how many replies were discarded.
pub fn discard_in_flight(
    conn: &mut PgConnection,
    message: MessageId,
    unit: UnitId,
    at: DateTime<Utc>,
) -> Result<usize, ApiError> {
    Ok(diesel::update(
        r::table
            .filter(r::message_id.eq(message))
            .filter(r::unit_id.eq(unit))
            .filter(r::status.eq_any([
                ReplyStatus::Draft,
                ReplyStatus::Submitted,
                ReplyStatus::Returned,
                ReplyStatus::Approved,
            ])),
    )
    .set((
        r::status.eq(ReplyStatus::Discarded),
        r::version.eq(r::version + 1),
        r::updated_at.eq(at),
    ))
    .execute(conn)?)
}

/// The latest published final reply of a message.
pub fn latest_final(
    conn: &mut PgConnection,
    message: MessageId,
) -> Result<Option<Reply>, ApiError> {
    Ok(r::table
        .filter(r::message_id.eq(message))
        .filter(r::kind.eq(ReplyKind::Final))
        .filter(r::status.eq(ReplyStatus::Published))
        .order((r::published_at.desc(), r::id.desc()))
        .select(Reply::as_select())
        .first(conn)
        .optional()?)
}

/// Who may see which replies in lists: everything, a region subtree, or what a unit writes or
/// reviews (the liaison office reviews the important messages it runs intake for).
pub use super::HandlingScope as Scope;

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub status: Option<ReplyStatus>,
    pub kind: Option<ReplyKind>,
    pub unit_id: Option<UnitId>,
    /// Replies this unit's reviewers decide.
    pub review_unit_id: Option<UnitId>,
    pub message_id: Option<MessageId>,
}

/// Newest first.
pub type Cursor = (DateTime<Utc>, ReplyId);

pub fn list(
    conn: &mut PgConnection,
    scope: &Scope,
    filter: &Filter,
    page: &PageRequest<Cursor>,
) -> Result<Vec<Reply>, ApiError> {
    match scope {
        // A unit's replies are those it writes, reviews, or (liaison office) runs intake for:
        // one index range each, merged here (an OR over three columns would scan the table).
        Scope::Unit(u) => {
            let mut rows = Vec::new();
            for column in [UnitColumn::Writes, UnitColumn::Reviews, UnitColumn::Intake] {
                rows.extend(list_where(conn, Some((column, *u)), None, filter, page)?);
            }
            rows.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id.0)));
            rows.dedup_by_key(|r| r.id);
            rows.truncate(usize::try_from(page.fetch_limit()).unwrap_or(usize::MAX));
            Ok(rows)
        }
        Scope::RegionPath(p) => list_where(conn, None, Some(p), filter, page),
        Scope::All => list_where(conn, None, None, filter, page),
    }
}

#[derive(Debug, Clone, Copy)]
enum UnitColumn {
    Writes,
    Reviews,
    Intake,
}

fn list_where(
    conn: &mut PgConnection,
    unit: Option<(UnitColumn, UnitId)>,
    region_prefix: Option<&str>,
    filter: &Filter,
    page: &PageRequest<Cursor>,
) -> Result<Vec<Reply>, ApiError> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
    let mut q = r::table.select(Reply::as_select()).into_boxed();
    q = match unit {
        Some((UnitColumn::Writes, u)) => q.filter(r::unit_id.eq(u)),
        Some((UnitColumn::Reviews, u)) => q.filter(r::review_unit_id.eq(u)),
        Some((UnitColumn::Intake, u)) => q.filter(r::intake_unit_id.eq(u)),
        None => q,
    };
    if let Some(p) = region_prefix {
        q = q.filter(r::region_path.like(super::like_prefix(p)));
    }
    if let Some(s) = filter.status {
        q = q.filter(r::status.eq(s));
    }
    if let Some(k) = filter.kind {
        q = q.filter(r::kind.eq(k));
    }
    if let Some(u) = filter.unit_id {
        q = q.filter(r::unit_id.eq(u));
    }
    if let Some(u) = filter.review_unit_id {
        q = q.filter(r::review_unit_id.eq(u));
    }
    if let Some(m) = filter.message_id {
        q = q.filter(r::message_id.eq(m));
    }
    if let Some((t, id)) = page.after {
        q = q.filter(
            sql::<Bool>("(replies.created_at, replies.id) < (")
                .bind::<Timestamptz, _>(t)
                .sql(", ")
                .bind::<SqlUuid, _>(id.0)
                .sql(")"),
        );
    }
    Ok(q.order((r::created_at.desc(), r::id.desc()))
        .limit(page.fetch_limit())
        .load(conn)?)
}

// ---------------------------------------------------------------------------------------------
// The editorial rules (one row)

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = p)]
pub struct Policy {
    pub min_chars: i32,
    pub banned_phrases: Vec<String>,
    pub feedback_window_days: i32,
    pub version: i32,
    pub updated_by: Option<UserId>,
    pub updated_at: DateTime<Utc>,
}

impl Policy {
    pub fn rules(&self) -> EditorialRules {
        EditorialRules {
            min_chars: usize::try_from(self.min_chars).unwrap_or(1),
            banned_phrases: self.banned_phrases.clone(),
        }
    }
}

pub fn policy(conn: &mut PgConnection) -> Result<Policy, ApiError> {
    Ok(p::table.select(Policy::as_select()).first(conn)?)
}

/// Replace the rules; `expected_version` from If-Match (checked under the row lock).
pub fn set_policy(
    conn: &mut PgConnection,
    min_chars: i32,
    banned_phrases: &[String],
    feedback_window_days: i32,
    by: UserId,
    cond: &crate::http::preconditions::IfMatchCondition,
    at: DateTime<Utc>,
) -> Result<Policy, ApiError> {
    conn.transaction(|conn| {
        let current: Policy = p::table
            .for_update()
            .select(Policy::as_select())
            .first(conn)?;
        cond.check(current.version)?;
        diesel::update(p::table)
            .set((
                p::min_chars.eq(min_chars),
                p::banned_phrases.eq(banned_phrases),
                p::feedback_window_days.eq(feedback_window_days),
                p::updated_by.eq(Some(by)),
                p::updated_at.eq(at),
                p::version.eq(p::version + 1),
            ))
            .execute(conn)?;
        policy(conn)
    })
}

/// The final reply is out: the lead assignment completes with its reply deadline judged, open
/// co-handling assignments end with their clocks. Returns the reply verdict (`met`/`missed`)
/// and the end of the author's rating window. Runs inside the publishing step.
pub fn complete_handling(
    conn: &mut PgConnection,
    message: MessageId,
    lead: AssignmentId,
    now: DateTime<Utc>,
) -> Result<(Option<String>, DateTime<Utc>), ApiError> {
    use crate::domain::handling::{AssignmentStatus, DeadlineKind, DeadlineRecordState};
    use crate::domain::message::MessageAction;
    use crate::store::assignments::{self, AssignmentChanges};
    use crate::store::deadlines;
    let a = assignments::get(conn, lead)?
        .filter(|a| a.status == AssignmentStatus::SignedFor)
        .ok_or_else(|| {
            ApiError::Conflict(
                "the reply's assignment is no longer open: the message moved on".into(),
            )
        })?;
    assignments::update(
        conn,
        a.id,
        &AssignmentChanges {
            status: Some(AssignmentStatus::Completed),
            completed_at: Some(Some(now)),
            ..Default::default()
        },
        now,
    )?;
    let verdicts = deadlines::close(
        conn,
        a.id,
        DeadlineKind::Reply,
        now,
        MessageAction::PublishReply,
    )?;
    for co in assignments::open_of_message(conn, message)? {
        assignments::update(
            conn,
            co.id,
            &AssignmentChanges {
                status: Some(AssignmentStatus::Cancelled),
                ..Default::default()
            },
            now,
        )?;
        deadlines::cancel(conn, co.id, now, MessageAction::PublishReply)?;
    }
    let window = policy(conn)?.feedback_window_days;
    record_answer_facts(
        conn,
        message,
        verdicts
            .first()
            .map(|(_, v)| *v == DeadlineRecordState::Met),
        now,
    )?;
    Ok((
        verdicts.first().map(|(_, v)| v.as_str().to_owned()),
        crate::domain::reply::feedback_until(now, window),
    ))
}

/// The statistics' facts of an answer, kept on the message: the deadline verdict, the working
/// days from submission to this final reply (by the calendar in force now), and no rating yet
/// (a new final reply waits for its own).
fn record_answer_facts(
    conn: &mut PgConnection,
    message: MessageId,
    on_time: Option<bool>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    use crate::domain::calendar::local_date;
    use crate::schema::messages as m;
    let submitted: DateTime<Utc> = m::table.find(message).select(m::submitted_at).first(conn)?;
    let (from, to) = (local_date(submitted), local_date(now));
    let calendar = crate::store::deadlines::calendar(conn, from, to)?;
    let days = i32::try_from(calendar.working_days_between(from, to)).unwrap_or(i32::MAX);
    diesel::update(m::table.find(message))
        .set((
            m::reply_on_time.eq(on_time),
            m::handling_days.eq(Some(days)),
            m::rating.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}
