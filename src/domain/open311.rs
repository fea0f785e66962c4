//! Open311 GeoReport v2: the pure rules of the facade at `/open311/v2` (how our statuses,
//! messages and form fields map to the spec's).

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::message::{MessageKind, MessageStatus};

/// GeoReport v2 limits a request's description to 4,000 characters.
pub const DESCRIPTION_MAX: usize = 4000;
/// Our messages need a body of at least 10 characters.
pub const DESCRIPTION_MIN: usize = 10;
/// Titles derived from the description are cut at this many characters (an ellipsis follows).
pub const DERIVED_TITLE_MAX: usize = 40;
/// `address_string` is stored as the message's address (at most 200 characters).
pub const ADDRESS_MAX: usize = 200;
/// Page size of the GET lists: default and the server's cap (the spec lets servers cap).
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;
/// GeoReport v2: a date range of `GET requests` may not span more than 90 days; without one
/// the last 90 days are searched.
pub const MAX_RANGE_DAYS: i64 = 90;
/// At most this many ids in one `service_request_id` list.
pub const MAX_IDS: usize = 200;

/// Open311's two statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open311Status {
    Open,
    Closed,
}

impl Open311Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Open311Status::Open => "open",
            Open311Status::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "open" => Some(Open311Status::Open),
            "closed" => Some(Open311Status::Closed),
            _ => None,
        }
    }
}

/// Our status as Open311 sees it. A published final reply (`replied`) is `closed`: it is the
/// answer (办结), which is what Open311 clients wait for to tell the reporter "done"; if the
/// author's rating reopens the message it goes back to `open`, a transition Open311 clients
/// handle. Rejected and withdrawn messages are `closed` too (never on the public board, so only
/// for completeness).
pub fn status_of(s: MessageStatus) -> Open311Status {
    match s {
        MessageStatus::Replied
        | MessageStatus::Closed
        | MessageStatus::Rejected
        | MessageStatus::Withdrawn => Open311Status::Closed,
        MessageStatus::Submitted
        | MessageStatus::Accepted
        | MessageStatus::Assigned
        | MessageStatus::InProgress
        | MessageStatus::AwaitingClarification => Open311Status::Open,
    }
}

/// The `status_notes` of a request that has no published final reply: what our status means.
pub fn status_note(s: MessageStatus) -> &'static str {
    match s {
        MessageStatus::Submitted => "待受理 (submitted, waiting for the liaison office)",
        MessageStatus::Accepted => "已受理 (accepted for handling)",
        MessageStatus::Assigned => "已交办 (assigned to the responsible unit)",
        MessageStatus::InProgress => "办理中 (the responsible unit is working on it)",
        MessageStatus::AwaitingClarification => {
            "待补充 (waiting for the reporter to clarify; the reply clock is paused)"
        }
        MessageStatus::Replied => "已答复 (answered)",
        MessageStatus::Closed => "已办结 (closed)",
        MessageStatus::Rejected => "不予受理 (not accepted)",
        MessageStatus::Withdrawn => "已撤回 (withdrawn)",
    }
}

/// Whether a message was filed through the Open311 facade: a `web` message registered by an
/// account (an integration client) rather than written by a citizen's own account, and not
/// imported from the liaison platform by the sync API (those are the board's messages). Staff
/// register `phone`, `letter` or `visit` messages, citizens are their messages' authors.
/// Only such messages show their address and location in Open311: the reporter gave them for
/// a public report. The public board hides them for every other message (they may be the
/// author's home).
pub fn filed_through_open311(
    source: crate::domain::message::MessageSource,
    has_author: bool,
    registered: bool,
    imported: bool,
) -> bool {
    source == crate::domain::message::MessageSource::Web && !has_author && registered && !imported
}

/// The message kind an Open311 request files as when `attribute[kind]` is absent: a report of
/// something to put right is a request for help (求助).
pub const DEFAULT_KIND: MessageKind = MessageKind::HelpRequest;

