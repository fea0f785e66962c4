//! Messages and their ledger. Every change to a message and the event that records it commit in
//! one transaction, with the message row locked so a message's events form one chain.

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use crate::domain::ids::{CategoryId, LeaderId, UnitId, UserId};
use crate::domain::ledger::{self, EventContent};
use crate::domain::message::{
    MessageAction, MessageKind, MessageSource, MessageStatus, Priority, RejectionReason, Visibility,
};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::http::preconditions::IfMatchCondition;
use crate::schema::{message_events as ev, messages as m};

mod insert;
pub use insert::{ExternalRef, Insert, insert_all};

pub type MessageId = Uuid;

/// Read model.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = m)]
pub struct Message {
    pub id: MessageId,
    pub tracking_no: String,
    pub author_id: Option<UserId>,
    pub registered_by: Option<UserId>,
    pub source: MessageSource,
    pub leader_id: LeaderId,
    pub category_id: CategoryId,
    pub kind: MessageKind,
    pub title: String,
    pub body: String,
    pub region_code: String,
    pub region_path: String,
    pub address: String,
    pub location_lat: Option<f64>,
    pub location_lon: Option<f64>,
    pub visibility: Visibility,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub attachments: Value,
    pub status: MessageStatus,
    pub priority: Option<Priority>,
    pub tags: Vec<String>,
    pub rejection_reason: Option<RejectionReason>,
    pub rejection_note: Option<String>,
    pub duplicate_of: Option<MessageId>,
    pub intake_unit_id: UnitId,
    pub unit_id: Option<UnitId>,
    pub version: i32,
    pub event_count: i32,
    pub chain_head: Vec<u8>,
    pub submitted_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub last_activity_at: DateTime<Utc>,
    pub return_count: i32,
    pub replied_at: Option<DateTime<Utc>>,
    pub feedback_until: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub reopen_count: i32,
    /// The platform a message was imported from (`POST /sync/messages`), if any.
    pub external_source: Option<String>,
}

/// Insert form (the store fills id, tracking number, chain and times).
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub author_id: Option<UserId>,
    pub registered_by: Option<UserId>,
    pub source: MessageSource,
    pub leader_id: LeaderId,
    pub category_id: CategoryId,
    pub kind: MessageKind,
    pub title: String,
    pub body: String,
    /// `None`: the leader's region.
    pub region_code: Option<String>,
    pub address: String,
    pub location: Option<(f64, f64)>,
    pub visibility: Visibility,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub attachments: Value,
    /// Kept from the source when importing; now otherwise.
    pub submitted_at: Option<DateTime<Utc>>,
}

/// Who acts, as the ledger records it.
#[derive(Debug, Clone, Copy)]
pub struct EventActor {
    pub id: Option<UserId>,
    /// `None`: the service itself (the deadline scheduler), recorded as `system`.
    pub role: Option<Role>,
}

impl EventActor {
    pub const SYSTEM: EventActor = EventActor {
        id: None,
        role: None,
    };

    pub fn role_name(&self) -> &'static str {
        self.role.map_or("system", Role::as_str)
    }
}

/// A change to a message together with what the ledger says about it.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = m)]
pub struct MessageChanges {
    pub status: Option<MessageStatus>,
    pub category_id: Option<CategoryId>,
    pub priority: Option<Option<Priority>>,
    pub tags: Option<Vec<String>>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub address: Option<String>,
    pub attachments: Option<Value>,
    pub contact_phone: Option<Option<String>>,
    pub search_bigrams: Option<Vec<String>>,
    pub rejection_reason: Option<Option<RejectionReason>>,
    pub rejection_note: Option<Option<String>>,
    pub duplicate_of: Option<Option<MessageId>>,
    pub accepted_at: Option<Option<DateTime<Utc>>>,
    pub unit_id: Option<Option<UnitId>>,
    pub return_count: Option<i32>,
    pub replied_at: Option<Option<DateTime<Utc>>>,
    pub feedback_until: Option<Option<DateTime<Utc>>>,
    pub closed_at: Option<Option<DateTime<Utc>>>,
    pub reopen_count: Option<i32>,
}

