//! Weekly briefings (摘报) and their items (migration `…000008_briefings`), and the candidate
//! search.
//!
//! The candidate search never walks the messages table: each reason has its own narrow, indexed
//! query bounded by the period (important messages active in it by a partial index on
//! `last_activity_at`; keyword alerts by `raised_at`; supervision cases open during it; unsatisfied
//! ratings of the period or still undecided; open deadlines due before a cut-off; the period's
//! category × region counts and the members of the top clusters by `submitted_at` and region
//! path). The union of what they find (a few thousand rows at most a week, even with millions
//! of messages) is then read by primary key and scored in `domain::briefings`. Only the long
//! overdue reach back beyond the period (tens of thousands at 200k messages): those with no
//! other reason are ranked by the same score in SQL and only the best are read, with their count.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use crate::domain::briefings::{self as rules, BriefingStatus, ClusterCount, Facts};
use crate::domain::ids::{BriefingId, CategoryId, LeaderId, UnitId, UserId};
use crate::domain::message::{MessageStatus, Priority};
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::schema::{briefing_items as bi, briefings as b, messages as m};
use crate::store::messages::MessageId;

/// Read model (also the insert form).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = b)]
pub struct Briefing {
    pub id: BriefingId,
    pub title: String,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    pub region_code: String,
    pub region_path: String,
    pub status: BriefingStatus,
    pub candidates_found: i32,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_by: UserId,
    pub updated_at: DateTime<Utc>,
    pub submitted_by: Option<UserId>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub reviewed_by: Option<UserId>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub version: i32,
}

/// A candidate of a briefing; the selected ones are its items (read model and insert form).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = bi)]
pub struct Item {
    pub briefing_id: BriefingId,
    pub message_id: MessageId,
    pub rank: i32,
    pub score: i32,
    pub reasons: Vec<String>,
    pub cluster_label: Option<String>,
    pub overdue_days: Option<i32>,
    pub selected: bool,
    pub position: Option<i32>,
    pub summary: Option<String>,
    pub instruction_id: Option<Uuid>,
}

/// What an item shows of its message: no author, contact, address or location.
#[derive(Debug, Clone, Queryable)]
pub struct MessageBrief {
    pub tracking_no: String,
    pub title: String,
    pub region_code: String,
    pub status: MessageStatus,
    pub priority: Option<Priority>,
    pub category_id: CategoryId,
    pub leader_id: LeaderId,
    pub unit_id: Option<UnitId>,
    pub submitted_at: DateTime<Utc>,
}

/// An item with its message.
#[derive(Debug, Clone)]
pub struct ItemView {
    pub item: Item,
    pub message: MessageBrief,
}

pub fn insert(conn: &mut PgConnection, new: &Briefing, items: &[Item]) -> Result<(), ApiError> {
    conn.transaction(|conn| {
        diesel::insert_into(b::table).values(new).execute(conn)?;
        // 500 rows × 11 columns stay well under PostgreSQL's 65,535 parameters.
        for chunk in items.chunks(1000) {
            diesel::insert_into(bi::table).values(chunk).execute(conn)?;
        }
        Ok(())
    })
}

/// Drafts of `author` for exactly this period and region, counted under a transaction lock per
/// author, so concurrent creations by one editor are counted one after the other. Call inside a
/// transaction that also inserts.
pub fn lock_and_count_drafts(
    conn: &mut PgConnection,
    author: UserId,
    from: NaiveDate,
    to: NaiveDate,
    region_code: &str,
) -> Result<i64, ApiError> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 26005))")
        .bind::<Text, _>(author.0.to_string())
        .execute(conn)?;
    Ok(b::table
        .filter(b::created_by.eq(author))
        .filter(b::status.eq(BriefingStatus::Draft))
        .filter(b::period_from.eq(from))
        .filter(b::period_to.eq(to))
        .filter(b::region_code.eq(region_code))
        .count()
        .get_result(conn)?)
}

