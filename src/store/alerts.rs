//! Early warning: alert rules, the alerts they raise and the messages those are about, and the
//! evaluation of the rules — keyword and repeat rules at intake (inside the transaction that
//! stores or resubmits the message), spike rules and a repeat catch-up in the scheduler.
//!
//! Raising is safe with several replicas and retries without any state in the process:
//! - every alert has a dedupe key, unique per rule (the message of a keyword hit, the window of a
//!   spike, the author or address and period of a repetition): racing inserts of the same key
//!   leave one alert (`ON CONFLICT DO NOTHING`, then the winner's row);
//! - a spike rule is evaluated under its own row lock (`FOR NO KEY UPDATE SKIP LOCKED`: one
//!   replica per rule at a time), and no alert of the rule may cover a window that overlaps one
//!   already raised, so a spike raises once, not on every tick while it lasts;
//! - each linked message gets an `alert_raised` event under its row lock, the same lock every
//!   ledger append takes. The scheduler takes those locks with `SKIP LOCKED` and gives up the
//!   whole alert when one is busy (the next tick tries again); intake waits for them.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::domain::alerts::{
    AlertRuleKind, AlertStatus, MAX_LINKED, RepeatBy, common_region_path, repeat_period_at,
    spike_verdict,
};
use crate::domain::ids::{AlertId, AlertRuleId, CategoryId, UserId};
use crate::domain::message::{Actor, MessageAction, MessageStatus, Priority, next_status};
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::http::preconditions::IfMatchCondition;
use crate::schema::{alert_messages as am, alert_rules as ar, alerts as al, messages as m};
use crate::store::messages::{self as messages, EventActor, Message, MessageId};

// ---------------------------------------------------------------------------------------------
// Rules

/// Read model (also the insert form; the store fills `region_path`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ar)]
pub struct AlertRule {
    pub id: AlertRuleId,
    pub name: String,
    pub kind: AlertRuleKind,
    pub keywords: Vec<String>,
    pub category_id: Option<CategoryId>,
    pub region_code: Option<String>,
    pub region_path: Option<String>,
    pub threshold: Option<i32>,
    pub window_hours: Option<i32>,
    pub baseline_days: Option<i32>,
    pub baseline_factor: Option<f64>,
    pub repeat_by: Option<RepeatBy>,
    pub window_days: Option<i32>,
    pub active: bool,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

impl AlertRule {
    /// Whether a message lies in the rule's category and region (when it names them).
    pub fn covers(&self, message: &Message) -> bool {
        self.category_id.is_none_or(|c| c == message.category_id)
            && self
                .region_path
                .as_deref()
                .is_none_or(|p| message.region_path.starts_with(p))
    }

