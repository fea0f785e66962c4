//! Synchronisation with the liaison platform: imports of messages and replies written there
//! (upserts by the platform's ids), the change feed over the ledger, and the board's
//! acknowledgements of our published replies.
//!
//! Imports run a batch in one transaction. New messages of a batch are written with one
//! multi-row insert per table (the throughput path); every other item (updates, repeats inside
//! the batch, anything the bulk insert trips over) runs alone inside a savepoint, so one bad
//! item never takes the good ones with it.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::change_type::ChangeType;
use crate::domain::handling::{AssignmentRole, AssignmentStatus};
use crate::domain::ids::{CategoryId, LeaderId, ReplyId, UnitId, UserId};
use crate::domain::ledger::{self, EventContent, GENESIS};
use crate::domain::message::{
    MessageAction, MessageKind, MessageSource, MessageStatus, Visibility,
};
use crate::domain::reply::{ReplyKind, ReplyStatus};
use crate::error::ApiError;
use crate::schema::{message_events as ev, messages as m, replies as r};
use crate::store::messages::{self, EventActor, Message, MessageId, NewMessage};

/// A message of the platform, checked for shape (the store checks references).
#[derive(Debug, Clone)]
pub struct ImportedMessage {
    pub source: String,
    pub external_id: String,
    /// The platform's version of the item.
    pub updated_at: DateTime<Utc>,
    /// `submitted_at` is the platform's submission time (kept).
    pub new: NewMessage,
}

/// What became of one item of a batch.
#[derive(Debug)]
pub enum Outcome<T> {
    Created(T),
    Updated(T),
    /// Identical to what is stored: nothing written.
    Unchanged(T),
    /// Older than what is stored: nothing written.
    Stale(T),
    Rejected(ApiError),
}

/// A message an import created or matched.
#[derive(Debug, Clone)]
pub struct MessageRef {
    pub id: MessageId,
    pub tracking_no: String,
}

type Key = (String, String);

#[derive(QueryableByName)]
struct ExternalRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    external_source: String,
    #[diesel(sql_type = Text)]
    external_id: String,
}

/// The messages already imported under these keys.
fn existing_messages(
    conn: &mut PgConnection,
    keys: &[Key],
) -> Result<HashMap<Key, MessageId>, ApiError> {
    let (sources, ids): (Vec<&str>, Vec<&str>) =
        keys.iter().map(|(s, i)| (s.as_str(), i.as_str())).unzip();
    let rows: Vec<ExternalRow> = diesel::sql_query(
        "SELECT m.id, m.external_source, m.external_id FROM messages m \
         JOIN unnest($1::text[], $2::text[]) AS k(source, external_id) \
           ON m.external_source = k.source AND m.external_id = k.external_id",
    )
    .bind::<Array<Text>, _>(sources)
    .bind::<Array<Text>, _>(ids)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.external_source, r.external_id), r.id))
        .collect())
}

/// Reference data a batch refers to, loaded once.
#[derive(Default)]
struct References {
    leaders: HashMap<LeaderId, (String, UnitId, bool)>,
    categories: HashMap<CategoryId, bool>,
    /// code → (path, active)
    regions: HashMap<String, (String, bool)>,
}

impl References {
    fn load<'a>(
        conn: &mut PgConnection,
        items: impl Iterator<Item = &'a NewMessage> + Clone,
    ) -> Result<References, ApiError> {
        use crate::schema::{categories as c, leaders as l, regions as g};
        let leader_ids: HashSet<LeaderId> = items.clone().map(|n| n.leader_id).collect();
        let category_ids: HashSet<CategoryId> = items.clone().map(|n| n.category_id).collect();
        let leaders: Vec<(LeaderId, String, UnitId, bool)> = l::table
            .filter(l::id.eq_any(leader_ids))
            .select((l::id, l::region_code, l::unit_id, l::active))
            .load(conn)?;
        let categories: Vec<(CategoryId, bool)> = c::table
            .filter(c::id.eq_any(category_ids))
            .select((c::id, c::active))
            .load(conn)?;
        let mut codes: HashSet<String> = items.filter_map(|n| n.region_code.clone()).collect();
        codes.extend(leaders.iter().map(|l| l.1.clone()));
        let regions: Vec<(String, String, bool)> = g::table
            .filter(g::code.eq_any(codes))
            .select((g::code, g::path, g::active))
            .load(conn)?;
        Ok(References {
            leaders: leaders
                .into_iter()
                .map(|(id, region, unit, active)| (id, (region, unit, active)))
                .collect(),
            categories: categories.into_iter().collect(),
            regions: regions
                .into_iter()
                .map(|(code, path, active)| (code, (path, active)))
                .collect(),
        })
    }

    /// The same checks as a message written through the API: an active leader and category,
    /// an active region inside the leader's. Returns (region code, region path, intake unit).
    fn resolve(&self, new: &NewMessage) -> Result<(String, String, UnitId), ApiError> {
        let Some((leader_region, intake_unit, leader_active)) = self.leaders.get(&new.leader_id)
        else {
            return Err(ApiError::field("leader_id", "not_found", "no such leader"));
        };
        if !leader_active {
            return Err(ApiError::field(
                "leader_id",
                "inactive",
                "this leader no longer takes messages",
            ));
        }
        match self.categories.get(&new.category_id) {
            Some(true) => {}
            Some(false) => {
                return Err(ApiError::field(
                    "category_id",
                    "inactive",
                    "this category is deactivated",
                ));
            }
            None => {
                return Err(ApiError::field(
                    "category_id",
                    "not_found",
                    "no such category",
                ));
            }
        }
        let code = new
            .region_code
            .clone()
            .unwrap_or_else(|| leader_region.clone());
        let (path, active) = self.regions.get(&code).ok_or_else(|| {
            ApiError::field("region_code", "not_found", format!("no region {code}"))
        })?;
        if !active {
            return Err(ApiError::field(
                "region_code",
                "inactive",
                "this region is deactivated",
            ));
        }
        let leader_path = self
            .regions
            .get(leader_region)
            .map(|(p, _)| p.as_str())
            .unwrap_or("\u{0}");
        if !path.starts_with(leader_path) {
            return Err(ApiError::field(
                "region_code",
                "out_of_jurisdiction",
                format!("must lie inside the leader's region {leader_region}"),
            ));
        }
        Ok((code, path.clone(), *intake_unit))
    }
}

