//! The access model's decisions (docs/ACCESS.md): what a reader with only the `public` class
//! of a message sees of its texts (the anonymous board and a logged-in stranger get the same
//! masking, so logging in never means less protection); which ledger events and details are
//! internal working content; what an integration client's data scopes let it read; which
//! handling records a caller may see.

use std::collections::HashMap;

use diesel::PgConnection;
use serde_json::{Map, Value};

use crate::auth::Principal;
use crate::auth::policy::{MessageAccess, MessageFacts, Viewer, message_access};
use crate::domain::client_scope::ClientScope;
use crate::domain::handling::AssignmentStatus;
use crate::domain::ids::UnitId;
use crate::domain::message::{MessageAction, Visibility};
use crate::domain::personal_data;
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::store::HandlingScope;
use crate::store::messages::{self as store, EventActor, Message, MessageId};

/// A message's title and body as the public class shows them.
pub struct PublicText {
    pub title: String,
    pub body: String,
}

/// The public texts of `messages`: personal data masked with the board's masker (numbers in
/// the text, and the names, e-mails, phones and addresses of the author and the staff
/// involved). One context load for the whole set, whatever its size.
pub fn public_texts(
    conn: &mut PgConnection,
    messages: &[&Message],
) -> Result<HashMap<MessageId, PublicText>, ApiError> {
    if messages.is_empty() {
        return Ok(HashMap::new());
    }
    let owned: Vec<Message> = messages.iter().map(|m| (*m).clone()).collect();
    let ctx = crate::store::public::context(conn, &owned)?;
    Ok(owned
        .iter()
        .map(|m| {
            let known = ctx.known(m);
            (
                m.id,
                PublicText {
                    title: personal_data::mask(&m.title, &known),
                    body: personal_data::mask(&m.body, &known),
                },
            )
        })
        .collect())
}

/// Texts that belong to one message (its published replies) as the public class shows them.
pub fn mask_for_public(
    conn: &mut PgConnection,
    message: &Message,
    texts: Vec<String>,
) -> Result<Vec<String>, ApiError> {
    let ctx = crate::store::public::context(conn, std::slice::from_ref(message))?;
    let known = ctx.known(message);
    Ok(texts
        .iter()
        .map(|t| personal_data::mask(t, &known))
        .collect())
}

/// Texts of several messages (published replies) as the public class shows them: one load of
/// the messages and one context for the whole set.
pub fn mask_texts_for_public(
    conn: &mut PgConnection,
    texts: Vec<(MessageId, String)>,
) -> Result<Vec<String>, ApiError> {
    use crate::schema::messages::dsl as m;
    use diesel::prelude::*;
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<MessageId> = texts.iter().map(|(id, _)| *id).collect();
    let messages: Vec<Message> = m::messages
        .filter(m::id.eq_any(&ids))
        .select(Message::as_select())
        .load(conn)?;
    let ctx = crate::store::public::context(conn, &messages)?;
    let by_id: HashMap<MessageId, &Message> = messages.iter().map(|x| (x.id, x)).collect();
    Ok(texts
        .into_iter()
        .map(|(id, text)| match by_id.get(&id) {
            Some(msg) => personal_data::mask(&text, &ctx.known(msg)),
            // Gone meanwhile: numbers are still masked.
            None => personal_data::mask(&text, &[]),
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Ledger events: which kinds and which details are internal working content

/// A class of a ledger event's details (docs/ACCESS.md, "Field classes"). `Personal` covers
/// both the author's personal data and free texts as written (they may hold personal data):
/// every reader holds both or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Public,
    Personal,
    Internal,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Public => "public",
            Class::Personal => "personal",
            Class::Internal => "internal",
        }
    }
}

/// The classes a reader holds besides `public` (which everyone holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Classes {
    pub personal: bool,
    pub internal: bool,
}

impl Classes {
    /// The author of a message: their own data and texts, never internal working content.
    pub const AUTHOR: Classes = Classes {
        personal: true,
        internal: false,
    };
    /// Staff who may read the ledger at all read all of it.
    pub const STAFF: Classes = Classes {
        personal: true,
        internal: true,
    };

