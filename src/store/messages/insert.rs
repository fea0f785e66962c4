//! New messages: each stored with its `submit` event, any number of them in two statements.
//! Intake (`app::intake`) checks them first; this writes them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use super::{EventActor, Message, MessageId, NewMessage, format_tracking_no};
use crate::domain::ids::{CategoryId, LeaderId, UnitId, UserId};
use crate::domain::ledger::{self, EventContent, GENESIS};
use crate::domain::message::{
    MessageAction, MessageKind, MessageSource, MessageStatus, Visibility,
};
use crate::error::ApiError;
use crate::schema::{message_events as ev, messages as m};

/// The liaison platform's key of an imported message and its version there.
#[derive(Debug, Clone)]
pub struct ExternalRef {
    pub source: String,
    pub external_id: String,
    pub updated_at: DateTime<Utc>,
}

/// A new message as intake checked it: its region and intake unit resolved.
#[derive(Debug, Clone, Copy)]
pub struct Insert<'a> {
    pub new: &'a NewMessage,
    pub region_code: &'a str,
    pub region_path: &'a str,
    pub intake_unit_id: UnitId,
    /// Imported messages: the platform's key (kept on the row and in the `submit` event).
    pub external: Option<&'a ExternalRef>,
}

/// A new message row (binary `COPY`: `None` is NULL, which is every nullable column's default).
#[derive(Insertable)]
#[diesel(table_name = m, treat_none_as_default_value = false)]
struct MessageRow<'a> {
    id: MessageId,
    tracking_no: &'a str,
    author_id: Option<UserId>,
    registered_by: Option<UserId>,
    source: MessageSource,
    leader_id: LeaderId,
    category_id: CategoryId,
    kind: MessageKind,
    title: &'a str,
    body: &'a str,
    region_code: &'a str,
    region_path: &'a str,
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
    chain_head: &'a [u8],
    submitted_at: DateTime<Utc>,
    last_activity_at: DateTime<Utc>,
    external_source: Option<&'a str>,
    external_id: Option<&'a str>,
    external_updated_at: Option<DateTime<Utc>>,
}

/// A `submit` event row.
#[derive(Insertable)]
#[diesel(table_name = ev, treat_none_as_default_value = false)]
struct SubmitEventRow<'a> {
    message_id: MessageId,
    seq: i32,
    actor_id: Option<UserId>,
    actor_role: &'static str,
    action: &'static str,
    from_status: Option<&'static str>,
    to_status: Option<&'static str>,
    payload: &'a Value,
    created_at: DateTime<Utc>,
    prev_hash: &'a [u8],
    hash: &'a [u8],
}

