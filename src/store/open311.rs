//! The reads of the Open311 facade (`/open311/v2`): services (our categories), what a request
//! shows besides its message (lead unit, reply deadline), and published replies as updates.
//! Messages themselves are read through `store::messages` with the public board's scope.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;

use super::messages::{Message, MessageId, on_public_board};
use crate::domain::ids::{CategoryId, UnitId};
use crate::domain::reply::ReplyKind;
use crate::error::ApiError;
use crate::schema::{categories as c, deadlines as d, messages as m, replies as r, units as u};

/// A category as an Open311 service.
#[derive(Debug, Clone, Queryable)]
pub struct Service {
    pub id: CategoryId,
    pub code: String,
    pub name: String,
    pub description: String,
    pub active: bool,
}

type ServiceColumns = (c::id, c::code, c::name, c::description, c::active);
const SERVICE_COLUMNS: ServiceColumns = (c::id, c::code, c::name, c::description, c::active);

/// Active categories in their display order.
pub fn services(conn: &mut PgConnection) -> Result<Vec<Service>, ApiError> {
    Ok(c::table
        .filter(c::active.eq(true))
        .order((c::sort_order, c::id))
        .select(SERVICE_COLUMNS)
        .load(conn)?)
}

/// The category with this code (active or not).
pub fn service_by_code(conn: &mut PgConnection, code: &str) -> Result<Option<Service>, ApiError> {
    Ok(c::table
        .filter(c::code.eq(code))
        .select(SERVICE_COLUMNS)
        .first(conn)
        .optional()?)
}

/// Categories by id.
pub fn services_by_id(
    conn: &mut PgConnection,
    ids: &[CategoryId],
) -> Result<HashMap<CategoryId, Service>, ApiError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(c::table
        .filter(c::id.eq_any(ids))
        .select(SERVICE_COLUMNS)
        .load::<Service>(conn)?
        .into_iter()
        .map(|s| (s.id, s))
        .collect())
}

/// Units' names by id.
pub fn unit_names(
    conn: &mut PgConnection,
    ids: &[UnitId],
) -> Result<HashMap<UnitId, String>, ApiError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(u::table
        .filter(u::id.eq_any(ids))
        .select((u::id, u::name))
        .load::<(UnitId, String)>(conn)?
        .into_iter()
        .collect())
}

/// The due time of each message's latest reply deadline (not cancelled): `None` inside the map
/// while its clock is paused. Messages without one are absent. One query over
/// `deadlines_message_idx`.
pub fn reply_due(
    conn: &mut PgConnection,
    ids: &[MessageId],
) -> Result<HashMap<MessageId, Option<DateTime<Utc>>>, ApiError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(d::table
        .filter(d::message_id.eq_any(ids))
        .filter(d::kind.eq("reply"))
        .filter(d::state.ne("cancelled"))
        .distinct_on(d::message_id)
        .order((d::message_id, d::started_at.desc(), d::id.desc()))
        .select((d::message_id, d::due_at))
        .load::<(MessageId, Option<DateTime<Utc>>)>(conn)?
        .into_iter()
        .collect())
}

/// The public board's messages with these tracking numbers, newest first (others are left out,
/// exactly as if they did not exist).
pub fn on_board_by_tracking_nos(
    conn: &mut PgConnection,
    tracking_nos: &[String],
) -> Result<Vec<Message>, ApiError> {
    if tracking_nos.is_empty() {
        return Ok(Vec::new());
    }
    Ok(m::table
        .filter(m::tracking_no.eq_any(tracking_nos))
        .filter(on_public_board())
        .order((m::submitted_at.desc(), m::id.desc()))
        .select(Message::as_select())
        .load(conn)?)
}

/// A published reply as an Open311 update.
#[derive(Debug, Clone, Queryable)]
pub struct PublishedUpdate {
    pub id: uuid::Uuid,
    pub message_id: MessageId,
    pub kind: ReplyKind,
    pub body: String,
    pub attachments: Value,
    pub published_at: Option<DateTime<Utc>>,
}

/// Published replies (interim and final) to messages on the public board, published in
/// `[from, to)`, oldest first, at most `limit`. Walks `replies_published_idx` (migration
/// 000012) in order; the status is written as a literal so a cached generic plan still proves
/// the partial index covers the query.
pub fn published_updates(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<PublishedUpdate>, ApiError> {
    Ok(r::table
        .inner_join(m::table)
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "replies.status = 'published'",
        ))
        .filter(r::published_at.ge(from))
        .filter(r::published_at.lt(to))
        .filter(on_public_board())
        .order((r::published_at.asc(), r::id.asc()))
        .limit(limit)
        .select((
            r::id,
            r::message_id,
            r::kind,
            r::body,
            r::attachments,
            r::published_at,
        ))
        .load(conn)?)
}

/// Messages by id (for the updates' masking context).
pub fn messages_by_id(
    conn: &mut PgConnection,
    ids: &[MessageId],
) -> Result<Vec<Message>, ApiError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(m::table
        .filter(m::id.eq_any(ids))
        .select(Message::as_select())
        .load(conn)?)
}