/// A new message as the bulk import writes it (binary `COPY`: `None` is NULL, which is every
/// nullable column's default).
#[derive(Insertable)]
#[diesel(table_name = m, treat_none_as_default_value = false)]
struct MessageRow<'a> {
    id: MessageId,
    tracking_no: String,
    author_id: Option<UserId>,
    registered_by: Option<UserId>,
    source: MessageSource,
    leader_id: LeaderId,
    category_id: CategoryId,
    kind: MessageKind,
    title: &'a str,
    body: &'a str,
    region_code: String,
    region_path: String,
    address: &'a str,
    location_lat: Option<f64>,
    location_lon: Option<f64>,
    visibility: Visibility,
    contact_name: Option<&'a str>,
    contact_phone: Option<&'a str>,
    attachments: &'a Value,
    status: MessageStatus,
    intake_unit_id: UnitId,
    search_bigrams: Vec<String>,
    event_count: i32,
    chain_head: Vec<u8>,
    submitted_at: DateTime<Utc>,
    last_activity_at: DateTime<Utc>,
    external_source: &'a str,
    external_id: &'a str,
    external_updated_at: DateTime<Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = ev, treat_none_as_default_value = false)]
struct EventRow {
    message_id: MessageId,
    seq: i32,
    actor_id: Option<UserId>,
    actor_role: &'static str,
    action: &'static str,
    from_status: Option<&'static str>,
    to_status: Option<&'static str>,
    payload: Value,
    created_at: DateTime<Utc>,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

fn submit_payload(item: &ImportedMessage) -> Value {
    json!({
        "title": item.new.title,
        "category_id": item.new.category_id,
        "kind": item.new.kind,
        "source": item.new.source,
        "visibility": item.new.visibility,
        "external_source": item.source,
        "external_id": item.external_id,
    })
}

/// Insert new messages with their `submit` events: two statements for the whole slice.
fn create_all(
    conn: &mut PgConnection,
    items: &[(usize, &ImportedMessage, (String, String, UnitId))],
    actor: EventActor,
    prefix: &str,
    now: DateTime<Utc>,
) -> Result<Vec<MessageRef>, ApiError> {
    #[derive(QueryableByName)]
    struct Next {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let numbers: Vec<Next> = diesel::sql_query(
        "SELECT nextval('message_tracking_seq') AS n FROM generate_series(1, $1)",
    )
    .bind::<BigInt, _>(items.len() as i64)
    .load(conn)?;
    let now = ledger::db_time(now);
    let mut rows = Vec::with_capacity(items.len());
    let mut events = Vec::with_capacity(items.len());
    let mut refs = Vec::with_capacity(items.len());
    for ((_, item, (code, path, intake)), next) in items.iter().zip(numbers) {
        let new = &item.new;
        let id: MessageId = Uuid::now_v7();
        let submitted_at = new.submitted_at.map(ledger::db_time).unwrap_or(now);
        let tracking_no = messages::format_tracking_no(prefix, submitted_at.year(), next.n);
        let payload = submit_payload(item);
        let content = EventContent {
            message_id: id,
            seq: 1,
            actor_id: actor.id.map(|u| u.0),
            actor_role: actor.role_name(),
            action: MessageAction::Submit.as_str(),
            from_status: None,
            to_status: Some(MessageStatus::Submitted.as_str()),
            payload: &payload,
            created_at: now,
        };
        let hash = ledger::event_hash(&GENESIS, &content);
        let text = format!("{}\n{}", new.title, new.body);
        rows.push(MessageRow {
            id,
            tracking_no: tracking_no.clone(),
            author_id: new.author_id,
            registered_by: new.registered_by,
            source: new.source,
            leader_id: new.leader_id,
            category_id: new.category_id,
            kind: new.kind,
            title: &new.title,
            body: &new.body,
            region_code: code.clone(),
            region_path: path.clone(),
            address: &new.address,
            location_lat: new.location.map(|l| l.0),
            location_lon: new.location.map(|l| l.1),
            visibility: new.visibility,
            contact_name: new.contact_name.as_deref(),
            contact_phone: new.contact_phone.as_deref(),
            attachments: &new.attachments,
            status: MessageStatus::Submitted,
            intake_unit_id: *intake,
            search_bigrams: crate::domain::search::bigrams(&text).into_iter().collect(),
            event_count: 1,
            chain_head: hash.clone(),
            submitted_at,
            last_activity_at: now,
            external_source: &item.source,
            external_id: &item.external_id,
            external_updated_at: ledger::db_time(item.updated_at),
        });
        events.push(EventRow {
            message_id: id,
            seq: 1,
            actor_id: actor.id,
            actor_role: actor.role_name(),
            action: MessageAction::Submit.as_str(),
            from_status: None,
            to_status: Some(MessageStatus::Submitted.as_str()),
            payload,
            created_at: now,
            prev_hash: GENESIS.to_vec(),
            hash,
        });
        refs.push(MessageRef { id, tracking_no });
    }
    // Binary COPY rather than a multi-row INSERT: no statement of thousands of parameters to
    // parse and plan. Triggers, constraints and foreign keys apply as to an INSERT.
    diesel::copy_from(m::table)
        .from_insertable(&rows)
        .execute(conn)?;
    diesel::copy_from(ev::table)
        .from_insertable(&events)
        .execute(conn)?;
    Ok(refs)
}

/// The fields an import may set, as stored (for the comparison and the update).
#[derive(Debug, PartialEq, AsChangeset)]
#[diesel(table_name = m, treat_none_as_null = true)]
struct ImportFields {
    leader_id: LeaderId,
    category_id: CategoryId,
    kind: MessageKind,
    title: String,
    body: String,
    region_code: String,
    address: String,
    location_lat: Option<f64>,
    location_lon: Option<f64>,
    visibility: Visibility,
    contact_name: Option<String>,
    contact_phone: Option<String>,
    submitted_at: DateTime<Utc>,
}

impl ImportFields {
    fn of_message(m: &Message) -> Self {
        ImportFields {
            leader_id: m.leader_id,
            category_id: m.category_id,
            kind: m.kind,
            title: m.title.clone(),
            body: m.body.clone(),
            region_code: m.region_code.clone(),
            address: m.address.clone(),
            location_lat: m.location_lat,
            location_lon: m.location_lon,
            visibility: m.visibility,
            contact_name: m.contact_name.clone(),
            contact_phone: m.contact_phone.clone(),
            submitted_at: m.submitted_at,
        }
    }

    fn of_item(new: &NewMessage, region_code: String, now: DateTime<Utc>) -> Self {
        ImportFields {
            leader_id: new.leader_id,
            category_id: new.category_id,
            kind: new.kind,
            title: new.title.clone(),
            body: new.body.clone(),
            region_code,
            address: new.address.clone(),
            location_lat: new.location.map(|l| l.0),
            location_lon: new.location.map(|l| l.1),
            visibility: new.visibility,
            contact_name: new.contact_name.clone(),
            contact_phone: new.contact_phone.clone(),
            submitted_at: ledger::db_time(new.submitted_at.unwrap_or(now)),
        }
    }

    /// Names of the fields that differ (contact data by name only: the ledger never holds it).
    fn changed(&self, other: &ImportFields) -> Vec<&'static str> {
        let mut out = Vec::new();
        macro_rules! cmp {
            ($($f:ident),*) => { $( if self.$f != other.$f { out.push(stringify!($f)); } )* };
        }
        cmp!(
            leader_id,
            category_id,
            kind,
            title,
            body,
            region_code,
            address,
            location_lat,
            location_lon,
            visibility,
            contact_name,
            contact_phone,
            submitted_at
        );
        out
    }
}

/// Each integration client owns what it imported (the account that registered the message): an
/// import of the same key by another client is refused, never merged. Two platforms sending the
/// same `source` name is a configuration error; one client overwriting another's citizen data
/// (or completing its handling) is a breach.
fn owned_by(current_owner: Option<UserId>, actor: EventActor, what: &str) -> Result<(), ApiError> {
    if current_owner.is_some() && current_owner == actor.id {
        return Ok(());
    }
    Err(ApiError::Conflict(format!(
        "{what} was imported by another integration client; only that client may change it or add to it"
    )))
}

/// An item against its stored message: `stale` or `unchanged` (nothing to write), or `None`
/// when it changes something.
fn compare(
    refs: &References,
    item: &ImportedMessage,
    current: &Message,
    stored_version: Option<DateTime<Utc>>,
    actor: EventActor,
    now: DateTime<Utc>,
) -> Result<Option<Outcome<MessageRef>>, ApiError> {
    owned_by(current.registered_by, actor, "the message")?;
    let reference = MessageRef {
        id: current.id,
        tracking_no: current.tracking_no.clone(),
    };
    if stored_version.is_some_and(|v| ledger::db_time(item.updated_at) < v) {
        return Ok(Some(Outcome::Stale(reference)));
    }
    // Compared before the references are checked: a replay stays `unchanged` even when its
    // leader or category was deactivated since.
    let region_code = match &item.new.region_code {
        Some(code) => code.clone(),
        None => match refs.leaders.get(&item.new.leader_id) {
            Some((region, _, _)) => region.clone(),
            None => return Err(ApiError::field("leader_id", "not_found", "no such leader")),
        },
    };
    let wanted = ImportFields::of_item(&item.new, region_code, now);
    if wanted
        .changed(&ImportFields::of_message(current))
        .is_empty()
    {
        return Ok(Some(Outcome::Unchanged(reference)));
    }
    Ok(None)
}

/// One item on its own: update, or create when it is new after all (a concurrent batch may
/// have created it since the lookup; the unique index decides).
fn import_one(
    conn: &mut PgConnection,
    item: &ImportedMessage,
    actor: EventActor,
    prefix: &str,
    now: DateTime<Utc>,
) -> Result<Outcome<MessageRef>, ApiError> {
    let refs = References::load(conn, std::iter::once(&item.new))?;
    let resolved = refs.resolve(&item.new)?;
    let existing: Option<Message> = m::table
        .filter(m::external_source.eq(&item.source))
        .filter(m::external_id.eq(&item.external_id))
        .for_update()
        .select(Message::as_select())
        .first(conn)
        .optional()?;
    let Some(current) = existing else {
        let created = create_all(conn, &[(0, item, resolved)], actor, prefix, now)?;
        let created = created
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::Internal("created nothing".into()))?;
        return Ok(Outcome::Created(created));
    };
    owned_by(current.registered_by, actor, "the message")?;
    let reference = MessageRef {
        id: current.id,
        tracking_no: current.tracking_no.clone(),
    };
    let stored_version: Option<DateTime<Utc>> = m::table
        .find(current.id)
        .select(m::external_updated_at)
        .first(conn)?;
    let incoming = ledger::db_time(item.updated_at);
    if stored_version.is_some_and(|v| incoming < v) {
        return Ok(Outcome::Stale(reference));
    }
    let (region_code, region_path, intake_unit) = resolved;
    let wanted = ImportFields::of_item(&item.new, region_code, now);
    let changed = wanted.changed(&ImportFields::of_message(&current));
    if changed.is_empty() {
        return Ok(Outcome::Unchanged(reference));
    }
    if current.status != MessageStatus::Submitted {
        return Err(ApiError::Conflict(format!(
            "message {} is already being handled here (status `{}`): the platform's changes to {} are not applied",
            current.tracking_no,
            current.status,
            changed.join(", ")
        )));
    }
    let now = ledger::db_time(now);
    let text = format!("{}\n{}", wanted.title, wanted.body);
    let bigrams: Vec<String> = crate::domain::search::bigrams(&text).into_iter().collect();
    diesel::update(m::table.find(current.id))
        .set((
            &wanted,
            m::region_path.eq(&region_path),
            m::intake_unit_id.eq(intake_unit),
            m::search_bigrams.eq(bigrams),
            m::external_updated_at.eq(incoming),
            m::version.eq(m::version + 1),
            m::updated_at.eq(now),
        ))
        .execute(conn)?;
    messages::append_event(
        conn,
        current.id,
        actor,
        MessageAction::ImportUpdate,
        Some(current.status),
        Some(current.status),
        json!({
            "changed": changed,
            "external_source": item.source,
            "external_id": item.external_id,
            "external_updated_at": incoming,
        }),
        now,
    )?;
    Ok(Outcome::Updated(reference))
}