    fn region_like(&self) -> Option<String> {
        self.region_path.as_deref().map(super::like_prefix)
    }
}

/// Update form: `None` leaves a column alone; `Some(None)` clears category or region. The store
/// sets `region_path` from `region_code`.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = ar)]
pub struct AlertRuleChanges {
    pub name: Option<String>,
    pub keywords: Option<Vec<String>>,
    pub category_id: Option<Option<CategoryId>>,
    pub region_code: Option<Option<String>>,
    pub region_path: Option<Option<String>>,
    pub threshold: Option<i32>,
    pub window_hours: Option<i32>,
    pub baseline_days: Option<i32>,
    pub baseline_factor: Option<f64>,
    pub repeat_by: Option<RepeatBy>,
    pub window_days: Option<i32>,
    pub active: Option<bool>,
}

#[derive(Debug, Default, Clone)]
pub struct RuleFilter {
    pub kind: Option<AlertRuleKind>,
    pub active: Option<bool>,
}

/// Rules in creation order (their ids are UUIDv7).
pub fn list_rules(
    conn: &mut PgConnection,
    filter: &RuleFilter,
    page: &PageRequest<AlertRuleId>,
) -> Result<Vec<AlertRule>, ApiError> {
    let mut q = ar::table.select(AlertRule::as_select()).into_boxed();
    if let Some(k) = filter.kind {
        q = q.filter(ar::kind.eq(k));
    }
    if let Some(a) = filter.active {
        q = q.filter(ar::active.eq(a));
    }
    if let Some(after) = page.after {
        q = q.filter(ar::id.gt(after));
    }
    Ok(q.order(ar::id.asc()).limit(page.fetch_limit()).load(conn)?)
}

pub fn get_rule(conn: &mut PgConnection, id: AlertRuleId) -> Result<AlertRule, ApiError> {
    ar::table
        .find(id)
        .select(AlertRule::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("alert rule"))
}

/// The path of an active region, or 422 naming `region_code`.
fn region_path(conn: &mut PgConnection, code: &str) -> Result<String, ApiError> {
    super::regions::require_active(conn, code, "region_code")?;
    super::regions::path_of(conn, code)
}

/// Store a new rule; its category and region (if any) must exist and be active (422).
pub fn insert_rule(conn: &mut PgConnection, rule: &AlertRule) -> Result<AlertRule, ApiError> {
    conn.transaction(|conn| {
        let mut rule = rule.clone();
        rule.region_path = match &rule.region_code {
            Some(code) => Some(region_path(conn, code)?),
            None => None,
        };
        if let Some(c) = rule.category_id {
            super::categories::require_active(conn, c, "category_id")?;
        }
        Ok(diesel::insert_into(ar::table)
            .values(&rule)
            .returning(AlertRule::as_returning())
            .get_result(conn)?)
    })
}

/// Change a rule under its row lock: `decide` sees the rule as it is (after the `If-Match`
/// check) and returns the changes, or the error that refuses them.
pub fn update_rule(
    conn: &mut PgConnection,
    id: AlertRuleId,
    cond: &IfMatchCondition,
    now: DateTime<Utc>,
    decide: impl FnOnce(&mut PgConnection, &AlertRule) -> Result<AlertRuleChanges, ApiError>,
) -> Result<AlertRule, ApiError> {
    conn.transaction(|conn| {
        let current: AlertRule = ar::table
            .find(id)
            .for_no_key_update()
            .select(AlertRule::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("alert rule"))?;
        cond.check(current.version)?;
        let mut changes = decide(conn, &current)?;
        if let Some(code) = &changes.region_code {
            changes.region_path = Some(match code {
                Some(code) => Some(region_path(conn, code)?),
                None => None,
            });
        }
        if let Some(Some(c)) = changes.category_id {
            super::categories::require_active(conn, c, "category_id")?;
        }
        Ok(diesel::update(ar::table.find(id))
            .set((
                &changes,
                ar::version.eq(ar::version + 1),
                ar::updated_at.eq(now),
            ))
            .returning(AlertRule::as_returning())
            .get_result(conn)?)
    })
}

// ---------------------------------------------------------------------------------------------
// Alerts

/// Read model (also the insert form).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = al)]
pub struct Alert {
    pub id: AlertId,
    pub rule_id: AlertRuleId,
    pub kind: AlertRuleKind,
    pub dedupe_key: String,
    pub status: AlertStatus,
    pub summary: String,
    pub details: Value,
    pub region_path: String,
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
    pub message_count: i32,
    pub raised_at: DateTime<Utc>,
    pub acknowledged_by: Option<UserId>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledgement_note: Option<String>,
    pub version: i32,
}

/// An alert with the name of its rule.
pub type NamedAlert = (Alert, String);

pub use super::HandlingScope as Scope;

#[derive(Debug, Default, Clone)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub rule_id: Option<AlertRuleId>,
    pub kind: Option<AlertRuleKind>,
    /// Raised at or after.
    pub since: Option<DateTime<Utc>>,
}

/// Newest first.
pub type AlertCursor = (DateTime<Utc>, AlertId);