/// Which messages a reader may see in lists.
#[derive(Debug, Clone)]
pub enum ListScope {
    /// Administrators.
    All,
    /// Messages in a region subtree (by materialised path prefix).
    RegionPath(String),
    /// Messages a unit runs intake for or handles.
    Unit(UnitId),
    /// A citizen: their own, and others' public messages once accepted.
    Citizen(UserId),
    /// Others' public, accepted messages only.
    PublicOnly,
    /// Accepted, unassigned, undisputed messages in a territory (materialised path prefix): what a
    /// unit may claim.
    Claimable(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Submitted,
    LastActivity,
}

#[derive(Debug, Default, Clone)]
pub struct MessageFilter {
    pub status: Option<MessageStatus>,
    pub leader_id: Option<LeaderId>,
    /// Materialised path prefix of the region subtree.
    pub region_path: Option<String>,
    pub unit_id: Option<UnitId>,
    pub category_id: Option<CategoryId>,
    pub kind: Option<MessageKind>,
    pub priority: Option<Priority>,
    pub submitted_from: Option<DateTime<Utc>>,
    pub submitted_to: Option<DateTime<Utc>>,
    pub author_id: Option<UserId>,
    /// All these bigrams, and the text itself in title or body.
    pub search: Option<(Vec<String>, String)>,
    /// `true`: only [`REPLIED`] messages; `false`: none of them.
    pub replied: Option<bool>,
}

/// Sort key of a page: time of the sort column, then id.
pub type MessageCursor = (DateTime<Utc>, MessageId);

/// Statuses others may see of a public message (not before the liaison office accepted it).
pub const PUBLICLY_VISIBLE: &[MessageStatus] = &[
    MessageStatus::Accepted,
    MessageStatus::Assigned,
    MessageStatus::InProgress,
    MessageStatus::AwaitingClarification,
    MessageStatus::Replied,
    MessageStatus::Closed,
];

/// Statuses of a message whose final reply is published (still open for the author's rating, or
/// closed).
pub const REPLIED: &[MessageStatus] = &[MessageStatus::Replied, MessageStatus::Closed];

/// A search phrase is "common" when each of its bigrams occurs in at least this share of
/// messages: then walking the time index newest first finds a page after a few hundred rows,
/// while collecting every match through the GIN index would touch thousands. Below it, the GIN
/// index is the fast way. (Measured crossover on the bench data: docs/PERFORMANCE.md.)
pub const COMMON_TERM_SHARE: f32 = 0.003;

pub fn list(
    conn: &mut PgConnection,
    scope: &ListScope,
    filter: &MessageFilter,
    sort: SortBy,
    page: &PageRequest<MessageCursor>,
) -> Result<Vec<Message>, ApiError> {
    // The planner multiplies the bigrams' frequencies as if independent, so a common phrase
    // (红绿灯: one message in twenty) looks rare to it and it gathers every match through the
    // GIN index before sorting. PostgreSQL's own element statistics tell us better.
    let common = match &filter.search {
        Some((bigrams, _)) => bigram_share(conn, bigrams)? >= COMMON_TERM_SHARE,
        None => false,
    };
    list_planned(conn, scope, filter, sort, page, common)
}

/// How many rows of the time index a common-phrase search walks at most before it gives up on
/// the walk and collects the matches through the GIN index instead. A phrase whose pairs are each
/// common but which itself never occurs (公交通信) would otherwise walk every row of the scope.
pub const SEARCH_WALK_ROWS: i64 = 5_000;

/// [`list`] with the plan chosen by the caller (tests drive both).
///
/// `walk_time_index`: walk the time index newest first, but only the next
/// [`SEARCH_WALK_ROWS`] rows of the scope: when they hold a full page, it is the page (every row
/// beyond comes later in the order); when they do not, the GIN plan answers, whose work is
/// bounded by the rows holding every bigram. Either way no request reads the whole table.
pub fn list_planned(
    conn: &mut PgConnection,
    scope: &ListScope,
    filter: &MessageFilter,
    sort: SortBy,
    page: &PageRequest<MessageCursor>,
    walk_time_index: bool,
) -> Result<Vec<Message>, ApiError> {
    let walk_rows = if walk_time_index { SEARCH_WALK_ROWS } else { 0 };
    list_walking(conn, scope, filter, sort, page, walk_rows)
}

/// [`list_planned`] with the walk's bound given (0: no walk, the GIN plan).
pub fn list_walking(
    conn: &mut PgConnection,
    scope: &ListScope,
    filter: &MessageFilter,
    sort: SortBy,
    page: &PageRequest<MessageCursor>,
    walk_rows: i64,
) -> Result<Vec<Message>, ApiError> {
    if walk_rows > 0 && filter.search.is_some() {
        let unsearched = MessageFilter {
            search: None,
            ..filter.clone()
        };
        let column = sort_column(sort);
        // Where the walk stops: the `walk_rows`-th row of the scope after the cursor
        // (an index range read, no text looked at).
        let stop: Option<(DateTime<Utc>, MessageId)> =
            ordered(filtered(scope, &unsearched), sort, page)
                .select((
                    diesel::dsl::sql::<diesel::sql_types::Timestamptz>(column),
                    m::id,
                ))
                .offset(walk_rows)
                .limit(1)
                .first(conn)
                .optional()?;
        let walked = conn.transaction(|conn| {
            // Leave the planner only the ordered index walk, and no JIT: the misestimated cost
            // crosses jit_above_cost, and compiling would take longer than the walk.
            diesel::sql_query("SET LOCAL enable_bitmapscan = off").execute(conn)?;
            diesel::sql_query("SET LOCAL enable_seqscan = off").execute(conn)?;
            diesel::sql_query("SET LOCAL enable_sort = off").execute(conn)?;
            diesel::sql_query("SET LOCAL jit = off").execute(conn)?;
            // A page needs a few hundred rows: parallel workers only add start-up cost, and
            // under concurrent requests they compete for the same cores.
            diesel::sql_query("SET LOCAL max_parallel_workers_per_gather = 0").execute(conn)?;
            let mut q = filtered(scope, filter);
            if let Some((t, id)) = stop {
                q = q.filter(key_at_or_after(column, t, id));
            }
            let rows = ordered(q, sort, page)
                .select(Message::as_select())
                .load(conn)?;
            // Inside an enclosing transaction (an expensive read's statement timeout, a
            // request's session) this is a savepoint, and its SET LOCALs would outlive it:
            // the GIN plan below needs bitmap scans back.
            conn.batch_execute(
                "SET LOCAL enable_bitmapscan TO DEFAULT; SET LOCAL enable_seqscan TO DEFAULT; \
                 SET LOCAL enable_sort TO DEFAULT; SET LOCAL jit TO DEFAULT; \
                 SET LOCAL max_parallel_workers_per_gather TO DEFAULT",
            )?;
            Ok::<_, ApiError>(rows)
        })?;
        // A full page inside the walked rows, or the walk covered the whole scope.
        if walked.len() as i64 >= page.fetch_limit() || stop.is_none() {
            return Ok(walked);
        }
    }
    Ok(ordered(filtered(scope, filter), sort, page)
        .select(Message::as_select())
        .load(conn)?)
}

fn sort_column(sort: SortBy) -> &'static str {
    match sort {
        SortBy::Submitted => "messages.submitted_at",
        SortBy::LastActivity => "messages.last_activity_at",
    }
}

