//! The message's life as one table of allowed transitions. Later stages (assignment, replies,
//! feedback) extend [`TRANSITIONS`]; handlers never decide on their own which step is allowed.

crate::text_enum! {
    /// Where a message stands.
    pub enum MessageStatus {
        /// Written by the citizen (or registered for them), waiting for the liaison office.
        Submitted => "submitted",
        /// Accepted for handling (受理).
        Accepted => "accepted",
        /// Not accepted; see `rejection`. With reason `insufficient_information` the author may
        /// amend and resubmit.
        Rejected => "rejected",
        /// Withdrawn by its author before acceptance.
        Withdrawn => "withdrawn",
    }
}

crate::text_enum! {
    /// Every action recorded in a message's ledger.
    pub enum MessageAction {
        Submit => "submit",
        Classify => "classify",
        Accept => "accept",
        Reject => "reject",
        Withdraw => "withdraw",
        Resubmit => "resubmit",
    }
}

crate::text_enum! {
    /// The kind of message a citizen writes.
    pub enum MessageKind {
        Consultation => "consultation",
        Suggestion => "suggestion",
        Complaint => "complaint",
        HelpRequest => "help_request",
    }
}

crate::text_enum! {
    /// Importance set at classification.
    pub enum Priority {
        Important => "important",
        Routine => "routine",
    }
}

crate::text_enum! {
    /// Who may read a message besides its author and the staff handling it.
    pub enum Visibility {
        /// On the public board (without personal data).
        Public => "public",
        /// Only the author and the staff in scope.
        Private => "private",
    }
}

crate::text_enum! {
    /// How a message reached us.
    pub enum MessageSource {
        /// Written by the citizen on the web or in an app.
        Web => "web",
        /// Registered by staff from a phone call.
        Phone => "phone",
        /// Registered by staff from a letter.
        Letter => "letter",
        /// Registered by staff from a visit in person.
        Visit => "visit",
    }
}

crate::text_enum! {
    /// Why a message was not accepted.
    pub enum RejectionReason {
        /// Not a matter for the leaders addressed (e.g. litigation, another province).
        OutOfScope => "out_of_scope",
        /// Already asked; `duplicate_of` names the original.
        Duplicate => "duplicate",
        /// Not enough to act on; the author may amend and resubmit.
        InsufficientInformation => "insufficient_information",
        /// Abusive or unlawful content.
        AbusiveContent => "abusive_content",
    }
}

/// Who is acting, as the transition table sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The citizen who wrote the message.
    Author,
    /// Staff of a liaison office, supervisors and admins: they run intake.
    Intake,
}

pub struct Transition {
    pub from: MessageStatus,
    pub action: MessageAction,
    pub to: MessageStatus,
    pub by: &'static [Actor],
}

use MessageAction as A;
use MessageStatus as S;

/// The allowed steps. Classification keeps the status.
pub const TRANSITIONS: &[Transition] = &[
    Transition {
        from: S::Submitted,
        action: A::Classify,
        to: S::Submitted,
        by: &[Actor::Intake],
    },
    Transition {
        from: S::Accepted,
        action: A::Classify,
        to: S::Accepted,
        by: &[Actor::Intake],
    },
    Transition {
        from: S::Submitted,
        action: A::Accept,
        to: S::Accepted,
        by: &[Actor::Intake],
    },
    Transition {
        from: S::Submitted,
        action: A::Reject,
        to: S::Rejected,
        by: &[Actor::Intake],
    },
    Transition {
        from: S::Submitted,
        action: A::Withdraw,
        to: S::Withdrawn,
        by: &[Actor::Author],
    },
    Transition {
        from: S::Rejected,
        action: A::Resubmit,
        to: S::Submitted,
        by: &[Actor::Author],
    },
];

#[derive(Debug, PartialEq, Eq)]
pub enum TransitionError {
    /// The action does not apply to a message in this status (409).
    NotFromStatus {
        status: MessageStatus,
        action: MessageAction,
    },
    /// The action applies, but not for this actor (403).
    NotForActor { action: MessageAction },
}