pub fn get(conn: &mut PgConnection, id: BriefingId) -> Result<Option<Briefing>, ApiError> {
    Ok(b::table
        .find(id)
        .select(Briefing::as_select())
        .first(conn)
        .optional()?)
}

/// Lock a briefing row for the rest of the transaction.
pub fn lock(conn: &mut PgConnection, id: BriefingId) -> Result<Option<Briefing>, ApiError> {
    Ok(b::table
        .find(id)
        .for_update()
        .select(Briefing::as_select())
        .first(conn)
        .optional()?)
}

/// Every candidate of a briefing with its message, by rank.
pub fn items(conn: &mut PgConnection, id: BriefingId) -> Result<Vec<ItemView>, ApiError> {
    let rows: Vec<(Item, MessageBrief)> = bi::table
        .inner_join(m::table)
        .filter(bi::briefing_id.eq(id))
        .order(bi::rank.asc())
        .select((
            Item::as_select(),
            (
                m::tracking_no,
                m::title,
                m::region_code,
                m::status,
                m::priority,
                m::category_id,
                m::leader_id,
                m::unit_id,
                m::submitted_at,
            ),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(item, message)| ItemView { item, message })
        .collect())
}

/// Lock one candidate row of a briefing.
pub fn lock_item(
    conn: &mut PgConnection,
    id: BriefingId,
    message: MessageId,
) -> Result<Option<Item>, ApiError> {
    Ok(bi::table
        .find((id, message))
        .for_update()
        .select(Item::as_select())
        .first(conn)
        .optional()?)
}

/// One selected item as stored by the editors.
#[derive(Debug, Clone)]
pub struct Selection {
    pub message_id: MessageId,
    pub position: i32,
    pub summary: Option<String>,
}

/// Replace the selection of a draft: exactly `picks` are selected afterwards, with their positions
/// and summaries. Returns the message ids of `picks` that are not candidates of the briefing.
pub fn select(
    conn: &mut PgConnection,
    id: BriefingId,
    picks: &[Selection],
) -> Result<Vec<MessageId>, ApiError> {
    let wanted: Vec<Uuid> = picks.iter().map(|p| p.message_id).collect();
    let known: HashSet<Uuid> = bi::table
        .filter(bi::briefing_id.eq(id))
        .filter(bi::message_id.eq_any(wanted.clone()))
        .select(bi::message_id)
        .load::<Uuid>(conn)?
        .into_iter()
        .collect();
    let unknown: Vec<Uuid> = wanted
        .iter()
        .filter(|w| !known.contains(*w))
        .copied()
        .collect();
    if !unknown.is_empty() {
        return Ok(unknown);
    }
    diesel::update(bi::table.filter(bi::briefing_id.eq(id)))
        .set((
            bi::selected.eq(false),
            bi::position.eq(None::<i32>),
            bi::summary.eq(None::<String>),
        ))
        .execute(conn)?;
    for p in picks {
        diesel::update(bi::table.find((id, p.message_id)))
            .set((
                bi::selected.eq(true),
                bi::position.eq(Some(p.position)),
                bi::summary.eq(p.summary.as_deref()),
            ))
            .execute(conn)?;
    }
    Ok(Vec::new())
}

/// Count the selected items and those of them without a summary.
pub fn selection_counts(conn: &mut PgConnection, id: BriefingId) -> Result<(i64, i64), ApiError> {
    let selected: i64 = bi::table
        .filter(bi::briefing_id.eq(id))
        .filter(bi::selected)
        .count()
        .get_result(conn)?;
    let without: i64 = bi::table
        .filter(bi::briefing_id.eq(id))
        .filter(bi::selected)
        .filter(bi::summary.is_null())
        .count()
        .get_result(conn)?;
    Ok((selected, without))
}

pub fn set_instruction(
    conn: &mut PgConnection,
    id: BriefingId,
    message: MessageId,
    instruction: Uuid,
) -> Result<(), ApiError> {
    diesel::update(bi::table.find((id, message)))
        .set(bi::instruction_id.eq(Some(instruction)))
        .execute(conn)?;
    Ok(())
}