    /// An integration client's classes: its data scopes (`sync:personal`, `sync:internal`).
    pub fn of_client(scopes: &[ClientScope]) -> Classes {
        Classes {
            personal: scopes.contains(&ClientScope::SyncPersonal),
            internal: scopes.contains(&ClientScope::SyncInternal),
        }
    }

    pub fn holds(self, class: Class) -> bool {
        match class {
            Class::Public => true,
            Class::Personal => self.personal,
            Class::Internal => self.internal,
        }
    }
}

/// The classes of a ledger reader: citizens read a ledger only as its author; staff who may
/// read it at all read all of it.
pub fn ledger_classes(role: Role) -> Classes {
    if role == Role::Citizen {
        Classes::AUTHOR
    } else {
        Classes::STAFF
    }
}

/// How one kind of ledger event is read. `event` is `Internal` when even the fact that it
/// happened is internal (an unannounced visit, a review, an alert): readers without the class
/// do not get the event at all. Of its details (top-level payload keys), those in `public` are
/// public, those in `personal` personal, and every other key, named here or not, internal:
/// a key added to a payload later stays internal until it is classified here.
#[derive(Debug)]
pub struct EventRule {
    pub action: MessageAction,
    pub event: Class,
    pub public: &'static [&'static str],
    pub personal: &'static [&'static str],
}

const fn public(
    action: MessageAction,
    public: &'static [&'static str],
    personal: &'static [&'static str],
) -> EventRule {
    EventRule {
        action,
        event: Class::Public,
        public,
        personal,
    }
}

const fn internal(action: MessageAction) -> EventRule {
    EventRule {
        action,
        event: Class::Internal,
        public: &[],
        personal: &[],
    }
}

/// The one table of event kinds (mirrored in the database as `ledger_event_classes` for the
/// webhook outbox, migration 000021; a test checks the two agree). Notes of routing steps
/// (assign, claim, sign for, return, transfer, accept) are internal, as are review comments,
/// deadline verdicts, visit findings and feedback flags; the texts addressed to or written by
/// the author (title, rejection note, clarification question and answer, withdrawal note)
/// are personal.
pub const EVENT_RULES: &[EventRule] = {
    use MessageAction::*;
    &[
        public(
            Submit,
            &[
                "category_id",
                "kind",
                "source",
                "visibility",
                "external_source",
                "external_id",
            ],
            &["title"],
        ),
        public(Classify, &["category_id"], &[]),
        public(Accept, &[], &[]),
        public(Reject, &["reason", "duplicate_of"], &["note"]),
        public(Withdraw, &[], &["note"]),
        public(Resubmit, &["changed"], &[]),
        public(
            Assign,
            &["lead_assignment_id", "lead_unit_id", "co_unit_ids"],
            &[],
        ),
        public(Claim, &["assignment_id", "unit_id"], &[]),
        public(SignFor, &["assignment_id", "unit_id", "role"], &[]),
        public(Return, &["assignment_id", "unit_id"], &[]),
        public(
            Transfer,
            &[
                "from_assignment_id",
                "from_unit_id",
                "assignment_id",
                "unit_id",
            ],
            &[],
        ),
        internal(Contribute),
        public(RequestClarification, &["clarification_id"], &["question"]),
        public(AnswerClarification, &["clarification_id"], &["answer"]),
        // The clock runs again: the author may know; whom it was escalated to is internal.
        public(
            ClarificationLapsed,
            &["clarification_id", "paused_until"],
            &[],
        ),
        internal(RequestExtension),
        internal(ApproveExtension),
        internal(RejectExtension),
        internal(Supervise),
        internal(ReportProgress),
        internal(CloseSupervision),
        internal(Instruct),
        internal(DeadlineDueSoon),
        internal(DeadlineOverdue),
        internal(DraftReply),
        internal(ReviseReply),
        internal(SubmitReply),
        internal(ApproveReply),
        internal(ReturnReply),
        internal(DiscardReply),
        public(
            PublishInterimReply,
            &["reply_id", "kind", "revision", "unit_name"],
            &[],
        ),
        public(
            PublishReply,
            &[
                "reply_id",
                "kind",
                "revision",
                "unit_name",
                "feedback_until",
            ],
            &[],
        ),
        public(Rate, &["feedback_id", "reply_id", "rating", "changed"], &[]),
        public(
            Reopen,
            &["assignment_id", "unit_id", "feedback_id", "reopen_count"],
            &[],
        ),
        public(Close, &["reason", "feedback_until", "feedback_id"], &[]),
        internal(PlanVisit),
        public(RecordVisit, &["visited_on", "method"], &[]),
        internal(AlertRaised),
        public(
            ImportUpdate,
            &[
                "changed",
                "external_source",
                "external_id",
                "external_updated_at",
            ],
            &[],
        ),
        public(
            ImportReply,
            &[
                "reply_id",
                "kind",
                "revision",
                "unit_name",
                "published_at",
                "external_source",
                "external_id",
                "updated",
                "feedback_until",
            ],
            &[],
        ),
        public(
            AcknowledgeReply,
            &[
                "reply_id",
                "board_reply_id",
                "board_url",
                "previous_board_reply_id",
            ],
            &[],
        ),
    ]
};

