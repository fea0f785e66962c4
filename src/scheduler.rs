//! The scheduler: raises `deadline_due_soon` and `deadline_overdue` into the ledger, exactly
//! once per deadline, and closes replied messages whose rating window has ended, exactly once
//! per message, however many replicas run it; ends the clock pause of clarification requests
//! nobody answered within the cap (telling the supervisors); and runs early warning's periodic part (spike
//! rules, the repeat catch-up: `store::alerts::run_scheduled`, safe across replicas the same way).
//!
//! Each alarm is raised in its own transaction that takes the message row with
//! `FOR UPDATE SKIP LOCKED` (the same lock every handling step takes, so the order of locks is
//! the same everywhere and nothing deadlocks), re-checks under that lock that the alarm is still
//! due and not yet raised, appends the event and marks the deadline. A replica that finds the row
//! locked skips it; the next tick picks it up if it is still due. No leader election needed.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use crate::clock::Clock;
use crate::db::Db;
use crate::domain::handling::{
    CLARIFICATION_MAX_PAUSE_WORKING_DAYS, DeadlineRecordState, clarification_pause_ends_at,
};
use crate::domain::ids::{ClarificationId, DeadlineId, UserId};
use crate::domain::message::MessageAction;
use crate::error::ApiError;
use crate::store::deadlines;
use crate::store::messages::{self as messages, EventActor, Message, MessageId};

/// Alarms handled per tick and kind; the rest wait for the next tick.
const BATCH: i64 = 200;

/// What one pass raised.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Raised {
    pub due_soon: usize,
    pub overdue: usize,
    /// Messages closed because their rating window ended.
    pub closed: usize,
    /// Early-warning alerts raised (spikes, repetitions caught up).
    pub alerts: usize,
    /// Clarification requests left unanswered past the pause cap: the clock runs again.
    pub clarifications_lapsed: usize,
}

/// Tells the background loops to stop: it turns `true` when the server has stopped.
pub type StopSignal = tokio::sync::watch::Receiver<bool>;

/// Wait for the next tick; false once the stop signal is given (or its sender is gone). A pass
/// in progress is never cut short: the loops only look here between passes.
pub async fn tick_or_stop(tick: &mut tokio::time::Interval, stop: &mut StopSignal) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        biased;
        _ = stop.changed() => false,
        _ = tick.tick() => true,
    }
}

/// Run the scheduler every `interval` until `stop`; each finished pass counts in `passes`
/// (`task="scheduler"`).
pub fn spawn(
    db: Db,
    clock: Clock,
    interval: StdDuration,
    mut stop: StopSignal,
    passes: prometheus::IntCounterVec,
) -> tokio::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(interval);
        while tick_or_stop(&mut tick, &mut stop).await {
            let now = clock.now();
            let result = match db.run(move |conn| run_once(conn, now)).await {
                Ok(r) => {
                    if r != Raised::default() {
                        tracing::info!(
                            due_soon = r.due_soon,
                            overdue = r.overdue,
                            closed = r.closed,
                            alerts = r.alerts,
                            "scheduler pass"
                        )
                    }
                    "ok"
                }
                Err(e) => {
                    tracing::warn!(error = %e, "deadline scheduler pass failed");
                    "error"
                }
            };
            passes.with_label_values(&["scheduler", result]).inc();
        }
        tracing::info!("scheduler stopped");
    })
}

/// Deltas folded per statistics transaction.
const FOLD_BATCH: i64 = 20_000;

/// Fold the statistics' pending changes every `interval` until the process stops. Replicas
/// take turns (a transaction-level advisory lock); a replica that finds it taken skips a tick.
pub fn spawn_stats_fold(
    db: Db,
    interval: StdDuration,
    mut stop: StopSignal,
) -> tokio::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while tick_or_stop(&mut tick, &mut stop).await {
            match db
                .run(|conn| crate::store::statistics::fold_all(conn, FOLD_BATCH, 10))
                .await
            {
                Ok(n) if n > 0 => tracing::debug!(deltas = n, "statistics folded"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "statistics fold failed"),
            }
        }
        tracing::debug!("statistics fold stopped");
    })
}

