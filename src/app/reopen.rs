//! Reopening a message: a supervisor's decision on an unsatisfied rating and a return visit
//! that found the matter unresolved both send it back to its unit the same way.

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde_json::json;

use crate::app::transition::StepOutcome;
use crate::domain::handling::{AssignmentOrigin, AssignmentRole, AssignmentStatus, DeadlineKind};
use crate::domain::ids::{UserId, VisitId};
use crate::domain::message::MessageAction;
use crate::domain::reply::FeedbackFlag;
use crate::error::ApiError;
use crate::store::assignments::{self as assignments, NewAssignment};
use crate::store::deadlines::{self as deadlines, Start};
use crate::store::feedback;
use crate::store::messages::{Message, MessageChanges};

/// Why a message goes back to its unit.
#[derive(Debug, Clone, Copy)]
pub enum ReopenCause {
    /// A supervisor's decision (usually on an unsatisfied rating).
    Supervisor,
    /// A return visit found the matter not resolved.
    Visit(VisitId),
}

/// Send a replied or closed message back to the unit of its last final reply: a new lead
/// assignment (already signed for), a new reply clock, the open unsatisfied rating decided as
/// `reopened`. Runs inside the `reopen` step.
pub fn reopen_in(
    conn: &mut PgConnection,
    m: &Message,
    by: UserId,
    note: &str,
    cause: ReopenCause,
    now: DateTime<Utc>,
) -> Result<StepOutcome<()>, ApiError> {
    let last = crate::store::replies::latest_final(conn, m.id)?
        .ok_or_else(|| ApiError::Conflict("the message has no final reply to reopen".into()))?;
    let mut new = NewAssignment::for_message(
        m,
        last.unit_id,
        AssignmentRole::Lead,
        AssignmentOrigin::Reopened,
        note.to_owned(),
        Some(by),
        now,
    );
    new.status = AssignmentStatus::SignedFor;
    new.signed_for_at = Some(now);
    let a = assignments::insert(conn, &new)?;
    deadlines::start(
        conn,
        Start {
            message: m,
            assignment_id: a.id,
            unit_id: a.unit_id,
            kind: DeadlineKind::Reply,
            at: now,
            action: MessageAction::Reopen,
            event_seq: m.event_count + 1,
        },
    )?;
    let flag = match feedback::open_flag(conn, m.id)? {
        Some(f) => Some(feedback::resolve(conn, f.id, FeedbackFlag::Reopened, by, note, now)?.id),
        None => None,
    };
    Ok(StepOutcome {
        changes: MessageChanges {
            unit_id: Some(Some(a.unit_id)),
            reopen_count: Some(m.reopen_count + 1),
            feedback_until: Some(None),
            closed_at: Some(None),
            ..Default::default()
        },
        payload: json!({
            "assignment_id": a.id, "unit_id": a.unit_id, "note": note,
            "feedback_id": flag,
            "visit_id": match cause { ReopenCause::Visit(v) => Some(v), ReopenCause::Supervisor => None },
            "reopen_count": m.reopen_count + 1,
        }),
        result: (),
    })
}
