//! The liaison platform's messages (`POST /api/v1/sync/messages`): upserts by the platform's
//! key. A new key enters through intake like any other message (one insert for all the new
//! messages of a batch, the throughput path); a newer version of a message still waiting for
//! intake here updates it; a replay changes nothing. Items that are not new (updates, repeats
//! inside the batch, anything the bulk insert trips over) run alone inside a savepoint, so one
//! bad item never takes the good ones with it.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection};

use super::{Intake, References, Submission, submit_with};
use crate::domain::ledger;
use crate::domain::message::MessageStatus;
use crate::error::ApiError;
use crate::store::messages::{ExternalRef, Message, MessageId, NewMessage};
use crate::store::sync::{
    self as store, ImportFields, ImportUpdate, Key, MessageRef, Outcome, owned_by,
};

/// A message of the platform, checked for shape (intake checks its references).
#[derive(Debug, Clone)]
pub struct ImportedMessage {
    /// The platform's key and version of the item.
    pub external: ExternalRef,
    /// `submitted_at` is the platform's submission time (kept).
    pub new: NewMessage,
}

impl ImportedMessage {
    fn key(&self) -> Key {
        (
            self.external.source.clone(),
            self.external.external_id.clone(),
        )
    }

    fn submission(&self) -> Submission<'_> {
        Submission {
            new: &self.new,
            external: Some(&self.external),
        }
    }
}

/// Import a batch of messages (one transaction). Results come back in the items' order.
pub fn import_messages(
    conn: &mut PgConnection,
    intake: &Intake<'_>,
    items: Vec<Result<ImportedMessage, ApiError>>,
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
        let keys: Vec<Key> = owned.iter().map(|(_, v)| v.key()).collect();
        let existing = store::existing_messages(conn, &keys)?;
        let refs = References::load(conn, owned.iter().map(|(_, v)| &v.new))?;
        // The stored messages of the batch, locked (a replayed batch is answered from these
        // without a statement per item).
        let ids: Vec<MessageId> = existing.values().copied().collect();
        let stored = store::lock_imported(conn, &ids)?;
        // First occurrences of new keys go into the bulk insert; the rest run one by one after
        // it, in the batch's order.
        let mut seen: HashSet<Key> = HashSet::new();
        let mut bulk: Vec<(usize, &ImportedMessage)> = Vec::new();
        let mut one_by_one: Vec<(usize, &ImportedMessage)> = Vec::new();
        for (i, item) in &owned {
            let key = item.key();
            let first = seen.insert(key.clone());
            let current = existing.get(&key).and_then(|id| stored.get(id));
            match (first, current) {
                (true, None) => bulk.push((*i, item)),
                (true, Some((msg, version))) => {
                    match compare(&refs, item, msg, *version, intake) {
                        Ok(Some(outcome)) => results[*i] = Some(outcome),
                        // Changed: the update runs on its own.
                        Ok(None) => one_by_one.push((*i, item)),
                        Err(e) => results[*i] = Some(Outcome::Rejected(e)),
                    }
                }
                (false, _) => one_by_one.push((*i, item)),
            }
        }
        if !bulk.is_empty() {
            let submissions: Vec<Submission> = bulk.iter().map(|&(_, v)| v.submission()).collect();
            match conn.transaction(|conn| submit_with(conn, intake, &refs, &submissions)) {
                Ok(taken) => {
                    for ((i, _), r) in bulk.iter().zip(taken) {
                        results[*i] = Some(match r {
                            Ok(s) => Outcome::Created(MessageRef::of(&s.message)),
                            Err(e) => Outcome::Rejected(e),
                        });
                    }
                }
                // Something in the slice (a concurrent import of the same key, most likely):
                // each item alone, so only the one at fault fails.
                Err(_) => {
                    one_by_one.extend(bulk);
                    one_by_one.sort_by_key(|(i, _)| *i);
                }
            }
        }
        for (i, item) in one_by_one {
            results[i] = Some(
                conn.transaction(|conn| import_one(conn, intake, item))
                    .unwrap_or_else(Outcome::Rejected),
            );
        }
        Ok(results
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Outcome::Rejected(ApiError::Internal("lost".into()))))
            .collect())
    })
}

/// An item against its stored message: `stale` or `unchanged` (nothing to write), or `None`
/// when it changes something.
fn compare(
    refs: &References,
    item: &ImportedMessage,
    current: &Message,
    stored_version: Option<DateTime<Utc>>,
    intake: &Intake<'_>,
) -> Result<Option<Outcome<MessageRef>>, ApiError> {
    owned_by(current.registered_by, intake.actor, "the message")?;
    if stored_version.is_some_and(|v| ledger::db_time(item.external.updated_at) < v) {
        return Ok(Some(Outcome::Stale(MessageRef::of(current))));
    }
    // Compared before the references are checked: a replay stays `unchanged` even when its
    // leader or category was deactivated since.
    let region_code = match &item.new.region_code {
        Some(code) => code.clone(),
        None => match refs.leader_region(item.new.leader_id) {
            Some(region) => region.to_owned(),
            None => return Err(ApiError::field("leader_id", "not_found", "no such leader")),
        },
    };
    let wanted = ImportFields::of_item(&item.new, region_code, intake.now);
    if wanted
        .changed(&ImportFields::of_message(current))
        .is_empty()
    {
        return Ok(Some(Outcome::Unchanged(MessageRef::of(current))));
    }
    Ok(None)
}

/// One item on its own: update, or create when it is new after all (a concurrent batch may
/// have created it since the lookup; the unique index decides).
fn import_one(
    conn: &mut PgConnection,
    intake: &Intake<'_>,
    item: &ImportedMessage,
) -> Result<Outcome<MessageRef>, ApiError> {
    let refs = References::load(conn, std::iter::once(&item.new))?;
    let (region_code, region_path, intake_unit_id) = refs.resolve(&item.new, intake.leaders)?;
    let Some((current, stored_version)) = store::lock_by_key(conn, &item.external)? else {
        return match submit_with(conn, intake, &refs, &[item.submission()])?.pop() {
            Some(Ok(s)) => Ok(Outcome::Created(MessageRef::of(&s.message))),
            Some(Err(e)) => Err(e),
            None => Err(ApiError::Internal("created nothing".into())),
        };
    };
    owned_by(current.registered_by, intake.actor, "the message")?;
    let reference = MessageRef::of(&current);
    if stored_version.is_some_and(|v| ledger::db_time(item.external.updated_at) < v) {
        return Ok(Outcome::Stale(reference));
    }
    let wanted = ImportFields::of_item(&item.new, region_code, intake.now);
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
    let update = ImportUpdate {
        fields: &wanted,
        changed: &changed,
        region_path: &region_path,
        intake_unit_id,
        external: &item.external,
    };
    let updated = store::update_imported(conn, &current, &update, intake.actor, intake.now)?;
    // The platform amended a message still waiting for intake: early warning reads it again,
    // as after an author's resubmission.
    crate::store::alerts::evaluate_intake(conn, &updated, intake.now)?;
    Ok(Outcome::Updated(reference))
}
