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
        /// Handed to a lead unit, waiting for it to sign for it (签收).
        Assigned => "assigned",
        /// Signed for (or claimed) by the lead unit, which is working on the reply.
        InProgress => "in_progress",
        /// The lead unit asked the citizen to clarify; the reply clock waits for the answer.
        AwaitingClarification => "awaiting_clarification",
        /// The final reply is published; the author may rate it until the window ends.
        Replied => "replied",
        /// Done: the rating window ended, or a supervisor closed it with an explanation.
        Closed => "closed",
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
        /// The liaison office (or a supervisor) hands the message to a lead unit.
        Assign => "assign",
        /// A unit takes an unassigned message that lies in its territory.
        Claim => "claim",
        /// The lead unit acknowledges the assignment (签收).
        SignFor => "sign_for",
        /// The lead unit sends the message back: not its jurisdiction (退回).
        Return => "return",
        /// The liaison office or a supervisor moves the message to another unit (转办).
        Transfer => "transfer",
        /// A co-handling unit completes its part with an internal contribution.
        Contribute => "contribute",
        RequestClarification => "request_clarification",
        AnswerClarification => "answer_clarification",
        /// Nobody answered a clarification request within the pause cap: the scheduler starts
        /// the reply clock again and tells the supervisors (see `domain::handling`).
        ClarificationLapsed => "clarification_lapsed",
        RequestExtension => "request_extension",
        ApproveExtension => "approve_extension",
        RejectExtension => "reject_extension",
        /// A supervisor opens a supervision case (督办).
        Supervise => "supervise",
        ReportProgress => "report_progress",
        CloseSupervision => "close_supervision",
        /// A leader's written instruction (批示).
        Instruct => "instruct",
        /// Raised by the scheduler, once per deadline.
        DeadlineDueSoon => "deadline_due_soon",
        DeadlineOverdue => "deadline_overdue",
        /// The lead unit starts a reply (interim or final) as a draft.
        DraftReply => "draft_reply",
        /// The lead unit edits a draft (a new revision).
        ReviseReply => "revise_reply",
        /// The lead unit puts a draft up for review (editorial checks pass first).
        SubmitReply => "submit_reply",
        ApproveReply => "approve_reply",
        /// The reviewer sends a draft back with comments.
        ReturnReply => "return_reply",
        DiscardReply => "discard_reply",
        /// An approved interim (progress) reply goes on the board; the message stays in progress.
        PublishInterimReply => "publish_interim_reply",
        /// The approved final reply goes on the board: the message is replied.
        PublishReply => "publish_reply",
        /// The author rates the final reply (or changes the rating inside the window).
        Rate => "rate",
        /// Back to the unit for a new reply (unsatisfied rating, failed return visit).
        Reopen => "reopen",
        /// Closed: by the scheduler when the rating window ends, or by a supervisor.
        Close => "close",
        /// A supervisor plans a return visit or on-site check.
        PlanVisit => "plan_visit",
        /// What the visit found.
        RecordVisit => "record_visit",
        /// An early-warning rule raised an alert about the message (or linked it to one).
        AlertRaised => "alert_raised",
        /// The external platform sent a newer version of an imported message.
        ImportUpdate => "import_update",
        /// A reply written on the external platform was imported (or a newer version of it).
        ImportReply => "import_reply",
        /// The board acknowledged a published reply (its id and URL there).
        AcknowledgeReply => "acknowledge_reply",
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
    /// Staff of the unit holding the open lead assignment.
    LeadUnit,
    /// Staff of a unit holding an open co-handling assignment.
    CoHandler,
    /// Staff of a unit whose territory contains the message (may claim it).
    TerritorialUnit,
    /// A supervisor of the message's region, or an admin.
    Supervisor,
    /// The leader the message is addressed to (or liaison staff recording for them: `Intake`).
    Leader,
    /// Reviewer (or unit admin) of the lead unit or of the liaison office: reviews and publishes
    /// replies (the exact reviewing unit is the reply's).
    Reviewer,
    /// The service itself (the deadline scheduler, early warning).
    System,
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
    // Handling. Assignment after disputes (two returns) is the supervisor's: checked by the caller.
    Transition {
        from: S::Accepted,
        action: A::Assign,
        to: S::Assigned,
        by: &[Actor::Intake, Actor::Supervisor],
    },
    Transition {
        from: S::Accepted,
        action: A::Claim,
        to: S::InProgress,
        by: &[Actor::TerritorialUnit],
    },
    Transition {
        from: S::Assigned,
        action: A::SignFor,
        to: S::InProgress,
        by: &[Actor::LeadUnit],
    },
    // A co-handler signing for moves nothing: the lead unit's step decides the status.
    Transition {
        from: S::Assigned,
        action: A::SignFor,
        to: S::Assigned,
        by: &[Actor::CoHandler],
    },
    Transition {
        from: S::InProgress,
        action: A::SignFor,
        to: S::InProgress,
        by: &[Actor::CoHandler],
    },
    Transition {
        from: S::AwaitingClarification,
        action: A::SignFor,
        to: S::AwaitingClarification,
        by: &[Actor::CoHandler],
    },
    Transition {
        from: S::Assigned,
        action: A::Return,
        to: S::Accepted,
        by: &[Actor::LeadUnit],
    },
    Transition {
        from: S::InProgress,
        action: A::Return,
        to: S::Accepted,
        by: &[Actor::LeadUnit],
    },
    Transition {
        from: S::Assigned,
        action: A::Transfer,
        to: S::Assigned,
        by: &[Actor::Intake, Actor::Supervisor],
    },
    Transition {
        from: S::InProgress,
        action: A::Transfer,
        to: S::Assigned,
        by: &[Actor::Intake, Actor::Supervisor],
    },
    Transition {
        from: S::InProgress,
        action: A::RequestClarification,
        to: S::AwaitingClarification,
        by: &[Actor::LeadUnit],
    },
    Transition {
        from: S::AwaitingClarification,
        action: A::AnswerClarification,
        to: S::InProgress,
        by: &[Actor::Author, Actor::LeadUnit],
    },
    Transition {
        from: S::AwaitingClarification,
        action: A::ClarificationLapsed,
        to: S::InProgress,
        by: &[Actor::System],
    },
    Transition {
        from: S::InProgress,
        action: A::RequestExtension,
        to: S::InProgress,
        by: &[Actor::LeadUnit],
    },
    Transition {
        from: S::AwaitingClarification,
        action: A::RequestExtension,
        to: S::AwaitingClarification,
        by: &[Actor::LeadUnit],
    },
    // Replies. Publishing the final reply ends the handling; only from `in_progress` (a paused
    // clock has no verdict to give).
    Transition {
        from: S::InProgress,
        action: A::PublishReply,
        to: S::Replied,
        by: &[Actor::LeadUnit, Actor::Reviewer],
    },
    Transition {
        from: S::Replied,
        action: A::Reopen,
        to: S::InProgress,
        by: &[Actor::Supervisor],
    },
    Transition {
        from: S::Closed,
        action: A::Reopen,
        to: S::InProgress,
        by: &[Actor::Supervisor],
    },
    Transition {
        from: S::Replied,
        action: A::Close,
        to: S::Closed,
        by: &[Actor::Supervisor, Actor::System],
    },
];