/// Import a batch of messages (one transaction). Results come back in the items' order.
pub fn import_messages(
    conn: &mut PgConnection,
    items: Vec<Result<ImportedMessage, ApiError>>,
    actor: EventActor,
    prefix: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Outcome<MessageRef>>, ApiError> {
    conn.transaction(|conn| {
        let mut results: Vec<Option<Outcome<MessageRef>>> = Vec::with_capacity(items.len());
        let mut owned = Vec::with_capacity(items.len());
        for (i, it) in items.into_iter().enumerate() {
            match it {
                Ok(v) => {
                    results.push(None);
                    owned.push((i, v));
                }
                Err(e) => results.push(Some(Outcome::Rejected(e))),
            }
        }
        let valid: Vec<(usize, &ImportedMessage)> = owned.iter().map(|(i, v)| (*i, v)).collect();
        let keys: Vec<Key> = valid
            .iter()
            .map(|(_, v)| (v.source.clone(), v.external_id.clone()))
            .collect();
        let existing = existing_messages(conn, &keys)?;
        let refs = References::load(conn, valid.iter().map(|(_, v)| &v.new))?;
        // First occurrences of new keys go into the bulk insert; the rest run one by one after
        // it, in the batch's order.
        // The stored messages of the batch, locked (a replayed batch is answered from these
        // without a statement per item).
        let ids: Vec<MessageId> = existing.values().copied().collect();
        let stored: HashMap<MessageId, (Message, Option<DateTime<Utc>>)> = if ids.is_empty() {
            HashMap::new()
        } else {
            m::table
                .filter(m::id.eq_any(&ids))
                .order(m::id)
                .for_update()
                .select((Message::as_select(), m::external_updated_at))
                .load::<(Message, Option<DateTime<Utc>>)>(conn)?
                .into_iter()
                .map(|(msg, v)| (msg.id, (msg, v)))
                .collect()
        };
        let mut seen: HashSet<Key> = HashSet::new();
        let mut bulk = Vec::new();
        let mut one_by_one = Vec::new();
        for (i, item) in &valid {
            let key = (item.source.clone(), item.external_id.clone());
            let first = seen.insert(key.clone());
            let current = existing.get(&key).and_then(|id| stored.get(id));
            match (first, current) {
                (true, None) => match refs.resolve(&item.new) {
                    Ok(resolved) => bulk.push((*i, *item, resolved)),
                    Err(e) => results[*i] = Some(Outcome::Rejected(e)),
                },
                (true, Some((msg, version))) => {
                    match compare(&refs, item, msg, *version, actor, now) {
                        Ok(Some(outcome)) => results[*i] = Some(outcome),
                        // Changed: the update runs on its own.
                        Ok(None) => one_by_one.push((*i, *item)),
                        Err(e) => results[*i] = Some(Outcome::Rejected(e)),
                    }
                }
                (false, _) => one_by_one.push((*i, *item)),
            }
        }
        // The new messages, with the index of their item.
        let mut created: Vec<(MessageId, usize)> = Vec::new();
        if !bulk.is_empty() {
            match conn.transaction(|conn| create_all(conn, &bulk, actor, prefix, now)) {
                Ok(refs) => {
                    for ((i, _, _), r) in bulk.iter().zip(refs) {
                        created.push((r.id, *i));
                        results[*i] = Some(Outcome::Created(r));
                    }
                }
                // Something in the slice (a concurrent import of the same key, most likely):
                // each item alone, so only the one at fault fails.
                Err(_) => {
                    for (i, item, _) in &bulk {
                        one_by_one.push((*i, *item));
                    }
                    one_by_one.sort_by_key(|(i, _)| *i);
                }
            }
        }
        for (i, item) in one_by_one {
            let outcome = conn
                .transaction(|conn| import_one(conn, item, actor, prefix, now))
                .unwrap_or_else(Outcome::Rejected);
            if let Outcome::Created(r) = &outcome {
                created.push((r.id, i));
            }
            results[i] = Some(outcome);
        }
        // Early warning looks at every new message, as at intake through the API; only those a
        // rule could fire on are read back.
        if !created.is_empty() {
            let rules = crate::store::alerts::intake_rules(conn)?;
            let items: HashMap<usize, &ImportedMessage> = valid.iter().copied().collect();
            let candidates: Vec<MessageId> = created
                .iter()
                .filter(|(_, i)| {
                    items.get(i).is_none_or(|item| {
                        crate::store::alerts::may_fire_at_intake(
                            &rules,
                            &item.new.title,
                            &item.new.body,
                        )
                    })
                })
                .map(|(id, _)| *id)
                .collect();
            if !candidates.is_empty() {
                let stored: Vec<Message> = m::table
                    .filter(m::id.eq_any(&candidates))
                    .select(Message::as_select())
                    .load(conn)?;
                for message in &stored {
                    crate::store::alerts::evaluate_intake_with(conn, &rules, message, now)?;
                }
            }
        }
        Ok(results
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Outcome::Rejected(ApiError::Internal("lost".into()))))
            .collect())
    })
}