/// Alerts in a scope: everything, or a region subtree (an alert lies where all its messages
/// do). A unit scope sees none: alerts are not about one unit's work.
pub fn list_alerts(
    conn: &mut PgConnection,
    scope: &Scope,
    filter: &AlertFilter,
    page: &PageRequest<AlertCursor>,
) -> Result<Vec<NamedAlert>, ApiError> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
    let mut q = al::table
        .inner_join(ar::table)
        .select((Alert::as_select(), ar::name))
        .into_boxed();
    q = match scope {
        Scope::All => q,
        Scope::RegionPath(p) => q.filter(al::region_path.like(super::like_prefix(p))),
        Scope::Unit(_) => return Ok(Vec::new()),
    };
    if let Some(s) = filter.status {
        q = q.filter(al::status.eq(s));
    }
    if let Some(r) = filter.rule_id {
        q = q.filter(al::rule_id.eq(r));
    }
    if let Some(k) = filter.kind {
        q = q.filter(al::kind.eq(k));
    }
    if let Some(t) = filter.since {
        q = q.filter(al::raised_at.ge(t));
    }
    if let Some((t, id)) = page.after {
        q = q.filter(
            sql::<Bool>("(alerts.raised_at, alerts.id) < (")
                .bind::<Timestamptz, _>(t)
                .sql(", ")
                .bind::<SqlUuid, _>(id.0)
                .sql(")"),
        );
    }
    Ok(q.order((al::raised_at.desc(), al::id.desc()))
        .limit(page.fetch_limit())
        .load(conn)?)
}

pub fn get_alert(conn: &mut PgConnection, id: AlertId) -> Result<Option<NamedAlert>, ApiError> {
    Ok(al::table
        .inner_join(ar::table)
        .filter(al::id.eq(id))
        .select((Alert::as_select(), ar::name))
        .first(conn)
        .optional()?)
}

/// A message an alert is about.
#[derive(Debug, Clone, Queryable)]
pub struct Link {
    pub message_id: MessageId,
    pub tracking_no: String,
    pub linked_at: DateTime<Utc>,
}

/// The messages of an alert, newest link first, at most `limit`.
pub fn links(conn: &mut PgConnection, id: AlertId, limit: i64) -> Result<Vec<Link>, ApiError> {
    Ok(am::table
        .inner_join(m::table)
        .filter(am::alert_id.eq(id))
        .select((am::message_id, m::tracking_no, am::linked_at))
        .order((am::linked_at.desc(), am::message_id.desc()))
        .limit(limit)
        .load(conn)?)
}

/// Acknowledge an open alert under its row lock: `check` sees it first (scope, `If-Match`); 409
/// when it is already acknowledged.
pub fn acknowledge(
    conn: &mut PgConnection,
    id: AlertId,
    by: UserId,
    note: &str,
    now: DateTime<Utc>,
    check: impl FnOnce(&Alert) -> Result<(), ApiError>,
) -> Result<NamedAlert, ApiError> {
    conn.transaction(|conn| {
        let current: Alert = al::table
            .find(id)
            .for_no_key_update()
            .select(Alert::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("alert"))?;
        check(&current)?;
        if current.status == AlertStatus::Acknowledged {
            return Err(ApiError::Conflict(format!(
                "the alert was already acknowledged at {}",
                current
                    .acknowledged_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            )));
        }
        diesel::update(al::table.find(id))
            .set((
                al::status.eq(AlertStatus::Acknowledged),
                al::acknowledged_by.eq(Some(by)),
                al::acknowledged_at.eq(Some(now)),
                al::acknowledgement_note.eq(Some(note)),
                al::version.eq(al::version + 1),
            ))
            .execute(conn)?;
        get_alert(conn, id)?.ok_or_else(|| ApiError::Internal("alert vanished".into()))
    })
}

// ---------------------------------------------------------------------------------------------
// Raising

/// What to do when a message to link is locked by another transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Busy {
    /// Wait for it (intake: the request's own transaction).
    Wait,
    /// Give up this alert for now (the scheduler: the next tick tries again).
    Skip,
}

/// An alert about to be raised (or joined, when its rule already raised one with this key).
struct Raising<'a> {
    rule: &'a AlertRule,
    dedupe_key: String,
    summary: String,
    details: Value,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The messages to link (each gets an `alert_raised` event unless already linked).
    messages: Vec<MessageId>,
    /// Added to the ledger event of each message.
    event: Value,
}

/// What raising did.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    /// A new alert (false: the rule's alert with this key existed and the messages joined it).
    new: bool,
}