/// The rule of a ledger action; `None` for an action this build does not know (treat the
/// event as internal).
pub fn event_rule(action: &str) -> Option<&'static EventRule> {
    EVENT_RULES.iter().find(|r| r.action.as_str() == action)
}

/// An event as a reader holding `classes` sees it: `None` when the event itself is hidden,
/// else its details with the keys of classes the reader lacks left out.
pub fn project_event(action: &str, payload: &Value, classes: Classes) -> Option<Value> {
    let Some(rule) = event_rule(action) else {
        return classes.internal.then(|| payload.clone());
    };
    if !classes.holds(rule.event) {
        return None;
    }
    let Value::Object(fields) = payload else {
        return Some(if classes.internal {
            payload.clone()
        } else {
            Value::Object(Map::new())
        });
    };
    let kept = fields
        .iter()
        .filter(|(k, _)| classes.holds(rule.field_class(k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some(Value::Object(kept))
}

impl EventRule {
    pub fn field_class(&self, key: &str) -> Class {
        if self.public.contains(&key) {
            Class::Public
        } else if self.personal.contains(&key) {
            Class::Personal
        } else {
            Class::Internal
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Integration clients: rows

/// What an integration client reads: its data classes and its region subtree (`None`: the
/// whole province).
#[derive(Debug, Clone)]
pub struct ClientView {
    pub classes: Classes,
    pub region_code: Option<String>,
}

impl ClientView {
    /// May the client see a message's changes at all? Within its region, and a private
    /// message only with `sync:personal` (its content is the author's).
    pub fn sees_message(&self, region_path: &str, visibility: &str) -> bool {
        let in_region = self
            .region_code
            .as_deref()
            .is_none_or(|code| crate::auth::policy::in_region(region_path, code));
        in_region && (visibility == Visibility::Public.as_str() || self.classes.personal)
    }
}

/// The handling records (assignments, deadlines, extension requests, supervision cases) a caller
/// may see: administrators all; supervisors, analysts and leaders their region subtree; unit
/// staff their unit's.
pub fn handling_scope(conn: &mut PgConnection, p: &Principal) -> Result<HandlingScope, ApiError> {
    Ok(match p.role {
        Role::Admin => HandlingScope::All,
        Role::Supervisor | Role::Analyst | Role::Leader => match &p.scope_region {
            Some(code) => HandlingScope::RegionPath(crate::store::regions::path_of(conn, code)?),
            None => HandlingScope::RegionPath("-/".into()),
        },
        _ => match p.unit_id {
            Some(u) => HandlingScope::Unit(u),
            None => {
                return Err(ApiError::Forbidden(
                    "your account belongs to no unit".into(),
                ));
            }
        },
    })
}

/// Whether the caller's unit handles the message: an assignment of it that is open or that
/// it completed. A unit that returned or transferred its part no longer follows the handling.
pub fn unit_handles_message(
    conn: &mut PgConnection,
    p: &Principal,
    message_id: MessageId,
) -> Result<bool, ApiError> {
    Ok(match p.unit_id {
        Some(unit) => crate::store::assignments::of_message(conn, message_id)?
            .iter()
            .any(|a| {
                a.unit_id == unit && (a.status.is_open() || a.status == AssignmentStatus::Completed)
            }),
        None => false,
    })
}

/// Staff view of a message's handling: the message's staff and its units (any assignment, past
/// or open). 404 otherwise.
pub fn require_handling_view(
    conn: &mut PgConnection,
    p: &Principal,
    m: &Message,
) -> Result<(), ApiError> {
    if matches!(
        message_access(viewer(p), facts(m)),
        MessageAccess::Full | MessageAccess::Staff
    ) {
        return Ok(());
    }
    if unit_handles_message(conn, p, m.id)? {
        return Ok(());
    }
    Err(ApiError::not_found("message"))
}

/// 404 (as `what`, the detail a read of it gives) unless the caller may read a handling record
/// of `region_path` belonging to `units`: what a caller cannot read answers 404 to every
/// operation on it, never 403 or 409, so its existence and state do not leak.
pub fn require_readable(
    conn: &mut PgConnection,
    p: &Principal,
    region_path: &str,
    units: &[UnitId],
    what: &str,
) -> Result<(), ApiError> {
    if handling_scope(conn, p)?.covers(region_path, units) {
        Ok(())
    } else {
        Err(ApiError::not_found(what))
    }
}

/// What the access model needs to know of a message.
pub fn facts(m: &Message) -> MessageFacts<'_> {
    MessageFacts {
        author: m.author_id,
        public: m.visibility == Visibility::Public,
        publicly_listed: store::PUBLICLY_VISIBLE.contains(&m.status),
        intake_unit: m.intake_unit_id,
        unit: m.unit_id,
        region_path: &m.region_path,
    }
}

/// The caller as the access model sees it.
pub fn viewer(p: &Principal) -> Viewer<'_> {
    Viewer {
        user: p.user_id,
        role: p.role,
        unit: p.unit_id,
        scope_region: p.scope_region.as_deref(),
    }
}

/// The caller as the ledger records it.
pub fn actor(p: &Principal) -> EventActor {
    EventActor {
        id: Some(p.user_id),
        role: Some(p.role),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_action_has_exactly_one_rule() {
        for a in MessageAction::ALL {
            let n = EVENT_RULES.iter().filter(|r| r.action == *a).count();
            assert_eq!(n, 1, "{a}");
        }
        assert_eq!(EVENT_RULES.len(), MessageAction::ALL.len());
        for r in EVENT_RULES {
            assert!(
                r.public.iter().all(|k| !r.personal.contains(k)),
                "{}",
                r.action
            );
        }
    }

    #[test]
    fn internal_events_and_details_need_the_internal_class() {
        let review = json!({"reply_id": "r", "comment": "同意发布"});
        assert_eq!(
            project_event("approve_reply", &review, Classes::AUTHOR),
            None
        );
        assert_eq!(
            project_event("approve_reply", &review, Classes::STAFF),
            Some(review.clone())
        );
        let assign = json!({"lead_unit_id": "u", "note": "转城关区", "co_unit_ids": []});
        assert_eq!(
            project_event("assign", &assign, Classes::AUTHOR),
            Some(json!({"lead_unit_id": "u", "co_unit_ids": []}))
        );
        let submit = json!({"title": "我家电话13912345678", "kind": "complaint"});
        assert_eq!(
            project_event("submit", &submit, Classes::default()),
            Some(json!({"kind": "complaint"}))
        );
        assert_eq!(
            project_event("submit", &submit, Classes::AUTHOR),
            Some(submit.clone())
        );
        assert_eq!(
            project_event("no_such_action", &submit, Classes::AUTHOR),
            None
        );
    }

    #[test]
    fn clients_see_their_region_and_private_messages_only_with_personal() {
        let all = ClientView {
            classes: Classes::default(),
            region_code: None,
        };
        assert!(all.sees_message("620000/620100/", "public"));
        assert!(!all.sees_message("620000/620100/", "private"));
        let lanzhou = ClientView {
            classes: Classes::of_client(&[ClientScope::SyncPersonal]),
            region_code: Some("620100".into()),
        };
        assert!(lanzhou.sees_message("620000/620100/620102/", "private"));
        assert!(!lanzhou.sees_message("620000/620500/", "public"));
    }
}