// ---------------------------------------------------------------------------------------------
// Replies written on the platform

/// A reply of the platform, checked for shape.
#[derive(Debug, Clone)]
pub struct ImportedReply {
    pub source: String,
    pub external_id: String,
    pub message_external_id: String,
    pub kind: ReplyKind,
    pub body: String,
    pub published_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A reply an import created or matched.
#[derive(Debug, Clone)]
pub struct ReplyRef {
    pub id: ReplyId,
    pub message_id: MessageId,
    pub revision: i32,
}

/// Import replies one by one (each in a savepoint) in one transaction.
pub fn import_replies(
    conn: &mut PgConnection,
    items: Vec<Result<ImportedReply, ApiError>>,
    actor: EventActor,
    now: DateTime<Utc>,
) -> Result<Vec<Outcome<ReplyRef>>, ApiError> {
    conn.transaction(|conn| {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(match item {
                Err(e) => Outcome::Rejected(e),
                Ok(item) => conn
                    .transaction(|conn| import_reply(conn, &item, actor, now))
                    .unwrap_or_else(Outcome::Rejected),
            });
        }
        Ok(out)
    })
}

#[derive(Queryable)]
struct StoredReply {
    id: ReplyId,
    message_id: MessageId,
    kind: ReplyKind,
    body: String,
    revision: i32,
    external_updated_at: Option<DateTime<Utc>>,
    created_by: UserId,
}

