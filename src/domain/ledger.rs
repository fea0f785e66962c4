//! The tamper-evident ledger: each event of a message carries the SHA-256 of the previous event
//! of the same message, chained over a canonical encoding, so editing or deleting any event
//! breaks every hash after it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The hash before the first event of a message.
pub const GENESIS: [u8; 32] = [0; 32];

/// The fields of an event that the hash covers.
pub struct EventContent<'a> {
    pub message_id: Uuid,
    pub seq: i32,
    pub actor_id: Option<Uuid>,
    pub actor_role: &'a str,
    pub action: &'a str,
    pub from_status: Option<&'a str>,
    pub to_status: Option<&'a str>,
    pub payload: &'a Value,
    pub created_at: DateTime<Utc>,
}

/// Canonical encoding: JSON with sorted keys (serde_json's map is ordered), timestamps in
/// RFC 3339 UTC with microseconds (PostgreSQL's precision).
pub fn canonical(e: &EventContent<'_>) -> String {
    json!({
        "message_id": e.message_id,
        "seq": e.seq,
        "actor_id": e.actor_id,
        "actor_role": e.actor_role,
        "action": e.action,
        "from_status": e.from_status,
        "to_status": e.to_status,
        "payload": e.payload,
        "created_at": e.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
    })
    .to_string()
}

pub fn event_hash(prev: &[u8], e: &EventContent<'_>) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(canonical(e).as_bytes());
    h.finalize().to_vec()
}

/// Truncate to what PostgreSQL stores, so the hash computed before insert matches the row.
pub fn db_time(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// Where a chain breaks.
#[derive(Debug, PartialEq, Eq)]
pub struct Break {
    pub seq: i32,
    pub reason: &'static str,
}

/// Check a message's events in order: sequence numbers 1, 2, 3…, each `prev_hash` equal to the
/// previous `hash`, each `hash` equal to the recomputation.
pub fn verify<'a>(
    events: impl IntoIterator<Item = (EventContent<'a>, &'a [u8], &'a [u8])>,
) -> Result<usize, Break> {
    let mut prev: Vec<u8> = GENESIS.to_vec();
    let mut n = 0;
    for (content, prev_hash, hash) in events {
        n += 1;
        let expected_seq = i32::try_from(n).unwrap_or(i32::MAX);
        if content.seq != expected_seq {
            return Err(Break {
                seq: content.seq,
                reason: "an event is missing before this one",
            });
        }
        if prev_hash != prev.as_slice() {
            return Err(Break {
                seq: content.seq,
                reason: "prev_hash does not match the previous event",
            });
        }
        let recomputed = event_hash(prev_hash, &content);
        if recomputed != hash {
            return Err(Break {
                seq: content.seq,
                reason: "the event's content does not match its hash",
            });
        }
        prev = recomputed;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(seq: i32, payload: &Value, at: DateTime<Utc>) -> EventContent<'_> {
        EventContent {
            message_id: Uuid::nil(),
            seq,
            actor_id: None,
            actor_role: "citizen",
            action: "submit",
            from_status: None,
            to_status: Some("submitted"),
            payload,
            created_at: at,
        }
    }

    #[test]
    fn a_chain_verifies_and_any_edit_breaks_it() {
        let at = db_time(Utc::now());
        let p1 = json!({"title": "红绿灯坏了"});
        let p2 = json!({"b": 1, "a": [1, 2]});
        let h1 = event_hash(&GENESIS, &content(1, &p1, at));
        let h2 = event_hash(&h1, &content(2, &p2, at));
        let ok = verify([
            (content(1, &p1, at), &GENESIS[..], &h1[..]),
            (content(2, &p2, at), &h1[..], &h2[..]),
        ]);
        assert_eq!(ok, Ok(2));

        let edited = json!({"title": "红绿灯修好了"});
        let bad = verify([
            (content(1, &edited, at), &GENESIS[..], &h1[..]),
            (content(2, &p2, at), &h1[..], &h2[..]),
        ]);
        assert_eq!(bad.unwrap_err().seq, 1);

        let gap = verify([(content(2, &p2, at), &h1[..], &h2[..])]);
        assert_eq!(
            gap.unwrap_err().reason,
            "an event is missing before this one"
        );
    }

    #[test]
    fn key_order_does_not_matter_but_values_do() {
        let at = db_time(Utc::now());
        let a: Value = serde_json::from_str(r#"{"x":1,"y":"二"}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"y":"二","x":1}"#).unwrap();
        assert_eq!(
            canonical(&content(1, &a, at)),
            canonical(&content(1, &b, at))
        );
        let c: Value = serde_json::from_str(r#"{"y":"二","x":2}"#).unwrap();
        assert_ne!(
            canonical(&content(1, &a, at)),
            canonical(&content(1, &c, at))
        );
    }
}
