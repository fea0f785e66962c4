//! The kinds of change the sync API publishes (change feed and webhooks). Every ledger event is
//! exactly one of them; the database computes it at insert (`feed_event_type` in migration
//! 000010) and [`ChangeType::of_event`] is the same rule, checked against it in the tests.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A kind of change, as the change feed and webhooks name it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum ChangeType {
    /// A message was submitted, registered or imported.
    #[serde(rename = "message.created")]
    MessageCreated,
    /// A message changed without changing its status (classified, amended by an import,
    /// supervised, instructed, a deadline alarm, a reply drafted or reviewed…).
    #[serde(rename = "message.updated")]
    MessageUpdated,
    /// A message's status changed.
    #[serde(rename = "message.status_changed")]
    MessageStatusChanged,
    /// A reply (interim or final) was published here: the board should show it.
    #[serde(rename = "reply.published")]
    ReplyPublished,
    /// A reply written on the external platform was imported or updated.
    #[serde(rename = "reply.imported")]
    ReplyImported,
    /// The board acknowledged a published reply (its id and URL there).
    #[serde(rename = "reply.acknowledged")]
    ReplyAcknowledged,
    /// The author rated a final reply.
    #[serde(rename = "feedback.received")]
    FeedbackReceived,
}

impl ChangeType {
    pub const ALL: &'static [ChangeType] = &[
        ChangeType::MessageCreated,
        ChangeType::MessageUpdated,
        ChangeType::MessageStatusChanged,
        ChangeType::ReplyPublished,
        ChangeType::ReplyImported,
        ChangeType::ReplyAcknowledged,
        ChangeType::FeedbackReceived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::MessageCreated => "message.created",
            ChangeType::MessageUpdated => "message.updated",
            ChangeType::MessageStatusChanged => "message.status_changed",
            ChangeType::ReplyPublished => "reply.published",
            ChangeType::ReplyImported => "reply.imported",
            ChangeType::ReplyAcknowledged => "reply.acknowledged",
            ChangeType::FeedbackReceived => "feedback.received",
        }
    }

    pub fn parse(s: &str) -> Option<ChangeType> {
        ChangeType::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// The kind of change a ledger event is (the rule `feed_event_type` applies in SQL).
    pub fn of_event(action: &str, from_status: Option<&str>, to_status: Option<&str>) -> Self {
        match action {
            "submit" => ChangeType::MessageCreated,
            "publish_reply" | "publish_interim_reply" => ChangeType::ReplyPublished,
            "import_reply" => ChangeType::ReplyImported,
            "acknowledge_reply" => ChangeType::ReplyAcknowledged,
            "rate" => ChangeType::FeedbackReceived,
            _ if from_status != to_status => ChangeType::MessageStatusChanged,
            _ => ChangeType::MessageUpdated,
        }
    }

    /// Parse a comma-separated list (`types=reply.published,message.status_changed`); the
    /// error names the first unknown entry.
    pub fn parse_list(list: &str) -> Result<Vec<ChangeType>, String> {
        let mut out = Vec::new();
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let t = ChangeType::parse(part).ok_or_else(|| part.to_owned())?;
            if !out.contains(&t) {
                out.push(t);
            }
        }
        Ok(out)
    }
}

impl std::fmt::Display for ChangeType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for t in ChangeType::ALL {
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::json!(t.as_str())
            );
            assert_eq!(ChangeType::parse(t.as_str()), Some(*t));
        }
    }

    #[test]
    fn events_map_to_one_kind() {
        use ChangeType::*;
        assert_eq!(
            ChangeType::of_event("submit", None, Some("submitted")),
            MessageCreated
        );
        assert_eq!(
            ChangeType::of_event("publish_reply", Some("in_progress"), Some("replied")),
            ReplyPublished
        );
        assert_eq!(
            ChangeType::of_event("accept", Some("submitted"), Some("accepted")),
            MessageStatusChanged
        );
        assert_eq!(
            ChangeType::of_event("classify", Some("submitted"), Some("submitted")),
            MessageUpdated
        );
        assert_eq!(
            ChangeType::of_event("rate", Some("replied"), Some("replied")),
            FeedbackReceived
        );
    }

    #[test]
    fn lists_parse_and_name_the_unknown_entry() {
        assert_eq!(
            ChangeType::parse_list("reply.published, message.created,reply.published"),
            Ok(vec![ChangeType::ReplyPublished, ChangeType::MessageCreated])
        );
        assert_eq!(
            ChangeType::parse_list("reply.published,nope"),
            Err("nope".into())
        );
        assert_eq!(ChangeType::parse_list(""), Ok(vec![]));
    }
}