fn import_reply(
    conn: &mut PgConnection,
    item: &ImportedReply,
    actor: EventActor,
    now: DateTime<Utc>,
) -> Result<Outcome<ReplyRef>, ApiError> {
    let now = ledger::db_time(now);
    let incoming = ledger::db_time(item.updated_at);
    let message: Option<Message> = m::table
        .filter(m::external_source.eq(&item.source))
        .filter(m::external_id.eq(&item.message_external_id))
        .select(Message::as_select())
        .first(conn)
        .optional()?;
    let Some(message) = message else {
        return Err(ApiError::field(
            "message_external_id",
            "not_found",
            format!(
                "no message was imported from `{}` with external id `{}`: import the message first",
                item.source, item.message_external_id
            ),
        ));
    };
    owned_by(message.registered_by, actor, "the message")?;
    // The message's lock orders this step with every other step on the message.
    let message = messages::lock(conn, message.id)?;
    let stored: Option<StoredReply> = r::table
        .filter(r::external_source.eq(&item.source))
        .filter(r::external_id.eq(&item.external_id))
        .for_update()
        .select((
            r::id,
            r::message_id,
            r::kind,
            r::body,
            r::revision,
            r::external_updated_at,
            r::created_by,
        ))
        .first(conn)
        .optional()?;
    if let Some(stored) = stored {
        owned_by(Some(stored.created_by), actor, "the reply")?;
        let reference = ReplyRef {
            id: stored.id,
            message_id: stored.message_id,
            revision: stored.revision,
        };
        if stored.message_id != message.id {
            return Err(ApiError::Conflict(format!(
                "reply `{}` was imported for another message; a reply never moves",
                item.external_id
            )));
        }
        if stored.external_updated_at.is_some_and(|v| incoming < v) {
            return Ok(Outcome::Stale(reference));
        }
        if stored.kind != item.kind {
            return Err(ApiError::field(
                "kind",
                "immutable",
                format!(
                    "the reply was imported as `{}`; its kind never changes",
                    stored.kind
                ),
            ));
        }
        if stored.body == item.body {
            return Ok(Outcome::Unchanged(reference));
        }
        if stored.external_updated_at == Some(incoming) {
            return Ok(Outcome::Stale(reference));
        }
        let revision = stored.revision + 1;
        let updated = crate::store::replies::update(
            conn,
            stored.id,
            &crate::store::replies::ReplyChanges {
                body: Some(item.body.clone()),
                revision: Some(revision),
                updated_by: actor.id,
                ..Default::default()
            },
            now,
        )?;
        diesel::update(r::table.find(stored.id))
            .set(r::external_updated_at.eq(incoming))
            .execute(conn)?;
        crate::store::replies::add_revision(conn, &updated)?;
        bump_message(conn, &message, None, now)?;
        messages::append_event(
            conn,
            message.id,
            actor,
            MessageAction::ImportReply,
            Some(message.status),
            Some(message.status),
            json!({
                "reply_id": stored.id,
                "kind": item.kind,
                "revision": revision,
                "external_source": item.source,
                "external_id": item.external_id,
                "updated": true,
            }),
            now,
        )?;
        return Ok(Outcome::Updated(ReplyRef {
            revision,
            ..reference
        }));
    }
    // A new reply: it belongs to the message's lead unit, which must be working on it here.
    let lead = crate::store::assignments::open_of_message(conn, message.id)?
        .into_iter()
        .find(|a| a.role == AssignmentRole::Lead)
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "message {} has no responsible unit here (status `{}`): assign it before its replies arrive",
                message.tracking_no, message.status
            ))
        })?;
    if item.kind == ReplyKind::Final && lead.status != AssignmentStatus::SignedFor {
        return Err(ApiError::Conflict(format!(
            "the responsible unit has not signed for message {} here: a final reply needs the assignment signed for",
            message.tracking_no
        )));
    }
    if let Some(why) = crate::domain::import::reply_time_refusal(
        item.published_at,
        item.kind == ReplyKind::Final,
        message.submitted_at,
        lead.assigned_at,
        lead.signed_for_at,
    ) {
        return Err(ApiError::field("published_at", "before_handling", why));
    }
    let Some(user) = actor.id else {
        return Err(ApiError::Internal("an import needs an actor".into()));
    };
    let unit_name = crate::store::units::get(conn, lead.unit_id)?.name;
    let published_at = ledger::db_time(item.published_at.min(now));
    let reply = crate::store::replies::Reply {
        id: ReplyId::new(),
        message_id: message.id,
        assignment_id: lead.id,
        unit_id: lead.unit_id,
        intake_unit_id: message.intake_unit_id,
        region_path: message.region_path.clone(),
        kind: item.kind,
        status: ReplyStatus::Published,
        body: item.body.clone(),
        attachments: Value::Array(vec![]),
        revision: 1,
        review_unit_id: lead.unit_id,
        created_by: user,
        created_at: now,
        updated_by: user,
        updated_at: now,
        submitted_at: None,
        reviewed_by: None,
        reviewed_at: None,
        review_comment: None,
        published_by: Some(user),
        published_at: Some(published_at),
        unit_name: Some(unit_name.clone()),
        version: 1,
    };
    crate::store::replies::insert(conn, &reply)?;
    diesel::update(r::table.find(reply.id))
        .set((
            r::external_source.eq(&item.source),
            r::external_id.eq(&item.external_id),
            r::external_updated_at.eq(incoming),
        ))
        .execute(conn)?;
    let mut payload = json!({
        "reply_id": reply.id,
        "kind": item.kind,
        "revision": 1,
        "unit_name": unit_name,
        "published_at": published_at,
        "external_source": item.source,
        "external_id": item.external_id,
        "updated": false,
    });
    let mut to = message.status;
    if item.kind == ReplyKind::Final {
        crate::store::replies::discard_in_flight(conn, message.id, lead.unit_id, now)?;
        let (verdict, until) =
            crate::store::replies::complete_handling(conn, message.id, lead.id, published_at)?;
        payload["reply_verdict"] = json!(verdict);
        payload["feedback_until"] = json!(until);
        to = MessageStatus::Replied;
        bump_message(
            conn,
            &message,
            Some(messages::MessageChanges {
                status: Some(to),
                replied_at: Some(Some(published_at)),
                feedback_until: Some(Some(until)),
                closed_at: Some(None),
                ..Default::default()
            }),
            now,
        )?;
    } else {
        bump_message(conn, &message, None, now)?;
    }
    messages::append_event(
        conn,
        message.id,
        actor,
        MessageAction::ImportReply,
        Some(message.status),
        Some(to),
        payload,
        now,
    )?;
    Ok(Outcome::Created(ReplyRef {
        id: reply.id,
        message_id: message.id,
        revision: 1,
    }))
}