fn clip(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        s
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

/// Raise (or join) an alert: lock the messages, insert the alert unless its key exists, link
/// the messages not linked yet and record each link in its message's ledger. `None` when a
/// message is busy and `busy` is [`Busy::Skip`] (nothing written).
fn raise(
    conn: &mut PgConnection,
    r: Raising<'_>,
    busy: Busy,
    now: DateTime<Utc>,
) -> Result<Option<Outcome>, ApiError> {
    let mut ids = r.messages.clone();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(None);
    }
    // Always the same lock order (by id), whoever links.
    let query = m::table
        .filter(m::id.eq_any(&ids))
        .order(m::id.asc())
        .select((m::id, m::status, m::region_path))
        .for_update();
    let locked: Vec<(MessageId, MessageStatus, String)> = match busy {
        Busy::Wait => query.load(conn)?,
        Busy::Skip => query.skip_locked().load(conn)?,
    };
    if locked.len() < ids.len() {
        if busy == Busy::Skip {
            return Ok(None);
        }
        return Err(ApiError::Internal("a message to link vanished".into()));
    }
    let now = crate::domain::ledger::db_time(now);
    let inserted: Option<AlertId> = diesel::insert_into(al::table)
        .values(&Alert {
            id: AlertId::new(),
            rule_id: r.rule.id,
            kind: r.rule.kind,
            dedupe_key: r.dedupe_key.clone(),
            status: AlertStatus::Open,
            summary: clip(r.summary, 500),
            details: r.details,
            region_path: common_region_path(locked.iter().map(|(_, _, p)| p.as_str())),
            window_start: r.window.map(|w| w.0),
            window_end: r.window.map(|w| w.1),
            message_count: 0,
            raised_at: now,
            acknowledged_by: None,
            acknowledged_at: None,
            acknowledgement_note: None,
            version: 1,
        })
        .on_conflict((al::rule_id, al::dedupe_key))
        .do_nothing()
        .returning(al::id)
        .get_result(conn)
        .optional()?;
    let new = inserted.is_some();
    let (alert_id, region_before): (AlertId, String) = al::table
        .filter(al::rule_id.eq(r.rule.id))
        .filter(al::dedupe_key.eq(&r.dedupe_key))
        .select((al::id, al::region_path))
        .first(conn)?;
    let rows: Vec<_> = ids
        .iter()
        .map(|id| {
            (
                am::alert_id.eq(alert_id),
                am::message_id.eq(*id),
                am::linked_at.eq(now),
            )
        })
        .collect();
    let linked: Vec<MessageId> = diesel::insert_into(am::table)
        .values(&rows)
        .on_conflict_do_nothing()
        .returning(am::message_id)
        .get_results(conn)?;
    if linked.is_empty() {
        return Ok(Some(Outcome { new }));
    }
    let mut payload = json!({
        "alert_id": alert_id,
        "rule_id": r.rule.id,
        "kind": r.rule.kind,
    });
    if let (Some(p), Value::Object(extra)) = (payload.as_object_mut(), r.event) {
        p.extend(extra);
    }
    for (id, status, _) in locked.iter().filter(|(id, _, _)| linked.contains(id)) {
        next_status(*status, MessageAction::AlertRaised, &[Actor::System])
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        messages::append_event(
            conn,
            *id,
            EventActor::SYSTEM,
            MessageAction::AlertRaised,
            Some(*status),
            Some(*status),
            payload.clone(),
            now,
        )?;
    }
    let region = common_region_path(
        std::iter::once(region_before.as_str()).chain(
            locked
                .iter()
                .filter(|(id, _, _)| linked.contains(id))
                .map(|(_, _, p)| p.as_str()),
        ),
    );
    let count: i64 = am::table
        .filter(am::alert_id.eq(alert_id))
        .count()
        .get_result(conn)?;
    diesel::update(al::table.find(alert_id))
        .set((
            al::message_count.eq(i32::try_from(count).unwrap_or(i32::MAX)),
            al::region_path.eq(region),
            // Joining messages changes an alert someone may hold a version of.
            al::version.eq(al::version + if new { 0 } else { 1 }),
        ))
        .execute(conn)?;
    Ok(Some(Outcome { new }))
}