/// One pass: raise every alarm that is due at `now`.
pub fn run_once(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<Raised, ApiError> {
    let mut raised = Raised::default();
    for (id, message) in deadlines::due_soon_candidates(conn, now, BATCH)? {
        if raise(conn, id, message, false, now)? {
            raised.due_soon += 1;
        }
    }
    for (id, message) in deadlines::overdue_candidates(conn, now, BATCH)? {
        if raise(conn, id, message, true, now)? {
            raised.overdue += 1;
        }
    }
    for message in close_candidates(conn, now, BATCH)? {
        if close(conn, message, now)? {
            raised.closed += 1;
        }
    }
    for (message, clarification) in clarification_lapse_candidates(conn, now, BATCH)? {
        if lapse_clarification(conn, message, clarification, now)? {
            raised.clarifications_lapsed += 1;
        }
    }
    raised.alerts = crate::store::alerts::run_scheduled(conn, now, BATCH)?;
    Ok(raised)
}

/// Replied messages whose rating window has ended and that have no open issue: no undecided
/// unsatisfied rating, no open supervision case (those wait for a supervisor).
fn close_candidates(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<MessageId>, ApiError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: MessageId,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT m.id FROM messages m \
         WHERE m.status = 'replied' AND m.feedback_until <= $1 \
           AND NOT EXISTS (SELECT 1 FROM feedback f WHERE f.message_id = m.id AND f.flag = 'open') \
           AND NOT EXISTS (SELECT 1 FROM supervisions s WHERE s.message_id = m.id AND s.status = 'open') \
         ORDER BY m.feedback_until LIMIT $2",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(now)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Close one message if it still qualifies and nobody holds it; false when skipped.
fn close(
    conn: &mut PgConnection,
    message_id: MessageId,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    use crate::domain::message::{Actor, MessageStatus, next_status};
    conn.transaction(|conn| {
        let Some(message) = lock_unless_busy(conn, message_id)? else {
            return Ok(false);
        };
        let due = message.status == MessageStatus::Replied
            && message.feedback_until.is_some_and(|t| t <= now)
            && crate::store::feedback::open_flag(conn, message_id)?.is_none()
            && crate::store::supervision::open_of_message(conn, message_id)?.is_none();
        if !due {
            return Ok(false);
        }
        messages::transition(
            conn,
            message_id,
            &crate::http::preconditions::IfMatchCondition::none(),
            EventActor::SYSTEM,
            MessageAction::Close,
            now,
            |_, current| {
                let to = next_status(current.status, MessageAction::Close, &[Actor::System])
                    .map_err(|e| ApiError::Conflict(e.to_string()))?;
                Ok(messages::Decision {
                    to,
                    changes: messages::MessageChanges {
                        closed_at: Some(Some(now)),
                        ..Default::default()
                    },
                    payload: json!({
                        "reason": "feedback_window_ended",
                        "feedback_until": current.feedback_until,
                    }),
                })
            },
        )?;
        Ok(true)
    })
}

/// Unanswered clarification requests of waiting messages asked at least
/// [`CLARIFICATION_MAX_PAUSE_WORKING_DAYS`] calendar days ago (a necessary condition for that many
/// working days; [`lapse_clarification`] checks the working days).
fn clarification_lapse_candidates(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(MessageId, ClarificationId)>, ApiError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        message_id: MessageId,
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: ClarificationId,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT c.message_id, c.id FROM clarification_requests c \
         JOIN messages m ON m.id = c.message_id AND m.status = 'awaiting_clarification' \
         WHERE c.answered_at IS NULL AND c.asked_at <= $1 \
         ORDER BY c.asked_at LIMIT $2",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(
        now - chrono::Duration::days(i64::from(CLARIFICATION_MAX_PAUSE_WORKING_DAYS)),
    )
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.message_id, r.id)).collect())
}

