//! The authors' ratings of final replies, and the supervisors' decisions on unsatisfied ones.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::ids::{FeedbackId, ReplyId, UnitId, UserId};
use crate::domain::reply::{FeedbackFlag, Rating};
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::schema::feedback as f;
use crate::store::messages::MessageId;

/// Read model (also the insert form).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = f)]
pub struct Feedback {
    pub id: FeedbackId,
    pub message_id: MessageId,
    pub reply_id: ReplyId,
    pub author_id: UserId,
    pub unit_id: UnitId,
    pub region_path: String,
    pub rating: Rating,
    pub comment: String,
    pub changes: i32,
    pub flag: FeedbackFlag,
    pub resolved_by: Option<UserId>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

pub fn insert(conn: &mut PgConnection, new: &Feedback) -> Result<(), ApiError> {
    diesel::insert_into(f::table)
        .values(new)
        .execute(conn)
        .map_err(|e| super::unique_as_conflict(e, "the reply is already rated"))?;
    keep_rating(conn, new.message_id, new.rating)
}

/// The statistics count the rating of the latest final reply on the message row.
fn keep_rating(
    conn: &mut PgConnection,
    message: MessageId,
    rating: Rating,
) -> Result<(), ApiError> {
    use crate::schema::messages as m;
    diesel::update(m::table.find(message))
        .set(m::rating.eq(Some(rating.as_str())))
        .execute(conn)?;
    Ok(())
}

pub fn of_reply(conn: &mut PgConnection, reply: ReplyId) -> Result<Option<Feedback>, ApiError> {
    Ok(f::table
        .filter(f::reply_id.eq(reply))
        .select(Feedback::as_select())
        .first(conn)
        .optional()?)
}

pub fn of_message(conn: &mut PgConnection, message: MessageId) -> Result<Vec<Feedback>, ApiError> {
    Ok(f::table
        .filter(f::message_id.eq(message))
        .order((f::created_at.asc(), f::id.asc()))
        .select(Feedback::as_select())
        .load(conn)?)
}

/// The message's undecided unsatisfied rating, if any.
pub fn open_flag(
    conn: &mut PgConnection,
    message: MessageId,
) -> Result<Option<Feedback>, ApiError> {
    Ok(f::table
        .filter(f::message_id.eq(message))
        .filter(f::flag.eq(FeedbackFlag::Open))
        .select(Feedback::as_select())
        .first(conn)
        .optional()?)
}

/// A changed rating.
pub fn change(
    conn: &mut PgConnection,
    id: FeedbackId,
    rating: Rating,
    comment: &str,
    flag: FeedbackFlag,
    at: DateTime<Utc>,
) -> Result<Feedback, ApiError> {
    diesel::update(f::table.find(id))
        .set((
            f::rating.eq(rating),
            f::comment.eq(comment),
            f::flag.eq(flag),
            f::changes.eq(f::changes + 1),
            f::updated_at.eq(at),
            f::version.eq(f::version + 1),
        ))
        .execute(conn)?;
    let changed = get(conn, id)?;
    keep_rating(conn, changed.message_id, changed.rating)?;
    Ok(changed)
}

/// The supervisor's decision on an open flag.
pub fn resolve(
    conn: &mut PgConnection,
    id: FeedbackId,
    flag: FeedbackFlag,
    by: UserId,
    note: &str,
    at: DateTime<Utc>,
) -> Result<Feedback, ApiError> {
    diesel::update(f::table.find(id))
        .set((
            f::flag.eq(flag),
            f::resolved_by.eq(Some(by)),
            f::resolved_at.eq(Some(at)),
            f::resolution_note.eq(Some(note)),
            f::updated_at.eq(at),
            f::version.eq(f::version + 1),
        ))
        .execute(conn)?;
    get(conn, id)
}

fn get(conn: &mut PgConnection, id: FeedbackId) -> Result<Feedback, ApiError> {
    Ok(f::table
        .find(id)
        .select(Feedback::as_select())
        .first(conn)?)
}

pub use super::HandlingScope as Scope;

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub flag: Option<FeedbackFlag>,
    pub rating: Option<Rating>,
    pub unit_id: Option<UnitId>,
}

/// Oldest change first (a queue).
pub type Cursor = (DateTime<Utc>, FeedbackId);

pub fn list(
    conn: &mut PgConnection,
    scope: &Scope,
    filter: &Filter,
    page: &PageRequest<Cursor>,
) -> Result<Vec<Feedback>, ApiError> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
    let mut q = f::table.select(Feedback::as_select()).into_boxed();
    q = match scope {
        Scope::All => q,
        Scope::RegionPath(p) => q.filter(f::region_path.like(super::like_prefix(p))),
        Scope::Unit(u) => q.filter(f::unit_id.eq(*u)),
    };
    if let Some(x) = filter.flag {
        q = q.filter(f::flag.eq(x));
    }
    if let Some(x) = filter.rating {
        q = q.filter(f::rating.eq(x));
    }
    if let Some(x) = filter.unit_id {
        q = q.filter(f::unit_id.eq(x));
    }
    if let Some((t, id)) = page.after {
        q = q.filter(
            sql::<Bool>("(feedback.updated_at, feedback.id) > (")
                .bind::<Timestamptz, _>(t)
                .sql(", ")
                .bind::<SqlUuid, _>(id.0)
                .sql(")"),
        );
    }
    Ok(q.order((f::updated_at.asc(), f::id.asc()))
        .limit(page.fetch_limit())
        .load(conn)?)
}