/// A change of the briefing row itself: a new version, who and when, and optionally a status.
pub fn touch(
    conn: &mut PgConnection,
    id: BriefingId,
    by: UserId,
    at: DateTime<Utc>,
) -> Result<Briefing, ApiError> {
    diesel::update(b::table.find(id))
        .set((
            b::updated_by.eq(by),
            b::updated_at.eq(at),
            b::version.eq(b::version + 1),
        ))
        .execute(conn)?;
    get(conn, id)?.ok_or_else(|| ApiError::Internal("briefing vanished".into()))
}

pub fn submit(
    conn: &mut PgConnection,
    id: BriefingId,
    by: UserId,
    at: DateTime<Utc>,
) -> Result<Briefing, ApiError> {
    diesel::update(b::table.find(id))
        .set((
            b::status.eq(BriefingStatus::Submitted),
            b::submitted_by.eq(Some(by)),
            b::submitted_at.eq(Some(at)),
        ))
        .execute(conn)?;
    touch(conn, id, by, at)
}

pub fn review(
    conn: &mut PgConnection,
    id: BriefingId,
    by: UserId,
    at: DateTime<Utc>,
) -> Result<Briefing, ApiError> {
    diesel::update(b::table.find(id))
        .set((
            b::status.eq(BriefingStatus::Reviewed),
            b::reviewed_by.eq(Some(by)),
            b::reviewed_at.eq(Some(at)),
        ))
        .execute(conn)?;
    touch(conn, id, by, at)
}

/// Which briefings a caller may list.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Region subtree (materialised path prefix); `None`: everywhere.
    pub region_path: Option<String>,
    /// Leaders read briefings once they are submitted.
    pub submitted_only: bool,
    /// A liaison office's staff read the briefings their unit compiled only.
    pub compiled_by_unit: Option<UnitId>,
}

/// Whether one of `unit`'s staff compiled briefing `id`.
pub fn compiled_by_unit(
    conn: &mut PgConnection,
    id: BriefingId,
    unit: UnitId,
) -> Result<bool, ApiError> {
    use crate::schema::users::dsl as u;
    let n: i64 = b::table
        .inner_join(u::users.on(u::id.eq(b::created_by)))
        .filter(b::id.eq(id))
        .filter(u::unit_id.eq(unit))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub status: Option<BriefingStatus>,
}

/// Sort key: newest first.
pub type Cursor = (DateTime<Utc>, BriefingId);

pub fn list(
    conn: &mut PgConnection,
    scope: &Scope,
    filter: &Filter,
    page: &PageRequest<Cursor>,
) -> Result<Vec<Briefing>, ApiError> {
    use diesel::dsl::sql;
    use diesel::sql_types::Bool;
    let mut q = b::table.select(Briefing::as_select()).into_boxed();
    if let Some(p) = &scope.region_path {
        q = q.filter(b::region_path.like(super::like_prefix(p)));
    }
    if scope.submitted_only {
        q = q.filter(b::status.ne(BriefingStatus::Draft));
    }
    if let Some(unit) = scope.compiled_by_unit {
        use crate::schema::users::dsl as u;
        q = q.filter(b::created_by.eq_any(u::users.filter(u::unit_id.eq(unit)).select(u::id)));
    }
    if let Some(s) = filter.status {
        q = q.filter(b::status.eq(s));
    }
    if let Some((t, id)) = page.after {
        q = q.filter(
            sql::<Bool>("(briefings.created_at, briefings.id) < (")
                .bind::<Timestamptz, _>(t)
                .sql(", ")
                .bind::<SqlUuid, _>(id.0)
                .sql(")"),
        );
    }
    Ok(q.order((b::created_at.desc(), b::id.desc()))
        .limit(page.fetch_limit())
        .load(conn)?)
}

// ---------------------------------------------------------------------------------------------
// The candidate search