/// End the pause of one unanswered clarification request once the cap has passed: the reply
/// clock runs again from the cap (not from whenever the scheduler noticed), the message is in
/// progress again and the supervisors of its region are named in the event. False when skipped.
fn lapse_clarification(
    conn: &mut PgConnection,
    message_id: MessageId,
    clarification: ClarificationId,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    use crate::domain::calendar::local_date;
    use crate::domain::message::{Actor, MessageStatus, next_status};
    conn.transaction(|conn| {
        let Some(message) = lock_unless_busy(conn, message_id)? else {
            return Ok(false);
        };
        let Some(c) = crate::store::clarifications::get(conn, clarification)? else {
            return Ok(false);
        };
        if message.status != MessageStatus::AwaitingClarification || c.answered_at.is_some() {
            return Ok(false);
        }
        let asked = local_date(c.asked_at);
        let cal = deadlines::calendar(conn, asked, asked + chrono::Duration::days(90))?;
        let Some(ends_at) = clarification_pause_ends_at(&cal, c.asked_at) else {
            return Ok(false);
        };
        if ends_at > now {
            return Ok(false);
        }
        let escalated_to = supervisors_of(conn, &message.region_path)?;
        messages::transition(
            conn,
            message_id,
            &crate::http::preconditions::IfMatchCondition::none(),
            EventActor::SYSTEM,
            MessageAction::ClarificationLapsed,
            now,
            |conn, current| {
                let to = next_status(
                    current.status,
                    MessageAction::ClarificationLapsed,
                    &[Actor::System],
                )
                .map_err(|e| ApiError::Conflict(e.to_string()))?;
                deadlines::resume(conn, c.assignment_id, ends_at)?;
                Ok(messages::Decision {
                    to,
                    changes: messages::MessageChanges::default(),
                    payload: json!({
                        "clarification_id": c.id,
                        "assignment_id": c.assignment_id,
                        "asked_at": c.asked_at,
                        "paused_until": ends_at,
                        "max_pause_working_days": CLARIFICATION_MAX_PAUSE_WORKING_DAYS,
                        "escalated_to": escalated_to,
                    }),
                })
            },
        )?;
        Ok(true)
    })
}

/// Raise one alarm if it is still due and nobody raised it; false when skipped.
fn raise(
    conn: &mut PgConnection,
    id: DeadlineId,
    message_id: MessageId,
    overdue: bool,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    conn.transaction(|conn| {
        let Some(message) = lock_unless_busy(conn, message_id)? else {
            return Ok(false);
        };
        let Some(dl) = deadlines::get(conn, id)? else {
            return Ok(false);
        };
        let still_due = dl.state == DeadlineRecordState::Open
            && if overdue {
                dl.overdue_raised_at.is_none() && dl.due_at.is_some_and(|t| t <= now)
            } else {
                dl.due_soon_raised_at.is_none() && dl.due_soon_at.is_some_and(|t| t <= now)
            };
        if !still_due {
            return Ok(false);
        }
        let escalated_to = if overdue {
            supervisors_of(conn, &message.region_path)?
        } else {
            Vec::new()
        };
        let action = if overdue {
            MessageAction::DeadlineOverdue
        } else {
            MessageAction::DeadlineDueSoon
        };
        let payload = json!({
            "deadline_id": dl.id,
            "assignment_id": dl.assignment_id,
            "unit_id": dl.unit_id,
            "kind": dl.kind,
            "due_at": dl.due_at,
            "escalated_to": escalated_to,
        });
        messages::append_event(
            conn,
            message_id,
            EventActor::SYSTEM,
            action,
            Some(message.status),
            Some(message.status),
            payload,
            now,
        )?;
        deadlines::mark_raised(conn, dl.id, overdue, now, &escalated_to)?;
        Ok(true)
    })
}

/// The message row, locked for the rest of the transaction; `None` when another transaction
/// holds it (that replica is working on it; the next tick looks again).
fn lock_unless_busy(
    conn: &mut PgConnection,
    message_id: MessageId,
) -> Result<Option<Message>, ApiError> {
    use crate::schema::messages as m;
    Ok(m::table
        .find(message_id)
        .for_update()
        .skip_locked()
        .select(Message::as_select())
        .first(conn)
        .optional()?)
}

/// The supervisors of a region: active supervisor accounts whose scope is the deepest region on
/// the message's path that has any (a county's own supervisors before the city's).
fn supervisors_of(conn: &mut PgConnection, region_path: &str) -> Result<Vec<UserId>, ApiError> {
    use crate::domain::role::Role;
    use crate::schema::users as u;
    let codes: Vec<&str> = region_path.split('/').filter(|c| !c.is_empty()).collect();
    let rows: Vec<(UserId, Option<String>)> = u::table
        .filter(u::role.eq(Role::Supervisor.as_str()))
        .filter(u::active.eq(true))
        .filter(u::scope_region_code.eq_any(&codes))
        .select((u::id, u::scope_region_code))
        .load(conn)?;
    let depth = |code: &Option<String>| {
        code.as_deref()
            .and_then(|c| codes.iter().position(|x| *x == c))
            .unwrap_or(0)
    };
    let deepest = rows.iter().map(|(_, c)| depth(c)).max();
    Ok(rows
        .iter()
        .filter(|(_, c)| Some(depth(c)) == deepest)
        .map(|(id, _)| *id)
        .collect())
}
