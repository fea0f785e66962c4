//! Webhook subscriptions, the outbox of deliveries (filled by the `webhook_enqueue` trigger of
//! migration 000011, in the event's own transaction) and the attempts' log; the dispatcher's
//! claims (`FOR UPDATE SKIP LOCKED` leases) and outcomes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Int4, Jsonb, Nullable, Text};
use rand::RngCore;
use uuid::Uuid;

use crate::domain::change_type::ChangeType;
pub use crate::domain::webhooks::DeliveryStatus;
use crate::domain::webhooks::{SECRET_BYTES, encode_secret};
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::http::preconditions::IfMatchCondition;
use crate::schema::{
    webhook_attempts as wa, webhook_deliveries as wd, webhook_subscriptions as ws,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ws)]
pub struct Subscription {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub secret: String,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Subscription {
    pub fn event_types(&self) -> Vec<ChangeType> {
        let mut t: Vec<ChangeType> = self
            .event_types
            .iter()
            .filter_map(|s| ChangeType::parse(s))
            .collect();
        t.sort();
        t
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = wd)]
pub struct Delivery {
    pub id: String,
    pub subscription_id: Uuid,
    pub event_id: i64,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = wa)]
pub struct Attempt {
    pub n: i32,
    pub at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

/// A new random secret, shown once.
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    encode_secret(&bytes)
}

fn type_texts(types: &[ChangeType]) -> Vec<String> {
    let mut t: Vec<ChangeType> = types.to_vec();
    t.sort();
    t.dedup();
    t.iter().map(|t| t.as_str().to_owned()).collect()
}

pub fn create(
    conn: &mut PgConnection,
    owner: Uuid,
    url: &str,
    types: &[ChangeType],
    active: bool,
    at: DateTime<Utc>,
) -> Result<Subscription, ApiError> {
    Ok(diesel::insert_into(ws::table)
        .values((
            ws::id.eq(Uuid::now_v7()),
            ws::owner_id.eq(owner),
            ws::url.eq(url),
            ws::event_types.eq(type_texts(types)),
            ws::secret.eq(new_secret()),
            ws::active.eq(active),
            ws::created_at.eq(at),
            ws::updated_at.eq(at),
        ))
        .returning(Subscription::as_returning())
        .get_result(conn)?)
}

/// Whose subscriptions a reader sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readable {
    /// An integration client: its own only.
    OwnedBy(Uuid),
    /// An administrator: every client's.
    All,
}

/// A subscription the reader may see (another owner's is "not found" to a client: its
/// existence is not revealed).
pub fn get(conn: &mut PgConnection, reader: Readable, id: Uuid) -> Result<Subscription, ApiError> {
    let mut q = ws::table
        .find(id)
        .select(Subscription::as_select())
        .into_boxed();
    if let Readable::OwnedBy(owner) = reader {
        q = q.filter(ws::owner_id.eq(owner));
    }
    q.first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("webhook subscription"))
}

fn lock(conn: &mut PgConnection, owner: Uuid, id: Uuid) -> Result<Subscription, ApiError> {
    ws::table
        .find(id)
        .filter(ws::owner_id.eq(owner))
        .for_update()
        .select(Subscription::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("webhook subscription"))
}

/// The subscriptions the reader may see, optionally of one owner only, newest first,
/// keyset-paged by (created_at, id).
pub fn list(
    conn: &mut PgConnection,
    reader: Readable,
    owner: Option<Uuid>,
    page: &PageRequest<(DateTime<Utc>, Uuid)>,
) -> Result<Vec<Subscription>, ApiError> {
    let mut q = ws::table
        .select(Subscription::as_select())
        .order((ws::created_at.desc(), ws::id.desc()))
        .limit(page.fetch_limit())
        .into_boxed();
    if let Readable::OwnedBy(me) = reader {
        q = q.filter(ws::owner_id.eq(me));
    }
    if let Some(owner) = owner {
        q = q.filter(ws::owner_id.eq(owner));
    }
    if let Some((at, id)) = page.after {
        q = q.filter(
            ws::created_at
                .lt(at)
                .or(ws::created_at.eq(at).and(ws::id.lt(id))),
        );
    }
    Ok(q.load(conn)?)
}

/// Changes to a subscription (`None` = unchanged).
#[derive(Debug, Default)]
pub struct SubscriptionChanges {
    pub url: Option<String>,
    pub event_types: Option<Vec<ChangeType>>,
    pub active: Option<bool>,
}