/// `(column, id) >= (t, id)`: the newest-first walk has not gone past the row `(t, id)`.
fn key_at_or_after(
    column: &'static str,
    t: DateTime<Utc>,
    id: MessageId,
) -> Box<dyn diesel::BoxableExpression<m::table, diesel::pg::Pg, SqlType = diesel::sql_types::Bool>>
{
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
    Box::new(
        sql::<Bool>("(")
            .sql(column)
            .sql(", messages.id) >= (")
            .bind::<Timestamptz, _>(t)
            .sql(", ")
            .bind::<SqlUuid, _>(id)
            .sql(")"),
    )
}

/// The smallest share of messages containing one of `bigrams`, from `pg_stats` (refreshed every
/// few minutes); a bigram missing from the most-common list counts as rare (0).
fn bigram_share(conn: &mut PgConnection, bigrams: &[String]) -> Result<f32, ApiError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration as StdDuration, Instant};
    /// When the statistics were read, and each common bigram's share of messages.
    type Shares = Option<(Instant, HashMap<String, f32>)>;
    static CACHE: OnceLock<Mutex<Shares>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(None));
    let fresh = |c: &Shares| {
        c.as_ref()
            .is_some_and(|(at, _)| at.elapsed() < StdDuration::from_secs(300))
    };
    let needs_load = !fresh(
        &*cache
            .lock()
            .map_err(|_| ApiError::Internal("poisoned cache".into()))?,
    );
    if needs_load {
        #[derive(QueryableByName)]
        struct Stats {
            #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Text>)]
            elems: Vec<String>,
            #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Float4>)]
            freqs: Vec<f32>,
        }
        let stats: Option<Stats> = diesel::sql_query(
            "SELECT most_common_elems::text::text[] AS elems, most_common_elem_freqs AS freqs \
             FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'messages' \
             AND attname = 'search_bigrams' AND most_common_elems IS NOT NULL",
        )
        .get_result(conn)
        .optional()?;
        let map = stats
            .map(|s| s.elems.into_iter().zip(s.freqs).collect())
            .unwrap_or_default();
        *cache
            .lock()
            .map_err(|_| ApiError::Internal("poisoned cache".into()))? =
            Some((Instant::now(), map));
    }
    let guard = cache
        .lock()
        .map_err(|_| ApiError::Internal("poisoned cache".into()))?;
    let map = guard.as_ref().map(|(_, m)| m);
    Ok(bigrams
        .iter()
        .map(|b| map.and_then(|m| m.get(b)).copied().unwrap_or(0.0))
        .fold(f32::INFINITY, f32::min)
        .min(1.0))
}

