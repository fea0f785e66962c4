//! Synchronisation with the liaison platform: imports of replies written there (upserts by the
//! platform's ids), what the message import (`app::intake::import`) reads and writes beyond
//! intake's own insert (the stored messages of a batch's keys, the platform's updates to them),
//! the change feed over the ledger, and the board's acknowledgements of our published replies.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::change_type::ChangeType;
use crate::domain::handling::{AssignmentRole, AssignmentStatus};
use crate::domain::ids::{CategoryId, LeaderId, ReplyId, UnitId, UserId};
use crate::domain::ledger;
use crate::domain::message::{MessageAction, MessageKind, MessageStatus, Visibility};
use crate::domain::reply::{ReplyKind, ReplyStatus};
use crate::error::ApiError;
use crate::schema::{messages as m, replies as r};
use crate::store::messages::{self, EventActor, ExternalRef, Message, MessageId, NewMessage};

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

impl MessageRef {
    pub fn of(m: &Message) -> Self {
        MessageRef {
            id: m.id,
            tracking_no: m.tracking_no.clone(),
        }
    }
}

/// `(source, external_id)`: an imported message's key.
pub type Key = (String, String);

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
pub fn existing_messages(
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

/// A stored message with the platform's version of it (`external_updated_at`).
pub type Imported = (Message, Option<DateTime<Utc>>);

/// These messages, locked, each with the platform's version of it.
pub fn lock_imported(
    conn: &mut PgConnection,
    ids: &[MessageId],
) -> Result<HashMap<MessageId, Imported>, ApiError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(m::table
        .filter(m::id.eq_any(ids))
        .order(m::id)
        .for_update()
        .select((Message::as_select(), m::external_updated_at))
        .load::<Imported>(conn)?
        .into_iter()
        .map(|(msg, v)| (msg.id, (msg, v)))
        .collect())
}

/// The message imported under this key, locked, with the platform's version of it.
pub fn lock_by_key(
    conn: &mut PgConnection,
    key: &ExternalRef,
) -> Result<Option<Imported>, ApiError> {
    Ok(m::table
        .filter(m::external_source.eq(&key.source))
        .filter(m::external_id.eq(&key.external_id))
        .for_update()
        .select((Message::as_select(), m::external_updated_at))
        .first(conn)
        .optional()?)
}

/// The fields an import may set, as stored (for the comparison and the update).
#[derive(Debug, PartialEq, AsChangeset)]
#[diesel(table_name = m, treat_none_as_null = true)]
pub struct ImportFields {
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
    pub fn of_message(m: &Message) -> Self {
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

    pub fn of_item(new: &NewMessage, region_code: String, now: DateTime<Utc>) -> Self {
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
    pub fn changed(&self, other: &ImportFields) -> Vec<&'static str> {
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
pub fn owned_by(
    current_owner: Option<UserId>,
    actor: EventActor,
    what: &str,
) -> Result<(), ApiError> {
    if current_owner.is_some() && current_owner == actor.id {
        return Ok(());
    }
    Err(ApiError::Conflict(format!(
        "{what} was imported by another integration client; only that client may change it or add to it"
    )))
}

/// Where an imported message goes when the platform changed it.
pub struct ImportUpdate<'a> {
    pub fields: &'a ImportFields,
    pub changed: &'a [&'static str],
    pub region_path: &'a str,
    pub intake_unit_id: UnitId,
    pub external: &'a ExternalRef,
}

/// Apply the platform's changes to a stored message (locked by the caller), with its
/// `import_update` event. Returns the message as it is now.
pub fn update_imported(
    conn: &mut PgConnection,
    current: &Message,
    update: &ImportUpdate<'_>,
    actor: EventActor,
    now: DateTime<Utc>,
) -> Result<Message, ApiError> {
    let now = ledger::db_time(now);
    let incoming = ledger::db_time(update.external.updated_at);
    let text = format!("{}\n{}", update.fields.title, update.fields.body);
    let bigrams: Vec<String> = crate::domain::search::bigrams(&text).into_iter().collect();
    diesel::update(m::table.find(current.id))
        .set((
            update.fields,
            m::region_path.eq(update.region_path),
            m::intake_unit_id.eq(update.intake_unit_id),
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
            "changed": update.changed,
            "external_source": update.external.source,
            "external_id": update.external.external_id,
            "external_updated_at": incoming,
        }),
        now,
    )?;
    messages::get(conn, current.id)?.ok_or_else(|| ApiError::Internal("message vanished".into()))
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
/// of messages under `region_path` (all without one), private ones only if `private`, and not
/// of messages another client imported (`client` may acknowledge exactly these).
pub fn unacknowledged(
    conn: &mut PgConnection,
    after: Option<(DateTime<Utc>, ReplyId)>,
    limit: i64,
    region_path: Option<&str>,
    private: bool,
    client: UserId,
) -> Result<Vec<PublishedReply>, ApiError> {
    let mut q = r::table
        .inner_join(m::table)
        .filter(r::status.eq(ReplyStatus::Published))
        .filter(r::acknowledged_at.is_null())
        .filter(r::external_source.is_null())
        .filter(m::external_source.is_null().or(m::registered_by.eq(client)))
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
///
/// `sees(region_path, visibility)` is the client's read scope: a reply of a message outside it
/// is 404, as if there were none (the unacknowledged list never showed it). A reply to a
/// message another client imported is that client's to acknowledge (409, as for imports).
pub fn acknowledge(
    conn: &mut PgConnection,
    id: ReplyId,
    board_reply_id: &str,
    board_url: &str,
    actor: EventActor,
    now: DateTime<Utc>,
    sees: impl Fn(&str, &str) -> bool,
) -> Result<(PublishedReply, bool), ApiError> {
    conn.transaction(|conn| {
        let message_id: MessageId = r::table
            .find(id)
            .select(r::message_id)
            .first(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("reply"))?;
        let message = messages::lock(conn, message_id)?;
        if !sees(&message.region_path, message.visibility.as_str()) {
            return Err(ApiError::not_found("reply"));
        }
        if message.external_source.is_some() {
            owned_by(message.registered_by, actor, "the message")?;
        }
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