pub fn update(
    conn: &mut PgConnection,
    owner: Uuid,
    id: Uuid,
    changes: &SubscriptionChanges,
    cond: &IfMatchCondition,
    at: DateTime<Utc>,
) -> Result<Subscription, ApiError> {
    conn.transaction(|conn| {
        let current = lock(conn, owner, id)?;
        cond.check(current.version)?;
        Ok(diesel::update(ws::table.find(id))
            .set((
                ws::url.eq(changes.url.clone().unwrap_or(current.url)),
                ws::event_types.eq(changes
                    .event_types
                    .as_deref()
                    .map(type_texts)
                    .unwrap_or(current.event_types)),
                ws::active.eq(changes.active.unwrap_or(current.active)),
                ws::updated_at.eq(at),
                ws::version.eq(ws::version + 1),
            ))
            .returning(Subscription::as_returning())
            .get_result(conn)?)
    })
}

/// Replace the secret; deliveries sent from now on are signed with the new one.
pub fn rotate_secret(
    conn: &mut PgConnection,
    owner: Uuid,
    id: Uuid,
    cond: &IfMatchCondition,
    at: DateTime<Utc>,
) -> Result<Subscription, ApiError> {
    conn.transaction(|conn| {
        let current = lock(conn, owner, id)?;
        cond.check(current.version)?;
        Ok(diesel::update(ws::table.find(id))
            .set((
                ws::secret.eq(new_secret()),
                ws::updated_at.eq(at),
                ws::version.eq(ws::version + 1),
            ))
            .returning(Subscription::as_returning())
            .get_result(conn)?)
    })
}

/// Delete a subscription with its deliveries and their log.
pub fn delete(conn: &mut PgConnection, owner: Uuid, id: Uuid) -> Result<(), ApiError> {
    let n = diesel::delete(ws::table.find(id).filter(ws::owner_id.eq(owner))).execute(conn)?;
    if n == 0 {
        return Err(ApiError::not_found("webhook subscription"));
    }
    Ok(())
}

/// A subscription's deliveries, newest first, keyset-paged by (created_at, id).
pub fn list_deliveries(
    conn: &mut PgConnection,
    reader: Readable,
    subscription: Uuid,
    status: Option<DeliveryStatus>,
    page: &PageRequest<(DateTime<Utc>, String)>,
) -> Result<Vec<Delivery>, ApiError> {
    get(conn, reader, subscription)?;
    let mut q = wd::table
        .filter(wd::subscription_id.eq(subscription))
        .select(Delivery::as_select())
        .order((wd::created_at.desc(), wd::id.desc()))
        .limit(page.fetch_limit())
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(wd::status.eq(s.as_str()));
    }
    if let Some((at, id)) = &page.after {
        q = q.filter(
            wd::created_at
                .lt(*at)
                .or(wd::created_at.eq(*at).and(wd::id.lt(id.clone()))),
        );
    }
    Ok(q.load(conn)?)
}

fn find_delivery(
    conn: &mut PgConnection,
    reader: Readable,
    subscription: Uuid,
    id: &str,
) -> Result<Delivery, ApiError> {
    get(conn, reader, subscription)?;
    wd::table
        .find(id)
        .filter(wd::subscription_id.eq(subscription))
        .select(Delivery::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("webhook delivery"))
}

/// A delivery with its attempts, oldest first.
pub fn get_delivery(
    conn: &mut PgConnection,
    reader: Readable,
    subscription: Uuid,
    id: &str,
) -> Result<(Delivery, Vec<Attempt>), ApiError> {
    let d = find_delivery(conn, reader, subscription, id)?;
    let attempts = wa::table
        .filter(wa::delivery_id.eq(id))
        .order(wa::n.asc())
        .select(Attempt::as_select())
        .load(conn)?;
    Ok((d, attempts))
}

/// Queue a delivery again, now, with the full retry schedule and the same `webhook-id`.
/// 409 while a dispatcher is sending it.
pub fn redeliver(
    conn: &mut PgConnection,
    owner: Uuid,
    subscription: Uuid,
    id: &str,
) -> Result<Delivery, ApiError> {
    conn.transaction(|conn| {
        find_delivery(conn, Readable::OwnedBy(owner), subscription, id)?;
        let updated = diesel::update(
            wd::table
                .find(id)
                .filter(wd::status.ne(DeliveryStatus::Delivering.as_str())),
        )
        .set((
            wd::status.eq(DeliveryStatus::Pending.as_str()),
            wd::schedule_from.eq(wd::attempts),
            wd::next_attempt_at.eq(diesel::dsl::now),
            wd::lease_until.eq(None::<DateTime<Utc>>),
        ))
        .returning(Delivery::as_returning())
        .get_result(conn)
        .optional()?;
        updated.ok_or_else(|| {
            ApiError::Conflict(
                "the delivery is being sent right now; look at its outcome and try again".into(),
            )
        })
    })
}