/// The public board's condition, written out as SQL literals exactly as the predicate of the
/// partial index `messages_public_board_idx` (migration 000004): diesel caches prepared
/// statements, and a cached generic plan sees bound values only as `$n`, so with bind
/// parameters PostgreSQL could not prove that the index covers the query.
pub(crate) fn on_public_board() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    let statuses: Vec<String> = PUBLICLY_VISIBLE
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
        "messages.visibility = 'public' AND messages.status IN ({})",
        statuses.join(", ")
    ))
}

fn filtered<'a>(scope: &ListScope, filter: &MessageFilter) -> m::BoxedQuery<'a, diesel::pg::Pg> {
    let mut q = m::table.into_boxed();
    q = match scope {
        ListScope::All => q,
        ListScope::RegionPath(prefix) => q.filter(m::region_path.like(super::like_prefix(prefix))),
        ListScope::Unit(unit) => q.filter(m::intake_unit_id.eq(*unit).or(m::unit_id.eq(*unit))),
        ListScope::Citizen(user) => q.filter(
            m::author_id.eq(*user).or(m::visibility
                .eq(Visibility::Public)
                .and(m::status.eq_any(PUBLICLY_VISIBLE))),
        ),
        ListScope::PublicOnly => q.filter(on_public_board()),
        // Only public messages are claimed: a private one is dispatched by the liaison office,
        // and no unit outside its handling reads it.
        ListScope::Claimable(prefix) => q
            .filter(m::visibility.eq(Visibility::Public))
            .filter(m::region_path.like(super::like_prefix(prefix)))
            .filter(m::status.eq(MessageStatus::Accepted))
            .filter(m::return_count.lt(crate::domain::handling::DISPUTE_AFTER_RETURNS)),
    };
    if let Some(s) = filter.status {
        q = q.filter(m::status.eq(s));
    }
    if let Some(l) = filter.leader_id {
        q = q.filter(m::leader_id.eq(l));
    }
    if let Some(p) = &filter.region_path {
        q = q.filter(m::region_path.like(super::like_prefix(p)));
    }
    if let Some(u) = filter.unit_id {
        q = q.filter(m::intake_unit_id.eq(u).or(m::unit_id.eq(u)));
    }
    if let Some(c) = filter.category_id {
        q = q.filter(m::category_id.eq(c));
    }
    if let Some(k) = filter.kind {
        q = q.filter(m::kind.eq(k));
    }
    if let Some(p) = filter.priority {
        q = q.filter(m::priority.eq(p));
    }
    if let Some(t) = filter.submitted_from {
        q = q.filter(m::submitted_at.ge(t));
    }
    if let Some(t) = filter.submitted_to {
        q = q.filter(m::submitted_at.lt(t));
    }
    if let Some(a) = filter.author_id {
        q = q.filter(m::author_id.eq(a));
    }
    match filter.replied {
        Some(true) => q = q.filter(m::status.eq_any(REPLIED)),
        Some(false) => q = q.filter(m::status.ne_all(REPLIED)),
        None => {}
    }
    if let Some((bigrams, text)) = &filter.search {
        let pattern = format!("%{}%", super::escape_like(text));
        q = q.filter(m::search_bigrams.contains(bigrams.clone()));
        q = q.filter(m::title.ilike(pattern.clone()).or(m::body.ilike(pattern)));
    }
    q
}