/// The instants of a period: `[start, end)` in UTC, and the moment lateness is measured at (the
/// end of the period, or now when that comes first).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub reference: DateTime<Utc>,
}

/// A message proposed for a briefing, with what the search found out about it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub message_id: MessageId,
    pub submitted_at: DateTime<Utc>,
    pub facts: Facts,
    pub cluster_label: Option<String>,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct DueRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Timestamptz)]
    due_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct ClusterRow {
    #[diesel(sql_type = SqlUuid)]
    category_id: Uuid,
    #[diesel(sql_type = Text)]
    region_code: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct MessageRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Timestamptz)]
    submitted_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    priority: Option<String>,
}

fn ids(rows: Vec<IdRow>) -> HashSet<Uuid> {
    rows.into_iter().map(|r| r.id).collect()
}

// The queries of the candidate search, one per reason. Each is bounded by the period and
// served by an index (a test EXPLAINs them with sequential scans disabled). Rejected and
// withdrawn messages are never candidates.

/// 1. Importance: important messages submitted by the end (`$2`) and active since the start
///    (`$1`), in the region (`$3`, a LIKE prefix): `messages_important_activity_idx`.
pub const IMPORTANT_SQL: &str = "SELECT m.id FROM messages m \
     WHERE m.priority = 'important' AND m.last_activity_at >= $1 AND m.submitted_at < $2 \
       AND m.region_path LIKE $3 AND m.status NOT IN ('rejected', 'withdrawn')";

/// 2. Emergencies: keyword alerts raised in the period: `alerts_raised_idx`.
pub const KEYWORD_ALERTS_SQL: &str = "SELECT DISTINCT am.message_id AS id FROM alerts a \
     JOIN alert_messages am ON am.alert_id = a.id \
     WHERE a.kind = 'keyword' AND a.raised_at >= $1 AND a.raised_at < $2 \
       AND a.region_path LIKE $3";

/// 3. Supervision cases open at some time in the period: still open and opened before its end
///    (`supervisions_status_due_idx`), or closed during or after it (`supervisions_closed_idx`).
pub const SUPERVISED_SQL: &str = "SELECT s.message_id AS id FROM supervisions s \
     WHERE s.status = 'open' AND s.opened_at < $2 AND s.region_path LIKE $3 \
     UNION \
     SELECT s.message_id FROM supervisions s \
     WHERE s.status = 'closed' AND s.closed_at >= $1 AND s.opened_at < $2 \
       AND s.region_path LIKE $3";

/// 4. Unsatisfied: rated unsatisfied during the period (`feedback_unsatisfied_idx`), or an
///    unsatisfied rating from before its end still waiting for a supervisor (`feedback_flag_idx`).
pub const UNSATISFIED_SQL: &str = "SELECT f.message_id AS id FROM feedback f \
     WHERE f.rating = 'unsatisfied' AND f.updated_at >= $1 AND f.updated_at < $2 \
       AND f.region_path LIKE $3 \
     UNION \
     SELECT f.message_id FROM feedback f \
     WHERE f.flag = 'open' AND f.updated_at < $2 AND f.region_path LIKE $3";