/// A delivery claimed by a dispatcher: what it needs to send it.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = Text)]
    pub id: String,
    /// The number of this attempt (1 = first).
    #[diesel(sql_type = Int4)]
    pub attempt: i32,
    /// Attempts since the schedule (re)started, this one included.
    #[diesel(sql_type = Int4)]
    pub scheduled_attempt: i32,
    #[diesel(sql_type = Jsonb)]
    pub payload: serde_json::Value,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Text)]
    pub secret: String,
}

/// Claim up to `limit` due deliveries (pending and due, or `delivering` with an expired lease:
/// a dispatcher that died) of active subscriptions of active clients: they become `delivering`, leased for
/// `lease_secs`, and their attempt counter moves on. Rows another dispatcher is claiming are
/// skipped (`SKIP LOCKED`), so no two dispatchers ever claim the same attempt. Deliveries of a
/// deactivated client (or subscription) are held, not sent: a client switched off because its
/// secret leaked must stop receiving at once, and gets the backlog if it is switched on again.
pub fn claim(
    conn: &mut PgConnection,
    limit: i64,
    lease_secs: i64,
) -> Result<Vec<Claimed>, ApiError> {
    Ok(diesel::sql_query(
        "WITH due AS ( \
             SELECT q.id FROM webhook_deliveries q JOIN webhook_subscriptions qs \
               ON qs.id = q.subscription_id AND qs.active \
             JOIN users qu ON qu.id = qs.owner_id AND qu.active \
             WHERE q.status = 'pending' AND q.next_attempt_at <= clock_timestamp() \
             ORDER BY q.next_attempt_at LIMIT $1 FOR UPDATE OF q SKIP LOCKED), \
         stale AS ( \
             SELECT q.id FROM webhook_deliveries q JOIN webhook_subscriptions qs \
               ON qs.id = q.subscription_id AND qs.active \
             JOIN users qu ON qu.id = qs.owner_id AND qu.active \
             WHERE q.status = 'delivering' AND q.lease_until < clock_timestamp() \
             ORDER BY q.lease_until LIMIT $1 FOR UPDATE OF q SKIP LOCKED) \
         UPDATE webhook_deliveries d \
         SET status = 'delivering', attempts = d.attempts + 1, \
             lease_until = clock_timestamp() + make_interval(secs => $2) \
         FROM webhook_subscriptions s \
         WHERE s.id = d.subscription_id \
           AND d.id IN (SELECT id FROM due UNION ALL SELECT id FROM stale) \
         RETURNING d.id, d.attempts AS attempt, d.attempts - d.schedule_from AS scheduled_attempt, \
                   d.payload, s.url, s.secret",
    )
    .bind::<BigInt, _>(limit)
    .bind::<diesel::sql_types::Double, _>(lease_secs as f64)
    .load(conn)?)
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub delivery_id: String,
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
    /// 2xx.
    pub delivered: bool,
    /// When not delivered: the wait before the next attempt, or `None` to give up.
    pub retry_in: Option<std::time::Duration>,
}

/// Log the attempt and move the delivery on, unless it is no longer this attempt's (its lease
/// ran out and another dispatcher claimed it since): then only the log gets the line. Returns
/// whether the delivery was updated.
pub fn record(conn: &mut PgConnection, o: &Outcome) -> Result<bool, ApiError> {
    conn.transaction(|conn| {
        diesel::insert_into(wa::table)
            .values((
                wa::delivery_id.eq(&o.delivery_id),
                wa::n.eq(o.attempt),
                wa::at.eq(o.at),
                wa::status_code.eq(o.status_code),
                wa::error.eq(&o.error),
                wa::duration_ms.eq(o.duration_ms.max(0)),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
        let (status, retry_secs) = if o.delivered {
            (DeliveryStatus::Delivered, 0.0)
        } else if let Some(d) = o.retry_in {
            (DeliveryStatus::Pending, d.as_secs_f64())
        } else {
            (DeliveryStatus::Failed, 0.0)
        };
        let n = diesel::sql_query(
            "UPDATE webhook_deliveries SET status = $3, lease_until = NULL, \
                 last_status = $4, last_error = $5, \
                 next_attempt_at = CASE WHEN $3 = 'pending' \
                     THEN clock_timestamp() + make_interval(secs => $6) ELSE next_attempt_at END, \
                 delivered_at = CASE WHEN $3 = 'delivered' THEN clock_timestamp() END \
             WHERE id = $1 AND attempts = $2 AND status = 'delivering'",
        )
        .bind::<Text, _>(&o.delivery_id)
        .bind::<Int4, _>(o.attempt)
        .bind::<Text, _>(status.as_str())
        .bind::<Nullable<Int4>, _>(o.status_code)
        .bind::<Nullable<Text>, _>(&o.error)
        .bind::<diesel::sql_types::Double, _>(retry_secs)
        .execute(conn)?;
        Ok(n == 1)
    })
}