/// Chinese names of the kinds (the `kind` attribute's values).
pub fn kind_name(k: MessageKind) -> &'static str {
    match k {
        MessageKind::Consultation => "咨询",
        MessageKind::Suggestion => "建议",
        MessageKind::Complaint => "投诉",
        MessageKind::HelpRequest => "求助",
    }
}

/// A title for a message filed through Open311, which has none: the description's first
/// non-empty line, cut at [`DERIVED_TITLE_MAX`] characters with an ellipsis. `None` when the
/// description has fewer than two visible characters on that line.
pub fn derive_title(description: &str) -> Option<String> {
    let line = description
        .lines()
        .map(|l| {
            l.chars()
                .filter(|c| !c.is_control())
                .collect::<String>()
                .trim()
                .to_owned()
        })
        .find(|l| !l.is_empty())?;
    let n = line.chars().count();
    if n < 2 {
        return None;
    }
    if n <= DERIVED_TITLE_MAX {
        return Some(line);
    }
    let cut: String = line.chars().take(DERIVED_TITLE_MAX).collect();
    Some(format!("{}…", cut.trim_end()))
}

/// The contact name from `first_name` and `last_name`: Chinese names are family name first
/// without a space (`last_name` 张 + `first_name` 三 = 张三), others "first last".
pub fn contact_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    let first = first.map(str::trim).filter(|s| !s.is_empty());
    let last = last.map(str::trim).filter(|s| !s.is_empty());
    let name = match (first, last) {
        (None, None) => return None,
        (Some(f), None) => f.to_owned(),
        (None, Some(l)) => l.to_owned(),
        (Some(f), Some(l)) => {
            if f.chars().chain(l.chars()).any(is_cjk) {
                format!("{l}{f}")
            } else {
                format!("{f} {l}")
            }
        }
    };
    Some(name)
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}')
}

/// A date-time in the W3C profile of ISO 8601 the spec uses (`2010-05-24T00:00:00Z`,
/// `…-08:00`), or a bare date (midnight UTC).
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if crate::domain::input::check(s).is_some() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// `lat` and `long` as the form sends them: both or neither, decimal degrees in range.
pub fn parse_location(lat: Option<&str>, long: Option<&str>) -> Result<Option<(f64, f64)>, String> {
    let lat = lat.map(str::trim).filter(|s| !s.is_empty());
    let long = long.map(str::trim).filter(|s| !s.is_empty());
    match (lat, long) {
        (None, None) => Ok(None),
        (Some(_), None) | (None, Some(_)) => Err("lat and long must be sent together".into()),
        (Some(a), Some(o)) => {
            for (name, v) in [("lat", a), ("long", o)] {
                if !is_decimal(v) {
                    return Err(format!("{name} `{v}` is not a number in decimal degrees"));
                }
            }
            let a: f64 = a
                .parse()
                .map_err(|_| format!("lat `{a}` is not a number"))?;
            let o: f64 = o
                .parse()
                .map_err(|_| format!("long `{o}` is not a number"))?;
            if !a.is_finite() || !(-90.0..=90.0).contains(&a) {
                return Err("lat must be between -90 and 90".into());
            }
            if !o.is_finite() || !(-180.0..=180.0).contains(&o) {
                return Err("long must be between -180 and 180".into());
            }
            Ok(Some((a, o)))
        }
    }
}

/// `[+-]ddd[.ddd…]`: at most three integer digits, at most 20 decimals.
fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    (1..=3).contains(&int.len())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| (1..=20).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()))
}

