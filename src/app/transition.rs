//! The one transition runner: every step of a message (intake, handling, replies, feedback,
//! supervision, visits) runs through [`run`]. The message row is locked, the caller's standing
//! towards the message is worked out once, the caller must see the message, the status table
//! (`domain::message::judge`) decides, and the change and its ledger event commit together.

use chrono::{DateTime, Utc};
use diesel::PgConnection;

use crate::app::access::{actor, facts, unit_handles_message, viewer};
use crate::auth::Principal;
use crate::auth::policy::{MessageAccess, in_region, may_intake, message_access};
use crate::domain::handling::AssignmentRole;
use crate::domain::ids::AssignmentId;
use crate::domain::message::{
    Actor, MessageAction, TransitionError, Visibility, judge, may_ever_take,
};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::http::preconditions::IfMatchCondition;
use crate::store::assignments::{self as assignments, Assignment};
use crate::store::messages::{self as messages, Decision, Message, MessageChanges, MessageId};

/// What a step decides besides the status (the status table picks that).
pub struct StepOutcome<T> {
    pub changes: MessageChanges,
    pub payload: serde_json::Value,
    pub result: T,
}

/// Run one step of a message under its row lock. `decide` sees the locked message, the caller's
/// standing and (for a step on an assignment) the assignment re-read under the lock.
///
/// 404 when the caller may neither read the message nor has a part in it; 403/409 from the
/// status table; `if_match` (`IfMatchCondition::none()` where the step checks another row's
/// version) is checked after `decide`, against the message's version.
#[allow(clippy::too_many_arguments)]
pub fn run<T>(
    conn: &mut PgConnection,
    p: &Principal,
    message_id: MessageId,
    if_match: &IfMatchCondition,
    action: MessageAction,
    now: DateTime<Utc>,
    assignment: Option<AssignmentId>,
    decide: impl FnOnce(
        &mut PgConnection,
        &Message,
        &[Actor],
        Option<Assignment>,
    ) -> Result<StepOutcome<T>, ApiError>,
) -> Result<(Message, T), ApiError> {
    let mut result = None;
    let message = messages::transition(
        conn,
        message_id,
        if_match,
        actor(p),
        action,
        now,
        |conn, current| {
            // Re-read the assignment under the message lock: it cannot change under us now.
            let assignment = match assignment {
                Some(id) => Some(
                    assignments::get(conn, id)?.ok_or_else(|| ApiError::not_found("assignment"))?,
                ),
                None => None,
            };
            let actors = actors_for(conn, p, current, assignment.as_ref())?;
            // A part: a standing other than a territorial unit's (which only claims), one that
            // could ever take this action, or a unit that handles the message. The unit query
            // runs only when the rest says no.
            let has_part = may_ever_take(action, &actors)
                || actors.iter().any(|a| *a != Actor::TerritorialUnit)
                || unit_handles_message(conn, p, current.id)?;
            if !has_part && message_access(viewer(p), facts(current)) == MessageAccess::None {
                return Err(ApiError::not_found("message"));
            }
            let to = judge(current.status, action, &actors, has_part).map_err(|e| match e {
                TransitionError::NotFromStatus { .. } => ApiError::Conflict(e.to_string()),
                TransitionError::NotForActor { .. } => ApiError::Forbidden(e.to_string()),
            })?;
            let outcome = decide(conn, current, &actors, assignment)?;
            result = Some(outcome.result);
            Ok(Decision {
                to,
                changes: outcome.changes,
                payload: outcome.payload,
            })
        },
    )?;
    let result = result.ok_or_else(|| ApiError::Internal("the step decided nothing".into()))?;
    Ok((message, result))
}

/// The caller's standing towards a message, as the status table names it. `assignment` narrows
/// the unit roles to that assignment.
fn actors_for(
    conn: &mut PgConnection,
    p: &Principal,
    m: &Message,
    assignment: Option<&Assignment>,
) -> Result<Vec<Actor>, ApiError> {
    let mut actors = Vec::new();
    let v = viewer(p);
    if m.author_id == Some(p.user_id) {
        actors.push(Actor::Author);
    }
    if may_intake(v, facts(m)) {
        actors.push(Actor::Intake);
    }
    let supervises = match p.role {
        Role::Admin => true,
        Role::Supervisor => p
            .scope_region
            .as_deref()
            .is_some_and(|c| in_region(&m.region_path, c)),
        _ => false,
    };
    if supervises {
        actors.push(Actor::Supervisor);
    }
    // A leader acts on messages of their own region only (the scope their account carries).
    if p.role == Role::Leader
        && p.scope_region
            .as_deref()
            .is_some_and(|c| in_region(&m.region_path, c))
        && crate::store::users::get(conn, p.user_id)?
            .leader_id
            .is_some()
    {
        actors.push(Actor::Leader);
    }
    if let (Some(unit), Role::Handler | Role::UnitAdmin) = (p.unit_id, p.role) {
        let mine: Vec<Assignment> = match assignment {
            Some(a) => vec![a.clone()],
            None => assignments::open_of_message(conn, m.id)?,
        };
        for a in mine
            .iter()
            .filter(|a| a.unit_id == unit && a.status.is_open())
        {
            actors.push(match a.role {
                AssignmentRole::Lead => Actor::LeadUnit,
                AssignmentRole::CoHandler => Actor::CoHandler,
            });
        }
        // A unit whose territory holds a public message may claim it (a private one is for
        // the liaison office to dispatch: no unit outside its handling reads it).
        let u = crate::store::units::get(conn, unit)?;
        if u.active
            && m.visibility == Visibility::Public
            && in_region(&m.region_path, &u.region_code)
        {
            actors.push(Actor::TerritorialUnit);
        }
    }
    // Reviewers of the handling unit or of the liaison office; which of them decides a given
    // reply is the reply's `review_unit_id`, checked by the reply steps.
    if let (Some(unit), Role::Reviewer | Role::UnitAdmin) = (p.unit_id, p.role)
        && (m.unit_id == Some(unit) || m.intake_unit_id == unit)
    {
        actors.push(Actor::Reviewer);
    }
    Ok(actors)
}