/// A new version of the message (its replies changed).
fn bump_message(
    conn: &mut PgConnection,
    message: &Message,
    changes: Option<messages::MessageChanges>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let changes = changes.unwrap_or_default();
    diesel::update(m::table.find(message.id))
        .set((
            &changes,
            m::version.eq(m::version + 1),
            m::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The change feed

/// A position in the feed: `(feed_txid, event id)`; the start is `(0, 0)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeedPosition {
    pub txid: u64,
    pub event: i64,
}

impl FeedPosition {
    /// The cursor's text: `<txid>.<event>` (opaque to clients).
    pub fn encode(self) -> String {
        format!("{}.{}", self.txid, self.event)
    }

    pub fn decode(s: &str) -> Option<FeedPosition> {
        let (t, e) = s.split_once('.')?;
        let digits =
            |x: &str| !x.is_empty() && x.len() <= 20 && x.bytes().all(|b| b.is_ascii_digit());
        if !digits(t) || !digits(e) {
            return None;
        }
        Some(FeedPosition {
            txid: t.parse().ok()?,
            event: e.parse().ok()?,
        })
    }
}

/// One change as the feed reads it.
#[derive(Debug, Clone, QueryableByName)]
pub struct Change {
    #[diesel(sql_type = Text)]
    pub feed_txid: String,
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub feed_type: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub message_id: MessageId,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub seq: i32,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub from_status: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub to_status: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    pub payload: Value,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub actor_role: String,
    #[diesel(sql_type = Text)]
    pub tracking_no: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    /// For the client's row filter (region subtree, private messages).
    #[diesel(sql_type = Text)]
    pub region_path: String,
    #[diesel(sql_type = Text)]
    pub visibility: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub external_source: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub external_id: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    pub reply_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub reply_kind: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub reply_body: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub reply_unit_name: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub reply_published_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub reply_board_reply_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub reply_board_url: Option<String>,
}

impl Change {
    pub fn position(&self) -> FeedPosition {
        FeedPosition {
            txid: self.feed_txid.parse().unwrap_or(0),
            event: self.id,
        }
    }
}

/// Changes after `after`, in feed order, up to `limit`; only those no running transaction can
/// still precede (see migration 000010).
pub fn changes(
    conn: &mut PgConnection,
    after: FeedPosition,
    types: &[ChangeType],
    limit: i64,
) -> Result<Vec<Change>, ApiError> {
    let types: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    conn.transaction(|conn| {
        // How many rows lie after the cursor the planner cannot know (a generic plan, a
        // condition on a snapshot): misjudged small, a page of more rows than it expects (about
        // 640) became a scan of everything after the cursor and a sort, 2.2–2.7 s inside one
        // large transaction (issue 26, item 6). The page is always a walk of
        // `message_events_feed_idx`, which has the feed's order, stopping after `limit` rows.
        conn.batch_execute(
            "SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off; \
             SET LOCAL enable_seqscan = off; SET LOCAL jit = off; \
             SET LOCAL max_parallel_workers_per_gather = 0",
        )?;
        let rows = diesel::sql_query(
        "SELECT e.feed_txid::text AS feed_txid, e.id, e.feed_type, e.message_id, e.seq, e.action, \
                e.from_status, e.to_status, e.payload, e.created_at, e.actor_role, \
                m.tracking_no, m.status, m.region_path, m.visibility, m.external_source, m.external_id, \
                rp.id AS reply_id, rp.kind AS reply_kind, rp.body AS reply_body, \
                rp.unit_name AS reply_unit_name, rp.published_at AS reply_published_at, \
                rp.board_reply_id AS reply_board_reply_id, rp.board_url AS reply_board_url \
         FROM message_events e JOIN messages m ON m.id = e.message_id \
         LEFT JOIN replies rp ON e.feed_type LIKE 'reply.%' \
                             AND rp.id = (e.payload->>'reply_id')::uuid \
         WHERE (e.feed_txid, e.id) > ($1::text::xid8, $2) \
           AND e.feed_txid < pg_snapshot_xmin(pg_current_snapshot()) \
           AND (cardinality($3::text[]) = 0 OR e.feed_type = ANY($3)) \
         ORDER BY e.feed_txid, e.id \
         LIMIT $4",
    )
        .bind::<Text, _>(after.txid.to_string())
        .bind::<BigInt, _>(after.event)
        .bind::<Array<Text>, _>(types)
        .bind::<BigInt, _>(limit)
        .load(conn)?;
        // Inside an enclosing transaction this was a savepoint, whose SET LOCALs outlive it.
        conn.batch_execute(
            "SET LOCAL enable_sort TO DEFAULT; SET LOCAL enable_bitmapscan TO DEFAULT; \
             SET LOCAL enable_seqscan TO DEFAULT; SET LOCAL jit TO DEFAULT; \
             SET LOCAL max_parallel_workers_per_gather TO DEFAULT",
        )?;
        Ok(rows)
    })
}

/// The feed's current end: a consumer starting now begins here and misses nothing after it.
pub fn head(conn: &mut PgConnection) -> Result<FeedPosition, ApiError> {
    #[derive(QueryableByName)]
    struct Head {
        #[diesel(sql_type = Nullable<Text>)]
        txid: Option<String>,
        #[diesel(sql_type = Nullable<BigInt>)]
        id: Option<i64>,
    }
    let h: Head = diesel::sql_query(
        "SELECT feed_txid::text AS txid, id FROM message_events \
         WHERE feed_txid < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY feed_txid DESC, id DESC LIMIT 1",
    )
    .get_result::<Head>(conn)
    .optional()?
    .unwrap_or(Head {
        txid: None,
        id: None,
    });
    Ok(FeedPosition {
        txid: h.txid.and_then(|t| t.parse().ok()).unwrap_or(0),
        event: h.id.unwrap_or(0),
    })
}

// ---------------------------------------------------------------------------------------------
// The board's acknowledgements

/// A published reply of ours as the board needs it.
#[derive(Debug, Clone, Queryable)]
pub struct PublishedReply {
    pub id: ReplyId,
    pub message_id: MessageId,
    pub kind: ReplyKind,
    pub body: String,
    pub unit_name: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub board_reply_id: Option<String>,
    pub board_url: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub tracking_no: String,
    pub external_source: Option<String>,
    pub external_id: Option<String>,
}

type PublishedSelect = (
    r::id,
    r::message_id,
    r::kind,
    r::body,
    r::unit_name,
    r::published_at,
    r::board_reply_id,
    r::board_url,
    r::acknowledged_at,
    m::tracking_no,
    m::external_source,
    m::external_id,
);

const PUBLISHED: PublishedSelect = (
    r::id,
    r::message_id,
    r::kind,
    r::body,
    r::unit_name,
    r::published_at,
    r::board_reply_id,
    r::board_url,
    r::acknowledged_at,
    m::tracking_no,
    m::external_source,
    m::external_id,
);

/// Published replies of ours the board has not acknowledged, oldest first, after the cursor;
/// of messages under `region_path` (all without one), private ones only if `private`.
pub fn unacknowledged(
    conn: &mut PgConnection,
    after: Option<(DateTime<Utc>, ReplyId)>,
    limit: i64,
    region_path: Option<&str>,
    private: bool,
) -> Result<Vec<PublishedReply>, ApiError> {
    let mut q = r::table
        .inner_join(m::table)
        .filter(r::status.eq(ReplyStatus::Published))
        .filter(r::acknowledged_at.is_null())
        .filter(r::external_source.is_null())
        .select(PUBLISHED)
        .order((r::published_at.asc(), r::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some(path) = region_path {
        q = q.filter(m::region_path.like(super::like_prefix(path)));
    }
    if !private {
        q = q.filter(m::visibility.eq(crate::domain::message::Visibility::Public));
    }
    if let Some((t, id)) = after {
        q = q.filter(
            r::published_at
                .gt(t)
                .or(r::published_at.eq(t).and(r::id.gt(id))),
        );
    }
    Ok(q.load(conn)?)
}

/// Record the board's id and URL of a published reply (and a ledger event). Acknowledging
/// again with the same values changes nothing; new values replace the old ones.
pub fn acknowledge(
    conn: &mut PgConnection,
    id: ReplyId,
    board_reply_id: &str,
    board_url: &str,
    actor: EventActor,
    now: DateTime<Utc>,
) -> Result<(PublishedReply, bool), ApiError> {
    conn.transaction(|conn| {
        let message_id: MessageId = r::table
            .find(id)
            .select(r::message_id)
            .first(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("reply"))?;
        let message = messages::lock(conn, message_id)?;
        let current: PublishedReply = r::table
            .inner_join(m::table)
            .filter(r::id.eq(id))
            .select(PUBLISHED)
            .first(conn)?;
        let (status, imported): (ReplyStatus, Option<String>) = r::table
            .find(id)
            .select((r::status, r::external_source))
            .first(conn)?;
        if let Some(source) = imported {
            return Err(ApiError::Conflict(format!(
                "the reply was imported from `{source}`: the board already has it"
            )));
        }
        if status != ReplyStatus::Published {
            return Err(ApiError::Conflict(format!(
                "the reply is `{status}`: only published replies are on the board"
            )));
        }
        if current.board_reply_id.as_deref() == Some(board_reply_id)
            && current.board_url.as_deref() == Some(board_url)
        {
            return Ok((current, false));
        }
        let now = ledger::db_time(now);
        diesel::update(r::table.find(id))
            .set((
                r::board_reply_id.eq(board_reply_id),
                r::board_url.eq(board_url),
                r::acknowledged_at.eq(now),
                r::acknowledged_by.eq(actor.id),
            ))
            .execute(conn)?;
        messages::append_event(
            conn,
            message.id,
            actor,
            MessageAction::AcknowledgeReply,
            Some(message.status),
            Some(message.status),
            json!({
                "reply_id": id,
                "board_reply_id": board_reply_id,
                "board_url": board_url,
                "previous_board_reply_id": current.board_reply_id,
            }),
            now,
        )?;
        let after: PublishedReply = r::table
            .inner_join(m::table)
            .filter(r::id.eq(id))
            .select(PUBLISHED)
            .first(conn)?;
        Ok((after, true))
    })
}
