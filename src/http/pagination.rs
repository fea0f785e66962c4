//! Keyset pagination: `limit` (default 20, max 100) and an opaque `cursor` that encodes the sort
//! key of the last item returned. Never OFFSET: page 10,000 costs what page 1 costs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
/// Cursors are small; anything longer is not one of ours.
const MAX_CURSOR_LEN: usize = 512;

/// Decoded page request: how many rows to return and where to continue.
pub struct PageRequest<K> {
    pub limit: i64,
    pub after: Option<K>,
}

impl<K: DeserializeOwned> PageRequest<K> {
    pub fn new(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::field(
                "limit",
                "range",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = cursor
            .filter(|c| !c.is_empty())
            .map(decode_cursor)
            .transpose()?;
        Ok(Self {
            limit: i64::from(limit),
            after,
        })
    }

    /// Rows to fetch: one more than the page, to know whether a next page exists.
    pub fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }
}

pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

fn decode_cursor<K: DeserializeOwned>(cursor: &str) -> Result<K, ApiError> {
    let invalid = || {
        ApiError::field(
            "cursor",
            "invalid_value",
            "is not a cursor this list returned; start without one",
        )
    };
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    // A tampered cursor must not carry what the database cannot compare (a far date, a NUL).
    if crate::domain::input::find_in_json(&value).is_some() {
        return Err(invalid());
    }
    serde_json::from_value(value).map_err(|_| invalid())
}

/// Cut the extra row off and compute the next cursor from the last item kept.
pub fn finish_page<R, K: Serialize>(
    mut rows: Vec<R>,
    limit: i64,
    key_of: impl Fn(&R) -> K,
) -> (Vec<R>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    let next = if has_more {
        rows.last().map(|r| encode_cursor(&key_of(r)))
    } else {
        None
    };
    (rows, next)
}

/// Declare a named page type (`{ items, next_cursor }`) for a DTO, so generated clients get
/// `UnitPage` rather than an anonymous generic.
#[macro_export]
macro_rules! page_type {
    ($page:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub struct $page {
            /// The items of this page, in the list's order.
            #[schema(max_items = 100)]
            pub items: Vec<$item>,
            /// Pass as `cursor` to get the next page; `null` on the last page.
            #[schema(max_length = 512)]
            pub next_cursor: Option<String>,
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let c = encode_cursor(&("兰州", 7));
        let p: PageRequest<(String, i32)> = PageRequest::new(Some(5), Some(&c)).unwrap();
        assert_eq!(p.after, Some(("兰州".to_owned(), 7)));
        assert_eq!(p.fetch_limit(), 6);
    }

    #[test]
    fn bad_limits_and_cursors_are_422() {
        assert!(PageRequest::<i32>::new(Some(0), None).is_err());
        assert!(PageRequest::<i32>::new(Some(101), None).is_err());
        assert!(PageRequest::<i32>::new(None, Some("!!!")).is_err());
        assert!(PageRequest::<i32>::new(None, Some(&"A".repeat(600))).is_err());
        assert!(PageRequest::<i32>::new(None, Some(&encode_cursor(&"text"))).is_err());
        // Well-formed, but with a date PostgreSQL cannot hold.
        let far = encode_cursor(&("-200000-01-01T00:00:00Z", uuid::Uuid::nil()));
        assert!(
            PageRequest::<(chrono::DateTime<chrono::Utc>, uuid::Uuid)>::new(None, Some(&far))
                .is_err()
        );
    }

    #[test]
    fn finishing_a_page() {
        let p: PageRequest<i32> = PageRequest::new(Some(2), None).unwrap();
        let (rows, next) = finish_page(vec![1, 2, 3], p.limit, |r| *r);
        assert_eq!(rows, vec![1, 2]);
        assert_eq!(next, Some(encode_cursor(&2)));
        let (rows, next) = finish_page(vec![1, 2], p.limit, |r| *r);
        assert_eq!(rows, vec![1, 2]);
        assert_eq!(next, None);
    }
}
