//! What the database cannot store, refused where input enters: NUL characters (PostgreSQL text
//! cannot hold them) and dates outside RFC 3339's four-digit years (PostgreSQL's range ends
//! earlier than chrono's, and a year like -200000 is no one's real date).

use chrono::{DateTime, Datelike, NaiveDate};

/// The years a date or timestamp may have anywhere in the API (RFC 3339's `date-fullyear`).
pub const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// Why a piece of text cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unstorable {
    Nul,
    DateOutOfRange,
}

impl Unstorable {
    pub fn describe(self) -> &'static str {
        match self {
            Unstorable::Nul => "must not contain NUL characters",
            Unstorable::DateOutOfRange => "must be a date with a four-digit year (0001 to 9999)",
        }
    }
}

/// `Some(why)` when `s` cannot be stored: it holds a NUL, or it is a date or timestamp whose
/// year lies outside [`YEARS`].
pub fn check(s: &str) -> Option<Unstorable> {
    if s.contains('\0') {
        return Some(Unstorable::Nul);
    }
    if may_be_far_date(s) && parsed_year(s).is_some_and(|y| !YEARS.contains(&y)) {
        return Some(Unstorable::DateOutOfRange);
    }
    None
}

/// A cheap look at the shape: a sign, or five or more digits, before the first `-` of a date.
/// Four-digit years are always in range, so anything else needs no parsing.
fn may_be_far_date(s: &str) -> bool {
    let s = s.trim();
    let unsigned = s.strip_prefix(['+', '-']);
    let digits = unsigned.unwrap_or(s);
    let n = digits.bytes().take_while(u8::is_ascii_digit).count();
    n > 0 && digits.as_bytes().get(n) == Some(&b'-') && (unsigned.is_some() || n > 4)
}

fn parsed_year(s: &str) -> Option<i32> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.year());
    }
    if let Ok(t) = s.parse::<DateTime<chrono::Utc>>() {
        return Some(t.year());
    }
    s.parse::<NaiveDate>().ok().map(|d| d.year())
}

/// Whether a JSON text may hold a string [`check`] refuses: a `\u0000` escape, or a string that
/// starts like a far date. False positives are fine (the caller then looks closely), misses
/// are not.
pub fn json_may_hold_unstorable(body: &[u8]) -> bool {
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'\\' => {
                // An escape: `\u0000` is a NUL; skip the escaped character either way.
                if body[i..].starts_with(b"\\u0000") {
                    return true;
                }
                i += 2;
                continue;
            }
            b'"' => {
                let rest = &body[i + 1..];
                let digits = rest
                    .iter()
                    .skip(usize::from(matches!(rest.first(), Some(b'+' | b'-'))));
                let n = digits.take_while(|b| b.is_ascii_digit()).count();
                if n > 0 && (matches!(rest.first(), Some(b'+' | b'-')) || n > 4) {
                    return true;
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// The first string in a JSON value that [`check`] refuses, with its path (`attachments[0].url`,
/// or the key itself when a key is at fault).
pub fn find_in_json(value: &serde_json::Value) -> Option<(String, Unstorable)> {
    fn walk(v: &serde_json::Value, path: &str) -> Option<(String, Unstorable)> {
        match v {
            serde_json::Value::String(s) => check(s).map(|why| (path.to_owned(), why)),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| walk(item, &format!("{path}[{i}]"))),
            serde_json::Value::Object(map) => map.iter().find_map(|(k, item)| {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if k.contains('\0') {
                    return Some((p, Unstorable::Nul));
                }
                walk(item, &p)
            }),
            _ => None,
        }
    }
    walk(value, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_far_dates_are_refused() {
        assert_eq!(check("a\0b"), Some(Unstorable::Nul));
        for far in [
            "-200000-01-01T00:00:00Z",
            "+10000-01-01T00:00:00Z",
            "-0001-12-31",
            "+200000-09-13T00:00:00+08:00",
        ] {
            assert_eq!(check(far), Some(Unstorable::DateOutOfRange), "{far}");
        }
        for fine in [
            "2026-12-07T10:00:00Z",
            "0001-01-01",
            "9999-12-31T23:59:59Z",
            "兰州",
            "-12",
            "12345",
            "GS-2026-000123",
            "-200000-not a date",
        ] {
            assert_eq!(check(fine), None, "{fine}");
        }
    }

    #[test]
    fn the_json_scan_misses_nothing_the_walk_finds() {
        let cases: &[(&str, bool)] = &[
            (r#"{"a":"x\u0000y"}"#, true),
            (r#"{"a":"x\\u0000y"}"#, false), // an escaped backslash, then the text u0000
            (r#"{"since":"-200000-01-01T00:00:00Z"}"#, true),
            (r#"{"since":"2026-01-01T00:00:00Z"}"#, false),
            (r#"{"n":-200000}"#, false),
            (r#"{"\u0000":1}"#, true),
        ];
        for (text, refused) in cases {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(find_in_json(&v).is_some(), *refused, "{text}");
            if *refused {
                assert!(json_may_hold_unstorable(text.as_bytes()), "{text}");
            }
        }
        let v: serde_json::Value =
            serde_json::from_str(r#"{"items":[{"ok":"a"},{"title":"b\u0000"}]}"#).unwrap();
        assert_eq!(
            find_in_json(&v),
            Some(("items[1].title".to_owned(), Unstorable::Nul))
        );
    }
}