/// Active rules of these kinds, oldest first.
fn active_rules(
    conn: &mut PgConnection,
    kinds: &[AlertRuleKind],
) -> Result<Vec<AlertRule>, ApiError> {
    Ok(ar::table
        .filter(ar::active.eq(true))
        .filter(ar::kind.eq_any(kinds))
        .select(AlertRule::as_select())
        .order(ar::id.asc())
        .load(conn)?)
}

/// Evaluate the keyword and repeat rules for a message just stored or resubmitted, in the
/// caller's transaction (which holds the message). A keyword hit marks the message important
/// (never the other way) in the same transaction: the change belongs to the version the
/// caller's step produces, so it takes no version of its own. Returns the message as it is now.
pub fn evaluate_intake(
    conn: &mut PgConnection,
    message: &Message,
    now: DateTime<Utc>,
) -> Result<Message, ApiError> {
    let rules = intake_rules(conn)?;
    evaluate_intake_with(conn, &rules, message, now)
}

/// The rules intake evaluates (keyword and repeat), loaded once for a batch of messages.
pub fn intake_rules(conn: &mut PgConnection) -> Result<Vec<AlertRule>, ApiError> {
    active_rules(conn, &[AlertRuleKind::Keyword, AlertRuleKind::Repeat])
}

/// [`evaluate_intake`] with rules the caller loaded.
pub fn evaluate_intake_with(
    conn: &mut PgConnection,
    rules: &[AlertRule],
    message: &Message,
    now: DateTime<Utc>,
) -> Result<Message, ApiError> {
    let mut priority = message.priority;
    let mut touched = false;
    for rule in rules.iter().filter(|r| r.covers(message)) {
        match rule.kind {
            AlertRuleKind::Keyword => {
                let hits = super::dispatch_rules::matched_keywords(
                    &rule.keywords,
                    &message.title,
                    &message.body,
                );
                if hits.is_empty() {
                    continue;
                }
                let key = format!("message:{}", message.id);
                let exists: bool = diesel::select(diesel::dsl::exists(
                    al::table
                        .filter(al::rule_id.eq(rule.id))
                        .filter(al::dedupe_key.eq(&key)),
                ))
                .get_result(conn)?;
                if exists {
                    continue;
                }
                touched = true;
                let previous = priority;
                let marked = previous != Some(Priority::Important);
                if marked {
                    diesel::update(m::table.find(message.id))
                        .set((
                            m::priority.eq(Some(Priority::Important)),
                            m::updated_at.eq(now),
                        ))
                        .execute(conn)?;
                    priority = Some(Priority::Important);
                }
                let quoted = hits
                    .iter()
                    .map(|h| format!("“{h}”"))
                    .collect::<Vec<_>>()
                    .join(", ");
                raise(
                    conn,
                    Raising {
                        rule,
                        dedupe_key: key,
                        summary: format!("{}: {quoted} in {}", rule.name, message.tracking_no),
                        details: json!({
                            "message_id": message.id,
                            "tracking_no": message.tracking_no,
                            "matched_keywords": hits,
                            "marked_important": marked,
                        }),
                        window: None,
                        messages: vec![message.id],
                        event: json!({
                            "matched_keywords": hits,
                            "marked_important": marked,
                            "previous_priority": previous,
                        }),
                    },
                    Busy::Wait,
                    now,
                )?;
            }
            AlertRuleKind::Repeat => {
                touched |= repeat(conn, rule, message, now, Busy::Wait)?.is_some();
            }
            AlertRuleKind::Spike => {}
        }
    }
    if !touched {
        return Ok(message.clone());
    }
    messages::get(conn, message.id)?.ok_or_else(|| ApiError::Internal("message vanished".into()))
}

/// Who repeats.
enum Subject {
    Author(UserId),
    /// The normalised address (`alert_address_key`).
    Address(String),
}

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    key: Option<String>,
}

/// The normalised form of an address (`None` when nothing is left of it).
fn address_key(conn: &mut PgConnection, address: &str) -> Result<Option<String>, ApiError> {
    if address.trim().is_empty() {
        return Ok(None);
    }
    Ok(diesel::sql_query("SELECT alert_address_key($1) AS key")
        .bind::<diesel::sql_types::Text, _>(address)
        .get_result::<KeyRow>(conn)?
        .key)
}