/// 5. Long overdue: open deadlines due at or before the cut-off (`$1`), the oldest per message,
///    in the region (`$2`): `deadlines_state_due_idx`. A busy province has tens of thousands of
///    them, so they are ranked here rather than read whole: the messages that have no other
///    reason (not in `$3`) come back best first, at most `$4` of them, each row with the count
///    of them all (`total`). The order is the score of `domain::briefings::score` for such a
///    message — long overdue (days late at the reference time `$14`: one point per day beyond `$5`, at most
///    `$6`),
///    important (`$7`), an earlier keyword alert (`$8`, raised before the end `$9`), submitted
///    in the period (`$10`, from `$11`) — then newer first, then id, as `rules::rank` orders
///    (a test compares the two). `$12`/`$13`: a liaison office's unit and the editor
///    (see [`UnitReader`]; NULL: every message).
pub const LONG_OVERDUE_SQL: &str = "WITH late AS ( \
       SELECT d.message_id, min(d.due_at) AS due_at FROM deadlines d \
       WHERE d.state = 'open' AND d.due_at <= $1 AND d.region_path LIKE $2 \
       GROUP BY d.message_id), \
     alerted AS ( \
       SELECT DISTINCT am.message_id FROM alerts a JOIN alert_messages am ON am.alert_id = a.id \
       WHERE a.kind = 'keyword' AND a.raised_at < $9), \
     scored AS ( \
       SELECT m.id, m.submitted_at, l.due_at, \
         LEAST(floor(extract(epoch FROM ($14 - l.due_at)) / 86400)::int8 - $5, $6) \
         + CASE WHEN m.priority = 'important' THEN $7 ELSE 0 END \
         + CASE WHEN al.message_id IS NOT NULL THEN $8 ELSE 0 END \
         + CASE WHEN m.submitted_at >= $11 AND m.submitted_at < $9 THEN $10 ELSE 0 END AS points \
       FROM late l JOIN messages m ON m.id = l.message_id \
       LEFT JOIN alerted al ON al.message_id = m.id \
       WHERE m.status NOT IN ('rejected', 'withdrawn') AND NOT (m.id = ANY($3)) \
         AND ($12::uuid IS NULL OR ((m.intake_unit_id = $12 OR m.unit_id = $12) \
                                    AND m.author_id IS DISTINCT FROM $13))) \
     SELECT id, due_at, count(*) OVER () AS total FROM scored \
     ORDER BY points DESC, submitted_at DESC, id LIMIT $4";

/// The oldest open deadline due at or before the cut-off (`$1`) of each of the messages `$2`.
const OVERDUE_OF_SQL: &str = "SELECT d.message_id AS id, min(d.due_at) AS due_at \
     FROM deadlines d WHERE d.state = 'open' AND d.due_at <= $1 AND d.message_id = ANY($2) \
     GROUP BY d.message_id";

/// 6a. The period's submissions by category × region, the groups of at least `$4`:
///     `messages_submitted_idx` (or the region path index).
pub const CLUSTER_COUNTS_SQL: &str = "SELECT m.category_id, m.region_code::text AS region_code, \
       count(*) AS n FROM messages m \
     WHERE m.submitted_at >= $1 AND m.submitted_at < $2 AND m.region_path LIKE $3 \
       AND m.status NOT IN ('rejected', 'withdrawn') \
     GROUP BY m.category_id, m.region_code HAVING count(*) >= $4";

/// 6b. The members of one cluster: region path `$1` exactly, the period, category `$4`:
///     `messages_region_path_idx`.
pub const CLUSTER_MEMBERS_SQL: &str = "SELECT m.id FROM messages m \
     WHERE m.region_path = $1 AND m.submitted_at >= $2 AND m.submitted_at < $3 \
       AND m.category_id = $4 AND m.status NOT IN ('rejected', 'withdrawn')";

/// What was found, by primary key; of what a liaison office's staff member may read when
/// `$3`/`$4` are set (see [`UnitReader`]).
const FOUND_SQL: &str = "SELECT m.id, m.submitted_at, m.priority FROM messages m \
     WHERE m.id = ANY($1) AND m.region_path LIKE $2 \
       AND m.status NOT IN ('rejected', 'withdrawn') \
       AND ($3::uuid IS NULL OR ((m.intake_unit_id = $3 OR m.unit_id = $3) \
                                 AND m.author_id IS DISTINCT FROM $4))";

/// Keyword hits on what was found, raised before the period's end (`alert_messages_message_idx`).
const FOUND_ALERTS_SQL: &str = "SELECT DISTINCT am.message_id AS id FROM alert_messages am \
     JOIN alerts a ON a.id = am.alert_id \
     WHERE am.message_id = ANY($1) AND a.kind = 'keyword' AND a.raised_at < $2";