/// Store new messages, each with its `submit` event, in two statements whatever their number
/// (binary `COPY`: no statement to parse and plan; triggers, constraints and foreign keys apply
/// as to an `INSERT`). Returns the messages as stored, in the order given, without reading them
/// back: every column is known here.
pub fn insert_all(
    conn: &mut PgConnection,
    items: &[Insert<'_>],
    actor: EventActor,
    tracking_prefix: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Message>, ApiError> {
    use chrono::Datelike;
    if items.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(QueryableByName)]
    struct Next {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let numbers: Vec<Next> = diesel::sql_query(
        "SELECT nextval('message_tracking_seq') AS n FROM generate_series(1, $1)",
    )
    .bind::<diesel::sql_types::BigInt, _>(i64::try_from(items.len()).unwrap_or(i64::MAX))
    .load(conn)?;
    if numbers.len() != items.len() {
        return Err(ApiError::Internal("too few tracking numbers".into()));
    }
    let now = ledger::db_time(now);
    let stored: Vec<(Message, Value)> = items
        .iter()
        .zip(numbers)
        .map(|(item, Next { n })| {
            let new = item.new;
            let id = Uuid::now_v7();
            let submitted_at = new.submitted_at.map(ledger::db_time).unwrap_or(now);
            let mut payload = serde_json::json!({
                "title": new.title,
                "category_id": new.category_id,
                "kind": new.kind,
                "source": new.source,
                "visibility": new.visibility,
            });
            if let (Some(x), Some(p)) = (item.external, payload.as_object_mut()) {
                p.insert("external_source".into(), Value::from(x.source.as_str()));
                p.insert("external_id".into(), Value::from(x.external_id.as_str()));
            }
            let hash = ledger::event_hash(
                &GENESIS,
                &EventContent {
                    message_id: id,
                    seq: 1,
                    actor_id: actor.id.map(|u| u.0),
                    actor_role: actor.role_name(),
                    action: MessageAction::Submit.as_str(),
                    from_status: None,
                    to_status: Some(MessageStatus::Submitted.as_str()),
                    payload: &payload,
                    created_at: now,
                },
            );
            let message = Message {
                id,
                tracking_no: format_tracking_no(tracking_prefix, submitted_at.year(), n),
                author_id: new.author_id,
                registered_by: new.registered_by,
                source: new.source,
                leader_id: new.leader_id,
                category_id: new.category_id,
                kind: new.kind,
                title: new.title.clone(),
                body: new.body.clone(),
                region_code: item.region_code.to_owned(),
                region_path: item.region_path.to_owned(),
                address: new.address.clone(),
                location_lat: new.location.map(|l| l.0),
                location_lon: new.location.map(|l| l.1),
                visibility: new.visibility,
                contact_name: new.contact_name.clone(),
                contact_phone: new.contact_phone.clone(),
                attachments: new.attachments.clone(),
                status: MessageStatus::Submitted,
                priority: None,
                tags: Vec::new(),
                rejection_reason: None,
                rejection_note: None,
                duplicate_of: None,
                intake_unit_id: item.intake_unit_id,
                unit_id: None,
                version: 1,
                event_count: 1,
                chain_head: hash,
                submitted_at,
                accepted_at: None,
                last_activity_at: now,
                return_count: 0,
                replied_at: None,
                feedback_until: None,
                closed_at: None,
                reopen_count: 0,
                external_source: item.external.map(|x| x.source.clone()),
            };
            (message, payload)
        })
        .collect();
    let rows: Vec<MessageRow> = items
        .iter()
        .zip(&stored)
        .map(|(item, (m, _))| MessageRow {
            id: m.id,
            tracking_no: &m.tracking_no,
            author_id: m.author_id,
            registered_by: m.registered_by,
            source: m.source,
            leader_id: m.leader_id,
            category_id: m.category_id,
            kind: m.kind,
            title: &m.title,
            body: &m.body,
            region_code: &m.region_code,
            region_path: &m.region_path,
            address: &m.address,
            location_lat: m.location_lat,
            location_lon: m.location_lon,
            visibility: m.visibility,
            contact_name: m.contact_name.as_deref(),
            contact_phone: m.contact_phone.as_deref(),
            attachments: &m.attachments,
            status: m.status,
            intake_unit_id: m.intake_unit_id,
            search_bigrams: crate::domain::search::bigrams(&format!("{}\n{}", m.title, m.body))
                .into_iter()
                .collect(),
            event_count: m.event_count,
            chain_head: &m.chain_head,
            submitted_at: m.submitted_at,
            last_activity_at: m.last_activity_at,
            external_source: item.external.map(|x| x.source.as_str()),
            external_id: item.external.map(|x| x.external_id.as_str()),
            external_updated_at: item.external.map(|x| ledger::db_time(x.updated_at)),
        })
        .collect();
    let events: Vec<SubmitEventRow> = stored
        .iter()
        .map(|(m, payload)| SubmitEventRow {
            message_id: m.id,
            seq: 1,
            actor_id: actor.id,
            actor_role: actor.role_name(),
            action: MessageAction::Submit.as_str(),
            from_status: None,
            to_status: Some(MessageStatus::Submitted.as_str()),
            payload,
            created_at: now,
            prev_hash: &GENESIS,
            hash: &m.chain_head,
        })
        .collect();
    diesel::copy_from(m::table)
        .from_insertable(&rows)
        .execute(conn)?;
    diesel::copy_from(ev::table)
        .from_insertable(&events)
        .execute(conn)?;
    Ok(stored.into_iter().map(|(m, _)| m).collect())
}