fn ordered<'a>(
    q: m::BoxedQuery<'a, diesel::pg::Pg>,
    sort: SortBy,
    page: &PageRequest<MessageCursor>,
) -> m::BoxedQuery<'a, diesel::pg::Pg> {
    // A row-value comparison, which PostgreSQL turns into one index range (the equivalent
    // `a < x OR (a = x AND b < y)` makes it scan from the start of the index).
    let q = match (sort, &page.after) {
        (SortBy::Submitted, Some((t, id))) => q.filter(after_key("messages.submitted_at", *t, *id)),
        (SortBy::LastActivity, Some((t, id))) => {
            q.filter(after_key("messages.last_activity_at", *t, *id))
        }
        (_, None) => q,
    };
    let q = match sort {
        SortBy::Submitted => q.order((m::submitted_at.desc(), m::id.desc())),
        SortBy::LastActivity => q.order((m::last_activity_at.desc(), m::id.desc())),
    };
    q.limit(page.fetch_limit())
}

/// `(column, id) < (t, id)` for newest-first keyset pages.
fn after_key(
    column: &'static str,
    t: DateTime<Utc>,
    id: MessageId,
) -> Box<dyn diesel::BoxableExpression<m::table, diesel::pg::Pg, SqlType = diesel::sql_types::Bool>>
{
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
    Box::new(
        sql::<Bool>("(")
            .sql(column)
            .sql(", messages.id) < (")
            .bind::<Timestamptz, _>(t)
            .sql(", ")
            .bind::<SqlUuid, _>(id)
            .sql(")"),
    )
}

/// The messages with these ids (those that exist), in no particular order.
pub fn get_many(conn: &mut PgConnection, ids: &[MessageId]) -> Result<Vec<Message>, ApiError> {
    use crate::schema::messages::dsl as m;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(m::messages
        .filter(m::id.eq_any(ids))
        .select(Message::as_select())
        .load(conn)?)
}

pub fn get(conn: &mut PgConnection, id: MessageId) -> Result<Option<Message>, ApiError> {
    Ok(m::table
        .find(id)
        .select(Message::as_select())
        .first(conn)
        .optional()?)
}

pub fn get_by_tracking_no(
    conn: &mut PgConnection,
    tracking_no: &str,
) -> Result<Option<Message>, ApiError> {
    Ok(m::table
        .filter(m::tracking_no.eq(tracking_no))
        .select(Message::as_select())
        .first(conn)
        .optional()?)
}

pub fn format_tracking_no(prefix: &str, year: i32, n: i64) -> String {
    format!("{prefix}-{year}-{n:06}")
}

/// The author's latest submission times, newest first (at most `limit`), read under a lock on
/// the author so that concurrent submissions of one account are counted one after the other
/// (the lock ends with the caller's transaction).
pub fn latest_submissions_locked(
    conn: &mut PgConnection,
    author: UserId,
    limit: usize,
) -> Result<Vec<DateTime<Utc>>, ApiError> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 727))")
        .bind::<diesel::sql_types::Text, _>(author.to_string())
        .execute(conn)?;
    Ok(m::table
        .filter(m::author_id.eq(author))
        .order((m::submitted_at.desc(), m::id.desc()))
        .select(m::submitted_at)
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .load(conn)?)
}

/// Append an event to a message's chain. The caller holds the message row lock (or just
/// inserted it), so `event_count` and `chain_head` are current.
#[allow(clippy::too_many_arguments)]
pub(crate) fn append_event(
    conn: &mut PgConnection,
    message_id: MessageId,
    actor: EventActor,
    action: MessageAction,
    from: Option<MessageStatus>,
    to: Option<MessageStatus>,
    payload: Value,
    at: DateTime<Utc>,
) -> Result<Vec<u8>, ApiError> {
    let (count, head): (i32, Vec<u8>) = m::table
        .find(message_id)
        .select((m::event_count, m::chain_head))
        .first(conn)?;
    let seq = count + 1;
    let content = EventContent {
        message_id,
        seq,
        actor_id: actor.id.map(|u| u.0),
        actor_role: actor.role_name(),
        action: action.as_str(),
        from_status: from.map(MessageStatus::as_str),
        to_status: to.map(MessageStatus::as_str),
        payload: &payload,
        created_at: at,
    };
    let hash = ledger::event_hash(&head, &content);
    diesel::insert_into(ev::table)
        .values((
            ev::message_id.eq(message_id),
            ev::seq.eq(seq),
            ev::actor_id.eq(actor.id),
            ev::actor_role.eq(actor.role_name()),
            ev::action.eq(action.as_str()),
            ev::from_status.eq(from.map(MessageStatus::as_str)),
            ev::to_status.eq(to.map(MessageStatus::as_str)),
            ev::payload.eq(&payload),
            ev::created_at.eq(at),
            ev::prev_hash.eq(&head),
            ev::hash.eq(&hash),
        ))
        .execute(conn)?;
    diesel::update(m::table.find(message_id))
        .set((
            m::event_count.eq(seq),
            m::chain_head.eq(&hash),
            m::last_activity_at.eq(at),
        ))
        .execute(conn)?;
    Ok(hash)
}