/// The messages a liaison office's staff member may read in full, for its briefings: those of
/// the unit's intake or that the unit handles, not the staff member's own (the SQL form of
/// `auth::policy::message_access` giving `Full` to unit staff; docs/ACCESS.md).
#[derive(Debug, Clone, Copy)]
pub struct UnitReader {
    pub unit: UnitId,
    pub user: UserId,
}

/// The candidates of a period: the best (at most `keep` of those that are only long overdue,
/// with every candidate that has another reason) and how many there are in all.
#[derive(Debug)]
pub struct Found {
    pub candidates: Vec<Candidate>,
    /// Every message with a reason, the ones not returned included.
    pub count: usize,
}

#[derive(QueryableByName)]
struct LateRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Timestamptz)]
    due_at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    total: i64,
}

/// The candidates of the period in the region subtree `region_path` (of what `reader` may read,
/// when set), unranked: every message with a reason other than being long overdue (the
/// period bounds them), and the `keep` best of the long-overdue rest, ranked in the database
/// (they are tens of thousands in a busy province, and only the best `MAX_CANDIDATES` of all
/// are kept: none of those outside the `keep` best can be among them when `keep` is that).
pub fn find_candidates(
    conn: &mut PgConnection,
    region_path: &str,
    w: &Window,
    reader: Option<UnitReader>,
    keep: usize,
) -> Result<Found, ApiError> {
    let like = super::like_prefix(region_path);
    let in_period = |sql: &'static str| {
        diesel::sql_query(sql)
            .bind::<Timestamptz, _>(w.start)
            .bind::<Timestamptz, _>(w.end)
            .bind::<Text, _>(like.clone())
    };
    let important = ids(in_period(IMPORTANT_SQL).load(conn)?);
    let alerted_in_period = ids(in_period(KEYWORD_ALERTS_SQL).load(conn)?);
    let supervised = ids(in_period(SUPERVISED_SQL).load(conn)?);
    let unsatisfied = ids(in_period(UNSATISFIED_SQL).load(conn)?);

    let counts: Vec<ClusterRow> = in_period(CLUSTER_COUNTS_SQL)
        .bind::<BigInt, _>(rules::MIN_CLUSTER_SIZE)
        .load(conn)?;
    let top = rules::top_clusters(
        counts
            .into_iter()
            .map(|r| ClusterCount {
                category: r.category_id,
                region_code: r.region_code,
                count: r.n,
            })
            .collect(),
    );
    let mut clusters: HashMap<Uuid, (usize, String)> = HashMap::new();
    for (place, c) in top.iter().enumerate() {
        let region = super::regions::get(conn, &c.region_code)?;
        let category = super::categories::get(conn, CategoryId(c.category))?;
        let label = rules::cluster_label(&category.name, &region.name);
        let members = diesel::sql_query(CLUSTER_MEMBERS_SQL)
            .bind::<Text, _>(&region.path)
            .bind::<Timestamptz, _>(w.start)
            .bind::<Timestamptz, _>(w.end)
            .bind::<SqlUuid, _>(c.category)
            .load::<IdRow>(conn)?;
        for r in members {
            clusters.entry(r.id).or_insert((place, label.clone()));
        }
    }

    // Every message with another reason, read by primary key (what the reader may read).
    let mut others: HashSet<Uuid> = HashSet::new();
    others.extend(&important);
    others.extend(&alerted_in_period);
    others.extend(&supervised);
    others.extend(&unsatisfied);
    others.extend(clusters.keys());
    let others: Vec<Uuid> = others.into_iter().collect();
    let (unit, user) = (reader.map(|r| r.unit.0), reader.map(|r| r.user.0));
    let mut rows: Vec<MessageRow> = if others.is_empty() {
        Vec::new()
    } else {
        diesel::sql_query(FOUND_SQL)
            .bind::<Array<SqlUuid>, _>(&others)
            .bind::<Text, _>(&like)
            .bind::<Nullable<SqlUuid>, _>(unit)
            .bind::<Nullable<SqlUuid>, _>(user)
            .load(conn)?
    };
    let cutoff = w.reference - chrono::Duration::days(rules::LONG_OVERDUE_DAYS);
    let found_ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut overdue: HashMap<Uuid, i64> = diesel::sql_query(OVERDUE_OF_SQL)
        .bind::<Timestamptz, _>(cutoff)
        .bind::<Array<SqlUuid>, _>(&found_ids)
        .load::<DueRow>(conn)?
        .into_iter()
        .map(|r| (r.id, (w.reference - r.due_at).num_days()))
        .collect();

    // The best of the messages that are only long overdue, and how many there are.
    let late: Vec<LateRow> = diesel::sql_query(LONG_OVERDUE_SQL)
        .bind::<Timestamptz, _>(cutoff)
        .bind::<Text, _>(&like)
        .bind::<Array<SqlUuid>, _>(&others)
        .bind::<BigInt, _>(i64::try_from(keep).unwrap_or(i64::MAX))
        .bind::<BigInt, _>(rules::LONG_OVERDUE_DAYS)
        .bind::<BigInt, _>(i64::from(rules::OVERDUE_EXTRA_MAX))
        .bind::<BigInt, _>(i64::from(rules::IMPORTANT))
        .bind::<BigInt, _>(i64::from(rules::KEYWORD_ALERT))
        .bind::<Timestamptz, _>(w.end)
        .bind::<BigInt, _>(i64::from(rules::NEW_IN_PERIOD))
        .bind::<Timestamptz, _>(w.start)
        .bind::<Nullable<SqlUuid>, _>(unit)
        .bind::<Nullable<SqlUuid>, _>(user)
        .bind::<Timestamptz, _>(w.reference)
        .load(conn)?;
    let late_total = late.first().map_or(0, |r| r.total);
    let late_ids: Vec<Uuid> = late.iter().map(|r| r.id).collect();
    let late_rows: Vec<MessageRow> = if late_ids.is_empty() {
        Vec::new()
    } else {
        diesel::sql_query(FOUND_SQL)
            .bind::<Array<SqlUuid>, _>(&late_ids)
            .bind::<Text, _>(&like)
            .bind::<Nullable<SqlUuid>, _>(None::<Uuid>)
            .bind::<Nullable<SqlUuid>, _>(None::<Uuid>)
            .load(conn)?
    };
    for r in &late {
        overdue.insert(r.id, (w.reference - r.due_at).num_days());
    }
    rows.extend(late_rows);

    // Keyword hits on what is returned, raised before the period's end.
    let all: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut alerted = if all.is_empty() {
        HashSet::new()
    } else {
        ids(diesel::sql_query(FOUND_ALERTS_SQL)
            .bind::<Array<SqlUuid>, _>(&all)
            .bind::<Timestamptz, _>(w.end)
            .load(conn)?)
    };
    alerted.extend(alerted_in_period);

    let count = found_ids.len() + usize::try_from(late_total).unwrap_or(usize::MAX);
    let candidates = rows
        .into_iter()
        .map(|r| {
            let cluster = clusters.get(&r.id);
            Candidate {
                message_id: r.id,
                submitted_at: r.submitted_at,
                facts: Facts {
                    important: r.priority.as_deref() == Some(Priority::Important.as_str()),
                    keyword_alert: alerted.contains(&r.id),
                    supervised: supervised.contains(&r.id),
                    unsatisfied: unsatisfied.contains(&r.id),
                    overdue_days: overdue.get(&r.id).copied(),
                    cluster: cluster.map(|(place, _)| *place),
                    submitted_in_period: r.submitted_at >= w.start && r.submitted_at < w.end,
                },
                cluster_label: cluster.map(|(_, label)| label.clone()),
            }
        })
        .collect();
    Ok(Found { candidates, count })
}

