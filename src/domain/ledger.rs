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

    /// Fixed vectors, computed outside this code (Python's `json.dumps(sort_keys=True,
    /// separators=(',', ':'), ensure_ascii=False)` and `hashlib.sha256`): a change of the
    /// encoding or of the hash breaks every stored chain, and must fail here first.
    #[test]
    fn hashes_match_fixed_sha256_vectors() {
        let message_id: Uuid = "01936f00-0000-7000-8000-00000000a001".parse().unwrap();
        let p1 = json!({"title": "庆阳路红绿灯坏了", "b": [1, 2.5, true, null]});
        let e1 = EventContent {
            message_id,
            seq: 1,
            actor_id: None,
            actor_role: "citizen",
            action: "submit",
            from_status: None,
            to_status: Some("submitted"),
            payload: &p1,
            created_at: "2026-11-23T01:02:03.456789Z".parse().unwrap(),
        };
        assert_eq!(
            canonical(&e1),
            r#"{"action":"submit","actor_id":null,"actor_role":"citizen","created_at":"2026-11-23T01:02:03.456789Z","from_status":null,"message_id":"01936f00-0000-7000-8000-00000000a001","payload":{"b":[1,2.5,true,null],"title":"庆阳路红绿灯坏了"},"seq":1,"to_status":"submitted"}"#
        );
        let h1 = event_hash(&GENESIS, &e1);
        assert_eq!(
            hex::encode(&h1),
            "626b6f14d5cbea4dfa1d8964e039a3f6eac7094494fa7e38bb50c4f35e26a585"
        );
        let p2 = json!({"note": "受理 \"急\"\n"});
        let e2 = EventContent {
            message_id,
            seq: 2,
            actor_id: Some("01936f00-0000-7000-8000-0000000000b2".parse().unwrap()),
            actor_role: "handler",
            action: "accept",
            from_status: Some("submitted"),
            to_status: Some("accepted"),
            payload: &p2,
            created_at: "2026-11-23T01:05:00Z".parse().unwrap(),
        };
        assert_eq!(
            hex::encode(event_hash(&h1, &e2)),
            "624a3daa7ec807abf66b4404eb8eba96cdff6e0adfc9b74560cf39cff7121679"
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