/// What a transition needs to know: the message as it is (locked), to decide and to build the
/// change. `decide` returns the new status (or the error), the changes and the event payload.
pub struct Decision {
    pub to: MessageStatus,
    pub changes: MessageChanges,
    pub payload: Value,
}

/// Lock the message, check `If-Match` and visibility, let `decide` pick the step, apply it and
/// record it in the ledger, all in one transaction.
pub fn transition(
    conn: &mut PgConnection,
    id: MessageId,
    cond: &IfMatchCondition,
    actor: EventActor,
    action: MessageAction,
    now: DateTime<Utc>,
    decide: impl FnOnce(&mut PgConnection, &Message) -> Result<Decision, ApiError>,
) -> Result<Message, ApiError> {
    conn.transaction(|conn| {
        let current = lock(conn, id)?;
        let decision = decide(conn, &current)?;
        cond.check(current.version)?;
        let now = ledger::db_time(now);
        let mut changes = decision.changes;
        if decision.to != current.status {
            changes.status = Some(decision.to);
        }
        diesel::update(m::table.find(id))
            .set((
                &changes,
                m::version.eq(m::version + 1),
                m::updated_at.eq(now),
            ))
            .execute(conn)?;
        append_event(
            conn,
            id,
            actor,
            action,
            Some(current.status),
            Some(decision.to),
            decision.payload,
            now,
        )?;
        get(conn, id)?.ok_or_else(|| ApiError::Internal("message vanished".into()))
    })
}

/// Lock a message row for the rest of the transaction (404 when it does not exist).
pub fn lock(conn: &mut PgConnection, id: MessageId) -> Result<Message, ApiError> {
    m::table
        .find(id)
        .for_update()
        .select(Message::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("message"))
}

/// A ledger row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ev)]
pub struct Event {
    pub id: i64,
    pub message_id: MessageId,
    pub seq: i32,
    pub actor_id: Option<UserId>,
    pub actor_role: String,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

pub fn events(
    conn: &mut PgConnection,
    id: MessageId,
    after_seq: Option<i32>,
    limit: i64,
) -> Result<Vec<Event>, ApiError> {
    let mut q = ev::table
        .filter(ev::message_id.eq(id))
        .select(Event::as_select())
        .into_boxed();
    if let Some(s) = after_seq {
        q = q.filter(ev::seq.gt(s));
    }
    Ok(q.order(ev::seq.asc()).limit(limit).load(conn)?)
}

pub fn all_events(conn: &mut PgConnection, id: MessageId) -> Result<Vec<Event>, ApiError> {
    Ok(ev::table
        .filter(ev::message_id.eq(id))
        .select(Event::as_select())
        .order(ev::seq.asc())
        .load(conn)?)
}

/// Recompute a message's chain; also checks that the head stored on the message is the last hash.
pub fn verify_chain(
    conn: &mut PgConnection,
    message: &Message,
) -> Result<Result<usize, ledger::Break>, ApiError> {
    let events = all_events(conn, message.id)?;
    let checked = ledger::verify(events.iter().map(|e| {
        (
            EventContent {
                message_id: e.message_id,
                seq: e.seq,
                actor_id: e.actor_id.map(|u| u.0),
                actor_role: &e.actor_role,
                action: &e.action,
                from_status: e.from_status.as_deref(),
                to_status: e.to_status.as_deref(),
                payload: &e.payload,
                created_at: e.created_at,
            },
            e.prev_hash.as_slice(),
            e.hash.as_slice(),
        )
    }));
    Ok(match checked {
        Ok(n) if events.last().map(|e| &e.hash) != Some(&message.chain_head) => {
            Err(ledger::Break {
                seq: i32::try_from(n).unwrap_or(i32::MAX),
                reason: "the message's chain head is not the hash of its last event",
            })
        }
        Ok(n) if n != usize::try_from(message.event_count).unwrap_or(0) => Err(ledger::Break {
            seq: i32::try_from(n).unwrap_or(i32::MAX),
            reason: "events are missing at the end of the chain",
        }),
        other => other,
    })
}