/// The root of the region tree (the province): the default region of an administrator's
/// briefing.
pub fn root_region(conn: &mut PgConnection) -> Result<String, ApiError> {
    use crate::schema::regions as r;
    r::table
        .filter(r::parent_code.is_null())
        .order(r::code.asc())
        .select(r::code)
        .first::<String>(conn)
        .optional()?
        .ok_or_else(|| ApiError::Conflict("no region exists yet".into()))
}

/// Is the unit the intake unit of an active leader (the leader's liaison office)?
pub fn unit_runs_intake(conn: &mut PgConnection, unit: UnitId) -> Result<bool, ApiError> {
    use crate::schema::leaders as l;
    let leaders: i64 = l::table
        .filter(l::unit_id.eq(unit))
        .filter(l::active)
        .count()
        .get_result(conn)?;
    Ok(leaders > 0)
}

/// Names for display: regions by code, units and categories by id.
pub fn region_names(
    conn: &mut PgConnection,
    codes: &[String],
) -> Result<HashMap<String, String>, ApiError> {
    use crate::schema::regions as r;
    Ok(r::table
        .filter(r::code.eq_any(codes.to_vec()))
        .select((r::code, r::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

pub fn unit_names(
    conn: &mut PgConnection,
    ids: &[UnitId],
) -> Result<HashMap<UnitId, String>, ApiError> {
    use crate::schema::units as u;
    Ok(u::table
        .filter(u::id.eq_any(ids.to_vec()))
        .select((u::id, u::name))
        .load::<(UnitId, String)>(conn)?
        .into_iter()
        .collect())
}

pub fn category_names(
    conn: &mut PgConnection,
    ids: &[CategoryId],
) -> Result<HashMap<CategoryId, String>, ApiError> {
    use crate::schema::categories as c;
    Ok(c::table
        .filter(c::id.eq_any(ids.to_vec()))
        .select((c::id, c::name))
        .load::<(CategoryId, String)>(conn)?
        .into_iter()
        .collect())
}

pub fn user_names(
    conn: &mut PgConnection,
    ids: &[UserId],
) -> Result<HashMap<UserId, String>, ApiError> {
    use crate::schema::users as u;
    Ok(u::table
        .filter(u::id.eq_any(ids.to_vec()))
        .select((u::id, u::display_name))
        .load::<(UserId, String)>(conn)?
        .into_iter()
        .collect())
}

pub fn leader_names(
    conn: &mut PgConnection,
    ids: &[LeaderId],
) -> Result<HashMap<LeaderId, String>, ApiError> {
    use crate::schema::leaders as l;
    Ok(l::table
        .filter(l::id.eq_any(ids.to_vec()))
        .select((l::id, l::name))
        .load::<(LeaderId, String)>(conn)?
        .into_iter()
        .collect())
}

/// The instructions items produced.
pub fn instructions(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<crate::store::supervision::Instruction>, ApiError> {
    use crate::schema::instructions as i;
    Ok(i::table
        .filter(i::id.eq_any(ids.to_vec()))
        .select(crate::store::supervision::Instruction::as_select())
        .load(conn)?)
}

/// A message id with its contact name and phone and its author's name and e-mail.
type PersonalRow = (
    Uuid,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The personal data of each message (contact name and phone, the author's name and e-mail):
/// only so the document can mask it wherever someone typed it into a text.
pub fn personal_data(
    conn: &mut PgConnection,
    ids: &[MessageId],
) -> Result<HashMap<MessageId, Vec<String>>, ApiError> {
    use crate::schema::users as u;
    let rows: Vec<PersonalRow> = m::table
        .left_join(u::table.on(m::author_id.eq(u::id.nullable())))
        .filter(m::id.eq_any(ids.to_vec()))
        .select((
            m::id,
            m::contact_name,
            m::contact_phone,
            u::display_name.nullable(),
            u::email.nullable(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, phone, author, email)| {
            (
                id,
                [name, phone, author, email].into_iter().flatten().collect(),
            )
        })
        .collect())
}