/// The attachment media type of a `media_url`, from its file extension (query and fragment
/// ignored); `None` for a URL that is not `https://` or a type we do not take.
pub fn media_type_of(url: &str) -> Option<&'static str> {
    let rest = url.strip_prefix("https://")?;
    if rest.is_empty()
        || rest.starts_with('/')
        || rest
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '[' || c == ']')
    {
        return None;
    }
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    let ext = path.rsplit_once('.')?.1;
    // One case throughout (`jpg` or `JPG`).
    if ext != ext.to_ascii_lowercase() && ext != ext.to_ascii_uppercase() {
        return None;
    }
    let ext = ext.to_ascii_lowercase();
    Some(match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_open_and_closed() {
        use MessageStatus::*;
        for s in [
            Submitted,
            Accepted,
            Assigned,
            InProgress,
            AwaitingClarification,
        ] {
            assert_eq!(status_of(s), Open311Status::Open, "{s:?}");
        }
        for s in [Replied, Closed, Rejected, Withdrawn] {
            assert_eq!(status_of(s), Open311Status::Closed, "{s:?}");
        }
        assert_eq!(Open311Status::parse(" Closed"), Some(Open311Status::Closed));
        assert_eq!(Open311Status::parse("fixed"), None);
    }

    #[test]
    fn only_requests_filed_here_show_where_they_are() {
        use crate::domain::message::MessageSource::*;
        assert!(filed_through_open311(Web, false, true, false));
        assert!(!filed_through_open311(Web, true, false, false));
        assert!(!filed_through_open311(Phone, false, true, false));
        assert!(!filed_through_open311(Web, false, true, true));
    }

    #[test]
    fn titles_come_from_the_first_line() {
        assert_eq!(
            derive_title("\n  路灯不亮  \n详细情况如下").as_deref(),
            Some("路灯不亮")
        );
        let long = "一".repeat(60);
        let t = derive_title(&long).unwrap();
        assert_eq!(t.chars().count(), DERIVED_TITLE_MAX + 1);
        assert!(t.ends_with('…'));
        assert_eq!(derive_title("a\nbbbbbbbbbbbb"), None);
        assert_eq!(derive_title("   "), None);
    }

    #[test]
    fn names_join_by_script() {
        assert_eq!(
            contact_name(Some("三"), Some("张")).as_deref(),
            Some("张三")
        );
        assert_eq!(
            contact_name(Some("John"), Some("Smith")).as_deref(),
            Some("John Smith")
        );
        assert_eq!(contact_name(Some(" "), None), None);
        assert_eq!(contact_name(None, Some("王")).as_deref(), Some("王"));
    }

    #[test]
    fn dates_in_w3c_format() {
        assert_eq!(
            parse_datetime("2010-05-24T00:00:00-08:00").unwrap(),
            "2010-05-24T08:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(parse_datetime("2010-05-24").is_some());
        assert!(parse_datetime("yesterday").is_none());
    }

    #[test]
    fn locations_are_checked() {
        assert_eq!(
            parse_location(Some("36.06"), Some("103.83")),
            Ok(Some((36.06, 103.83)))
        );
        assert_eq!(parse_location(None, Some("")), Ok(None));
        assert!(parse_location(Some("91"), Some("0")).is_err());
        assert!(parse_location(Some("0"), Some("-181")).is_err());
        assert!(parse_location(Some("abc"), Some("0")).is_err());
        assert!(parse_location(Some("NaN"), Some("0")).is_err());
        assert!(parse_location(Some("1e1"), Some("0")).is_err());
        assert!(parse_location(Some("+1.5"), Some("-0.25")).is_ok());
        assert!(parse_location(Some("1"), None).is_err());
    }

    #[test]
    fn media_types_by_extension() {
        assert_eq!(
            media_type_of("https://city.gov/m/1.JPG?x=1"),
            Some("image/jpeg")
        );
        assert_eq!(media_type_of("http://city.gov/m/1.jpg"), None);
        assert_eq!(media_type_of("https://city.gov/m/1.exe"), None);
        assert_eq!(media_type_of("https://city.gov/m/1.Jpg"), None);
        assert_eq!(media_type_of("https:///1.png"), None);
    }
}