#[derive(QueryableByName)]
struct WindowRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: MessageId,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    total: i64,
}

/// The newest messages (at most [`MAX_LINKED`]) of a subject within `(since, until]` that the
/// rule covers, and how many there are in all.
fn subject_messages(
    conn: &mut PgConnection,
    rule: &AlertRule,
    subject: &Subject,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<(Vec<MessageId>, i64), ApiError> {
    use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
    let condition = match subject {
        Subject::Author(_) => "m.author_id = $1",
        Subject::Address(_) => "m.address <> '' AND alert_address_key(m.address) = $1",
    };
    let query = diesel::sql_query(format!(
        "SELECT m.id, count(*) OVER () AS total FROM messages m \
         WHERE {condition} AND m.submitted_at > $2 AND m.submitted_at <= $3 \
           AND ($4::uuid IS NULL OR m.category_id = $4) \
           AND ($5::text IS NULL OR m.region_path LIKE $5) \
         ORDER BY m.submitted_at DESC, m.id DESC LIMIT $6"
    ))
    .into_boxed();
    let query = match subject {
        Subject::Author(u) => query.bind::<SqlUuid, _>(u.0),
        Subject::Address(k) => query.bind::<Text, _>(k.clone()),
    };
    let rows: Vec<WindowRow> = query
        .bind::<Timestamptz, _>(since)
        .bind::<Timestamptz, _>(until)
        .bind::<Nullable<SqlUuid>, _>(rule.category_id.map(|c| c.0))
        .bind::<Nullable<Text>, _>(rule.region_like())
        .bind::<BigInt, _>(MAX_LINKED)
        .load(conn)?;
    let total = rows.first().map_or(0, |r| r.total);
    Ok((rows.into_iter().map(|r| r.id).collect(), total))
}

/// Apply a repeat rule to `trigger` (the newest message of its author or address): when the
/// subject reached the threshold within the window, raise the alert of this period or join it.
/// `Some(true)` for a new alert, `Some(false)` when the messages joined this period's alert,
/// `None` when nothing fired (or, with [`Busy::Skip`], a message was busy).
fn repeat(
    conn: &mut PgConnection,
    rule: &AlertRule,
    trigger: &Message,
    now: DateTime<Utc>,
    busy: Busy,
) -> Result<Option<bool>, ApiError> {
    let (Some(by), Some(threshold), Some(window_days)) =
        (rule.repeat_by, rule.threshold, rule.window_days)
    else {
        return Ok(None);
    };
    let subject = match by {
        RepeatBy::Author => match trigger.author_id {
            Some(a) => Subject::Author(a),
            None => return Ok(None),
        },
        RepeatBy::Address => match address_key(conn, &trigger.address)? {
            Some(k) => Subject::Address(k),
            None => return Ok(None),
        },
    };
    let since = now - Duration::days(i64::from(window_days));
    let (ids, total) = subject_messages(conn, rule, &subject, since, now)?;
    if total < i64::from(threshold) {
        return Ok(None);
    }
    let period = repeat_period_at(now, window_days);
    let (key, who, details) = match &subject {
        Subject::Author(u) => (
            format!("author:{u}:{period}"),
            "author",
            json!({"author_id": u}),
        ),
        Subject::Address(k) => (
            format!(
                "address:{}:{period}",
                &hex::encode(Sha256::digest(k.as_bytes()))[..32]
            ),
            "address",
            json!({"address": trigger.address}),
        ),
    };
    let mut details = details;
    if let Some(d) = details.as_object_mut() {
        d.extend([
            ("repeat_by".to_owned(), json!(by)),
            ("count".to_owned(), json!(total)),
            ("threshold".to_owned(), json!(threshold)),
            ("window_days".to_owned(), json!(window_days)),
            ("trigger_message_id".to_owned(), json!(trigger.id)),
            ("trigger_tracking_no".to_owned(), json!(trigger.tracking_no)),
        ]);
    }
    let outcome = raise(
        conn,
        Raising {
            rule,
            dedupe_key: key,
            summary: format!(
                "{}: {total} messages from the same {who} within {window_days} days (latest {})",
                rule.name, trigger.tracking_no
            ),
            details,
            window: Some((since, now)),
            messages: ids,
            // Nothing about the other messages: each author reads their own message's ledger.
            event: json!({"repeat_by": by, "window_days": window_days}),
        },
        busy,
        now,
    )?;
    Ok(outcome.map(|o| o.new))
}

// ---------------------------------------------------------------------------------------------
// The scheduler's part

/// One pass over the spike rules and the repeat catch-up; returns the alerts raised. Each rule
/// (and each repeat subject) is its own transaction.
pub fn run_scheduled(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    batch: i64,
) -> Result<usize, ApiError> {
    let mut raised = 0;
    let spikes: Vec<AlertRuleId> = ar::table
        .filter(ar::active.eq(true))
        .filter(ar::kind.eq(AlertRuleKind::Spike))
        .select(ar::id)
        .order(ar::id.asc())
        .load(conn)?;
    for id in spikes {
        if spike(conn, id, now)? {
            raised += 1;
        }
    }
    for rule in active_rules(conn, &[AlertRuleKind::Repeat])? {
        for message_id in repeat_candidates(conn, &rule, now, batch)? {
            let new = conn.transaction(|conn| {
                let Some(message) = messages::get(conn, message_id)? else {
                    return Ok::<_, ApiError>(None);
                };
                repeat(conn, &rule, &message, now, Busy::Skip)
            })?;
            if new == Some(true) {
                raised += 1;
            }
        }
    }
    Ok(raised)
}

#[derive(QueryableByName)]
struct DayCount {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Evaluate one spike rule at `now` under its row lock; true when it raised an alert.
fn spike(conn: &mut PgConnection, id: AlertRuleId, now: DateTime<Utc>) -> Result<bool, ApiError> {
    use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
    conn.transaction(|conn| {
        let rule: Option<AlertRule> = ar::table
            .find(id)
            .filter(ar::active.eq(true))
            .for_no_key_update()
            .skip_locked()
            .select(AlertRule::as_select())
            .first(conn)
            .optional()?;
        let Some(rule) = rule else { return Ok(false) };
        let (Some(threshold), Some(hours)) = (rule.threshold, rule.window_hours) else {
            return Ok(false);
        };
        let days = rule.baseline_days.unwrap_or(0).max(0);
        let factor = rule.baseline_factor.unwrap_or(1.0);
        let end = crate::domain::ledger::db_time(now);
        let start = end - Duration::hours(i64::from(hours));
        // One alert per spike: none for a window overlapping one already raised.
        let overlapping: bool = diesel::select(diesel::dsl::exists(
            al::table
                .filter(al::rule_id.eq(rule.id))
                .filter(al::window_end.gt(start)),
        ))
        .get_result(conn)?;
        if overlapping {
            return Ok(false);
        }
        // The window now (day 0) and the same window on each of the days before.
        let counts: Vec<DayCount> = diesel::sql_query(
            "SELECT count(m.id) AS n \
             FROM generate_series(0, $1) AS d(d) \
             LEFT JOIN messages m \
               ON m.submitted_at > $2 - make_interval(days => d.d) \
              AND m.submitted_at <= $3 - make_interval(days => d.d) \
              AND ($4::uuid IS NULL OR m.category_id = $4) \
              AND ($5::text IS NULL OR m.region_path LIKE $5) \
             GROUP BY d.d ORDER BY d.d",
        )
        .bind::<Integer, _>(days)
        .bind::<Timestamptz, _>(start)
        .bind::<Timestamptz, _>(end)
        .bind::<Nullable<SqlUuid>, _>(rule.category_id.map(|c| c.0))
        .bind::<Nullable<Text>, _>(rule.region_like())
        .load(conn)?;
        let counts: Vec<i64> = counts.into_iter().map(|c| c.n).collect();
        let Some((&count, previous)) = counts.split_first() else {
            return Ok(false);
        };
        let verdict = spike_verdict(count, previous, threshold, factor);
        if !verdict.fires {
            return Ok(false);
        }
        #[derive(QueryableByName)]
        struct Id {
            #[diesel(sql_type = SqlUuid)]
            id: MessageId,
        }
        let ids: Vec<Id> = diesel::sql_query(
            "SELECT m.id FROM messages m \
             WHERE m.submitted_at > $1 AND m.submitted_at <= $2 \
               AND ($3::uuid IS NULL OR m.category_id = $3) \
               AND ($4::text IS NULL OR m.region_path LIKE $4) \
             ORDER BY m.submitted_at DESC, m.id DESC LIMIT $5",
        )
        .bind::<Timestamptz, _>(start)
        .bind::<Timestamptz, _>(end)
        .bind::<Nullable<SqlUuid>, _>(rule.category_id.map(|c| c.0))
        .bind::<Nullable<Text>, _>(rule.region_like())
        .bind::<BigInt, _>(MAX_LINKED)
        .load(conn)?;
        let baseline = (verdict.baseline_average * 100.0).round() / 100.0;
        let outcome = raise(
            conn,
            Raising {
                rule: &rule,
                dedupe_key: format!("window:{}", start.format("%Y-%m-%dT%H:%M:%SZ")),
                summary: format!(
                    "{}: {count} messages within {hours} h (baseline {baseline} per window over {days} days)",
                    rule.name
                ),
                details: json!({
                    "count": count,
                    "threshold": threshold,
                    "window_hours": hours,
                    "baseline_days": days,
                    "baseline_average": baseline,
                    "baseline_factor": factor,
                    "category_id": rule.category_id,
                    "region_code": rule.region_code,
                }),
                window: Some((start, end)),
                messages: ids.into_iter().map(|i| i.id).collect(),
                // Integers only: the ledger hashes its payloads' canonical JSON.
                event: json!({"count": count, "window_hours": hours}),
            },
            Busy::Skip,
            now,
        )?;
        Ok(outcome.is_some_and(|o| o.new))
    })
}

/// The newest message of every author or address that reached a repeat rule's threshold within
/// its window and that no alert of the rule links yet (a rule created after the messages came
/// in, messages that arrived while it was inactive).
fn repeat_candidates(
    conn: &mut PgConnection,
    rule: &AlertRule,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<MessageId>, ApiError> {
    use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
    let (Some(by), Some(threshold), Some(window_days)) =
        (rule.repeat_by, rule.threshold, rule.window_days)
    else {
        return Ok(Vec::new());
    };
    let (condition, group) = match by {
        RepeatBy::Author => ("m.author_id IS NOT NULL", "m.author_id"),
        RepeatBy::Address => (
            "m.address <> '' AND alert_address_key(m.address) IS NOT NULL",
            "alert_address_key(m.address)",
        ),
    };
    #[derive(QueryableByName)]
    struct Newest {
        #[diesel(sql_type = SqlUuid)]
        newest: MessageId,
    }
    let rows: Vec<Newest> = diesel::sql_query(format!(
        "SELECT g.newest FROM ( \
             SELECT (array_agg(m.id ORDER BY m.submitted_at DESC, m.id DESC))[1] AS newest \
             FROM messages m \
             WHERE {condition} AND m.submitted_at > $1 AND m.submitted_at <= $2 \
               AND ($3::uuid IS NULL OR m.category_id = $3) \
               AND ($4::text IS NULL OR m.region_path LIKE $4) \
             GROUP BY {group} HAVING count(*) >= $5 \
         ) g \
         WHERE NOT EXISTS (SELECT 1 FROM alert_messages l JOIN alerts a ON a.id = l.alert_id \
                           WHERE l.message_id = g.newest AND a.rule_id = $6) \
         ORDER BY g.newest LIMIT $7"
    ))
    .bind::<Timestamptz, _>(now - Duration::days(i64::from(window_days)))
    .bind::<Timestamptz, _>(now)
    .bind::<Nullable<SqlUuid>, _>(rule.category_id.map(|c| c.0))
    .bind::<Nullable<Text>, _>(rule.region_like())
    .bind::<Integer, _>(threshold)
    .bind::<SqlUuid, _>(rule.id.0)
    .bind::<BigInt, _>(limit)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.newest).collect())
}
