//! OAuth 2.0 scopes of integration clients: what a machine client may do.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A scope an integration client can be granted.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum ClientScope {
    /// Read the change feed and the sync state.
    #[serde(rename = "sync:read")]
    SyncRead,
    /// Import messages and replies, acknowledge published replies.
    #[serde(rename = "sync:write")]
    SyncWrite,
    /// Manage webhook subscriptions.
    #[serde(rename = "webhooks:manage")]
    WebhooksManage,
    /// Data class: the author's personal data and texts as written (unmasked), private
    /// messages too, in the change feed and webhook payloads.
    #[serde(rename = "sync:personal")]
    SyncPersonal,
    /// Data class: internal working content (review comments, supervision and leader
    /// instructions, visit plans, alerts, routing notes) in the change feed and webhooks.
    #[serde(rename = "sync:internal")]
    SyncInternal,
}

impl ClientScope {
    pub const ALL: &'static [ClientScope] = &[
        ClientScope::SyncRead,
        ClientScope::SyncWrite,
        ClientScope::WebhooksManage,
        ClientScope::SyncPersonal,
        ClientScope::SyncInternal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClientScope::SyncRead => "sync:read",
            ClientScope::SyncWrite => "sync:write",
            ClientScope::WebhooksManage => "webhooks:manage",
            ClientScope::SyncPersonal => "sync:personal",
            ClientScope::SyncInternal => "sync:internal",
        }
    }

    pub fn parse(s: &str) -> Option<ClientScope> {
        ClientScope::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

/// Sorted, without duplicates.
pub fn normalize(scopes: &[ClientScope]) -> Vec<ClientScope> {
    let mut v = scopes.to_vec();
    v.sort();
    v.dedup();
    v
}

/// A space-separated scope list (RFC 6749 §3.3), e.g. `"sync:read sync:write"`.
pub fn parse_list(s: &str) -> Result<Vec<ClientScope>, String> {
    let scopes = s
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(|t| ClientScope::parse(t).ok_or_else(|| format!("unknown scope `{t}`")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(normalize(&scopes))
}

pub fn format_list(scopes: &[ClientScope]) -> String {
    normalize(scopes)
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The scopes a token gets: those requested (all the client's when none are), which must all be
/// granted to the client.
pub fn grant(requested: Option<&str>, granted: &[ClientScope]) -> Result<Vec<ClientScope>, String> {
    let Some(requested) = requested.filter(|s| !s.trim().is_empty()) else {
        return Ok(normalize(granted));
    };
    let asked = parse_list(requested)?;
    if let Some(missing) = asked.iter().find(|s| !granted.contains(s)) {
        return Err(format!(
            "scope `{}` is not granted to this client",
            missing.as_str()
        ));
    }
    Ok(asked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_the_scope_strings() {
        for s in ClientScope::ALL {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
            assert_eq!(ClientScope::parse(s.as_str()), Some(*s));
        }
    }

    #[test]
    fn lists_parse_sorted_and_unique() {
        assert_eq!(
            parse_list("sync:write  sync:read sync:write").unwrap(),
            vec![ClientScope::SyncRead, ClientScope::SyncWrite]
        );
        assert!(parse_list("sync:read admin").is_err());
        assert_eq!(parse_list("").unwrap(), vec![]);
        assert_eq!(
            format_list(&[ClientScope::WebhooksManage, ClientScope::SyncRead]),
            "sync:read webhooks:manage"
        );
    }

    #[test]
    fn a_token_gets_what_was_asked_if_granted() {
        let granted = [ClientScope::SyncRead, ClientScope::SyncWrite];
        assert_eq!(grant(None, &granted).unwrap(), granted.to_vec());
        assert_eq!(grant(Some(" "), &granted).unwrap(), granted.to_vec());
        assert_eq!(
            grant(Some("sync:read"), &granted).unwrap(),
            vec![ClientScope::SyncRead]
        );
        assert!(grant(Some("webhooks:manage"), &granted).is_err());
        assert!(grant(Some("nonsense"), &granted).is_err());
    }
}