/// Statuses after the final reply.
pub const ANSWERED_STATUSES: &[MessageStatus] = &[S::Replied, S::Closed];

/// Statuses in which a unit works on a reply.
pub const DRAFTING_STATUSES: &[MessageStatus] = &[S::InProgress, S::AwaitingClarification];

/// Steps that record something without moving the message, allowed in every status in which a
/// unit is handling it (and, for some, before assignment).
pub const HANDLING_STATUSES: &[MessageStatus] =
    &[S::Assigned, S::InProgress, S::AwaitingClarification];

/// The status-keeping steps: (action, statuses, who).
pub const RECORDING_STEPS: &[(MessageAction, &[MessageStatus], &[Actor])] = &[
    (A::Contribute, HANDLING_STATUSES, &[Actor::CoHandler]),
    (
        A::ApproveExtension,
        &[S::InProgress, S::AwaitingClarification],
        &[Actor::Supervisor],
    ),
    (
        A::RejectExtension,
        &[S::InProgress, S::AwaitingClarification],
        &[Actor::Supervisor],
    ),
    (
        A::Supervise,
        &[
            S::Accepted,
            S::Assigned,
            S::InProgress,
            S::AwaitingClarification,
            S::Replied,
        ],
        &[Actor::Supervisor],
    ),
    (
        A::ReportProgress,
        HANDLING_STATUSES,
        &[Actor::LeadUnit, Actor::CoHandler],
    ),
    // A case still open when the final reply comes out is closed by the supervisor afterwards
    // (an open case keeps the message from closing on its own).
    (
        A::CloseSupervision,
        &[
            S::Accepted,
            S::Assigned,
            S::InProgress,
            S::AwaitingClarification,
            S::Replied,
        ],
        &[Actor::Supervisor],
    ),
    (
        A::Instruct,
        &[
            S::Accepted,
            S::Assigned,
            S::InProgress,
            S::AwaitingClarification,
        ],
        &[Actor::Leader, Actor::Intake],
    ),
    (A::DeadlineDueSoon, HANDLING_STATUSES, &[Actor::System]),
    (A::DeadlineOverdue, HANDLING_STATUSES, &[Actor::System]),
    (A::DraftReply, DRAFTING_STATUSES, &[Actor::LeadUnit]),
    (A::ReviseReply, DRAFTING_STATUSES, &[Actor::LeadUnit]),
    (A::SubmitReply, DRAFTING_STATUSES, &[Actor::LeadUnit]),
    (A::DiscardReply, DRAFTING_STATUSES, &[Actor::LeadUnit]),
    (A::ApproveReply, DRAFTING_STATUSES, &[Actor::Reviewer]),
    (A::ReturnReply, DRAFTING_STATUSES, &[Actor::Reviewer]),
    (
        A::PublishInterimReply,
        DRAFTING_STATUSES,
        &[Actor::LeadUnit, Actor::Reviewer],
    ),
    // A message a supervisor closed early keeps its rating window: the author may still rate
    // (the window, `feedback_until`, is checked by the rating itself).
    (A::Rate, &[S::Replied, S::Closed], &[Actor::Author]),
    (A::PlanVisit, ANSWERED_STATUSES, &[Actor::Supervisor]),
    (A::RecordVisit, ANSWERED_STATUSES, &[Actor::Supervisor]),
    // Early warning looks at messages in every status (spikes and repetitions count them all).
    (A::AlertRaised, S::ALL, &[Actor::System]),
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

/// Whether any of `actors` may take `action` from some status. A caller with no part in a
/// message is refused on this before its status is looked at, so it learns nothing of it.
pub fn may_ever_take(action: MessageAction, actors: &[Actor]) -> bool {
    let takes = |by: &[Actor]| by.iter().any(|a| actors.contains(a));
    RECORDING_STEPS
        .iter()
        .any(|(a, _, by)| *a == action && takes(by))
        || TRANSITIONS
            .iter()
            .any(|t| t.action == action && takes(t.by))
}

/// The status after `action`, if `actor` may take it from `from`.
pub fn next_status(
    from: MessageStatus,
    action: MessageAction,
    actors: &[Actor],
) -> Result<MessageStatus, TransitionError> {
    if let Some((_, statuses, by)) = RECORDING_STEPS.iter().find(|(a, _, _)| *a == action) {
        if !statuses.contains(&from) {
            return Err(TransitionError::NotFromStatus {
                status: from,
                action,
            });
        }
        return if by.iter().any(|a| actors.contains(a)) {
            Ok(from)
        } else {
            Err(TransitionError::NotForActor { action })
        };
    }
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

/// [`next_status`] for a caller: one with no part in the message (`has_part` false: not its
/// author, intake, supervisor, leader or a unit that handled it) who may never take the action
/// is refused before the status is looked at, so a stranger learns nothing of the status.
/// Someone with a part gets the informative answer (409 when the status does not allow it).
pub fn judge(
    from: MessageStatus,
    action: MessageAction,
    actors: &[Actor],
    has_part: bool,
) -> Result<MessageStatus, TransitionError> {
    if !has_part && !may_ever_take(action, actors) {
        return Err(TransitionError::NotForActor { action });
    }
    next_status(from, action, actors)
}

/// Statuses in which the author may still change what they wrote.
pub fn author_may_amend(status: MessageStatus, reason: Option<RejectionReason>) -> bool {
    status == S::Rejected && reason == Some(RejectionReason::InsufficientInformation)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_ACTORS: &[Actor] = &[
        Actor::Author,
        Actor::Intake,
        Actor::LeadUnit,
        Actor::CoHandler,
        Actor::TerritorialUnit,
        Actor::Supervisor,
        Actor::Leader,
        Actor::Reviewer,
        Actor::System,
    ];

    #[test]
    fn strangers_are_refused_before_the_status_is_looked_at() {
        // A citizen withdrawing someone else's accepted message: 403, not 409.
        assert_eq!(
            judge(S::Accepted, A::Withdraw, &[], false),
            Err(TransitionError::NotForActor {
                action: A::Withdraw
            })
        );
        // The author learns the status does not allow it.
        assert!(matches!(
            judge(S::Accepted, A::Withdraw, &[Actor::Author], true),
            Err(TransitionError::NotFromStatus { .. })
        ));
        // A unit that handled the message still hears why (409), not 403.
        assert!(matches!(
            judge(S::Replied, A::DraftReply, &[], true),
            Err(TransitionError::NotFromStatus { .. })
        ));
        assert!(!may_ever_take(A::Withdraw, &[Actor::TerritorialUnit]));
        assert!(may_ever_take(A::Withdraw, &[Actor::Author]));
    }

    #[test]
    fn reply_path() {
        assert_eq!(
            next_status(S::InProgress, A::DraftReply, &[Actor::LeadUnit]),
            Ok(S::InProgress)
        );
        assert_eq!(
            next_status(S::InProgress, A::ApproveReply, &[Actor::LeadUnit]),
            Err(TransitionError::NotForActor {
                action: A::ApproveReply
            })
        );
        assert_eq!(
            next_status(S::InProgress, A::PublishReply, &[Actor::Reviewer]),
            Ok(S::Replied)
        );
        // A paused clock cannot be judged: the final reply waits for the clarification.
        assert!(matches!(
            next_status(
                S::AwaitingClarification,
                A::PublishReply,
                &[Actor::LeadUnit]
            ),
            Err(TransitionError::NotFromStatus { .. })
        ));
        assert_eq!(
            next_status(
                S::AwaitingClarification,
                A::PublishInterimReply,
                &[Actor::LeadUnit]
            ),
            Ok(S::AwaitingClarification)
        );
        assert_eq!(
            next_status(S::Replied, A::Rate, &[Actor::Author]),
            Ok(S::Replied)
        );
        assert_eq!(
            next_status(S::Closed, A::Rate, &[Actor::Author]),
            Ok(S::Closed)
        );
        assert!(next_status(S::InProgress, A::Rate, &[Actor::Author]).is_err());
        assert!(next_status(S::Replied, A::Rate, &[Actor::Supervisor]).is_err());
        assert_eq!(
            next_status(S::Replied, A::Reopen, &[Actor::Supervisor]),
            Ok(S::InProgress)
        );
        assert_eq!(
            next_status(S::Closed, A::Reopen, &[Actor::Supervisor]),
            Ok(S::InProgress)
        );
        assert_eq!(
            next_status(S::Replied, A::Close, &[Actor::System]),
            Ok(S::Closed)
        );
        assert!(next_status(S::Replied, A::Close, &[Actor::Author]).is_err());
        assert!(next_status(S::Replied, A::DraftReply, &[Actor::LeadUnit]).is_err());
        assert_eq!(
            next_status(S::Closed, A::RecordVisit, &[Actor::Supervisor]),
            Ok(S::Closed)
        );
        assert!(next_status(S::InProgress, A::PlanVisit, &[Actor::Supervisor]).is_err());
    }

    #[test]
    fn recording_steps_never_move_the_message_and_are_not_transitions() {
        for (action, statuses, by) in RECORDING_STEPS {
            assert!(!TRANSITIONS.iter().any(|t| t.action == *action), "{action}");
            for s in *statuses {
                assert_eq!(next_status(*s, *action, by), Ok(*s));
            }
        }
    }

    #[test]
    fn handling_path() {
        assert_eq!(
            next_status(S::Accepted, A::Assign, &[Actor::Intake]),
            Ok(S::Assigned)
        );
        assert_eq!(
            next_status(S::Assigned, A::SignFor, &[Actor::LeadUnit]),
            Ok(S::InProgress)
        );
        assert_eq!(
            next_status(S::Assigned, A::Return, &[Actor::LeadUnit]),
            Ok(S::Accepted)
        );
        assert_eq!(
            next_status(S::Accepted, A::Claim, &[Actor::TerritorialUnit]),
            Ok(S::InProgress)
        );
        assert!(next_status(S::Assigned, A::Claim, &[Actor::TerritorialUnit]).is_err());
        assert!(next_status(S::Submitted, A::Assign, &[Actor::Intake]).is_err());
        assert_eq!(
            next_status(S::InProgress, A::Transfer, &[Actor::Supervisor]),
            Ok(S::Assigned)
        );
        assert_eq!(
            next_status(S::InProgress, A::RequestClarification, &[Actor::LeadUnit]),
            Ok(S::AwaitingClarification)
        );
        assert_eq!(
            next_status(
                S::AwaitingClarification,
                A::AnswerClarification,
                &[Actor::Author]
            ),
            Ok(S::InProgress)
        );
        // A co-handler signing for does not move the message.
        assert_eq!(
            next_status(S::InProgress, A::SignFor, &[Actor::CoHandler]),
            Ok(S::InProgress)
        );
        assert_eq!(
            next_status(S::Assigned, A::Return, &[Actor::CoHandler]),
            Err(TransitionError::NotForActor { action: A::Return })
        );
        assert!(next_status(S::Submitted, A::Instruct, &[Actor::Leader]).is_err());
        assert_eq!(
            next_status(S::InProgress, A::Instruct, &[Actor::Leader]),
            Ok(S::InProgress)
        );
        assert_eq!(
            next_status(S::InProgress, A::DeadlineOverdue, &[Actor::Intake]),
            Err(TransitionError::NotForActor {
                action: A::DeadlineOverdue
            })
        );
    }

    #[test]
    fn every_status_and_action_pair_is_decided_by_the_table() {
        for from in MessageStatus::ALL {
            for action in MessageAction::ALL {
                for actors in ALL_ACTORS.iter().map(std::slice::from_ref) {
                    let in_table = TRANSITIONS.iter().any(|t| {
                        t.from == *from
                            && t.action == *action
                            && t.by.iter().any(|a| actors.contains(a))
                    }) || RECORDING_STEPS.iter().any(|(a, statuses, by)| {
                        a == action
                            && statuses.contains(from)
                            && by.iter().any(|b| actors.contains(b))
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
    fn alerts_are_recorded_by_the_system_in_every_status() {
        for s in MessageStatus::ALL {
            assert_eq!(next_status(*s, A::AlertRaised, &[Actor::System]), Ok(*s));
            assert!(next_status(*s, A::AlertRaised, &[Actor::Supervisor]).is_err());
        }
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