impl std::fmt::Display for TransitionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransitionError::NotFromStatus { status, action } => {
                write!(f, "a message that is `{status}` cannot be given `{action}`")
            }
            TransitionError::NotForActor { action } => {
                write!(f, "you may not `{action}` this message")
            }
        }
    }
}

/// The status after `action`, if `actor` may take it from `from`.
pub fn next_status(
    from: MessageStatus,
    action: MessageAction,
    actors: &[Actor],
) -> Result<MessageStatus, TransitionError> {
    let candidates: Vec<&Transition> = TRANSITIONS
        .iter()
        .filter(|t| t.from == from && t.action == action)
        .collect();
    if candidates.is_empty() {
        return Err(TransitionError::NotFromStatus {
            status: from,
            action,
        });
    }
    candidates
        .into_iter()
        .find(|t| t.by.iter().any(|a| actors.contains(a)))
        .map(|t| t.to)
        .ok_or(TransitionError::NotForActor { action })
}

/// Statuses in which the author may still change what they wrote.
pub fn author_may_amend(status: MessageStatus, reason: Option<RejectionReason>) -> bool {
    status == S::Rejected && reason == Some(RejectionReason::InsufficientInformation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_and_action_pair_is_decided_by_the_table() {
        for from in MessageStatus::ALL {
            for action in MessageAction::ALL {
                for actors in [&[Actor::Author][..], &[Actor::Intake][..]] {
                    let in_table = TRANSITIONS.iter().any(|t| {
                        t.from == *from
                            && t.action == *action
                            && t.by.iter().any(|a| actors.contains(a))
                    });
                    assert_eq!(
                        next_status(*from, *action, actors).is_ok(),
                        in_table,
                        "{from} {action} {actors:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn intake_accepts_and_rejects_submitted_messages_only() {
        assert_eq!(
            next_status(S::Submitted, A::Accept, &[Actor::Intake]),
            Ok(S::Accepted)
        );
        assert_eq!(
            next_status(S::Submitted, A::Reject, &[Actor::Intake]),
            Ok(S::Rejected)
        );
        for from in [S::Accepted, S::Rejected, S::Withdrawn] {
            assert!(matches!(
                next_status(from, A::Accept, &[Actor::Intake]),
                Err(TransitionError::NotFromStatus { .. })
            ));
        }
        assert_eq!(
            next_status(S::Submitted, A::Accept, &[Actor::Author]),
            Err(TransitionError::NotForActor { action: A::Accept })
        );
    }

    #[test]
    fn authors_withdraw_before_acceptance_and_resubmit_after_rejection() {
        assert_eq!(
            next_status(S::Submitted, A::Withdraw, &[Actor::Author]),
            Ok(S::Withdrawn)
        );
        assert!(next_status(S::Accepted, A::Withdraw, &[Actor::Author]).is_err());
        assert_eq!(
            next_status(S::Submitted, A::Withdraw, &[Actor::Intake]),
            Err(TransitionError::NotForActor {
                action: A::Withdraw
            })
        );
        assert_eq!(
            next_status(S::Rejected, A::Resubmit, &[Actor::Author]),
            Ok(S::Submitted)
        );
        assert!(author_may_amend(
            S::Rejected,
            Some(RejectionReason::InsufficientInformation)
        ));
        assert!(!author_may_amend(
            S::Rejected,
            Some(RejectionReason::Duplicate)
        ));
        assert!(!author_may_amend(S::Submitted, None));
    }

    #[test]
    fn classification_keeps_the_status() {
        assert_eq!(
            next_status(S::Submitted, A::Classify, &[Actor::Intake]),
            Ok(S::Submitted)
        );
        assert_eq!(
            next_status(S::Accepted, A::Classify, &[Actor::Intake]),
            Ok(S::Accepted)
        );
        assert!(next_status(S::Withdrawn, A::Classify, &[Actor::Intake]).is_err());
    }
}
