//! Deadlines: the clock of each assignment. Every change happens under the message's row lock
//! (the callers hold it), so a deadline never races its own message.
//!
//! A deadline keeps its inputs (start, the policy's limit as it was, extensions, pauses) and the
//! due time computed from them with the working-day calendar. Open deadlines are recomputed when
//! the calendar or their policy changes; closed ones keep the due time and verdict they were
//! judged with.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::calendar::{self, Calendar, DayOverride, DeadlineInput, DueComputation, Pause};
use crate::domain::handling::{DeadlineKind, DeadlineRecordState, DeadlineState, verdict};
use crate::domain::ids::{AssignmentId, DeadlineId, LeaderId, UnitId, UserId};
use crate::domain::message::{MessageKind, Priority};
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::schema::deadlines as d;
use crate::store::messages::{Message, MessageId};

/// Read model.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = d)]
pub struct Deadline {
    pub id: DeadlineId,
    pub message_id: MessageId,
    pub assignment_id: AssignmentId,
    pub kind: DeadlineKind,
    pub unit_id: UnitId,
    pub intake_unit_id: UnitId,
    pub region_path: String,
    pub leader_id: LeaderId,
    pub priority: Priority,
    pub policy_id: uuid::Uuid,
    pub policy_version: i32,
    pub limit_days: i32,
    pub due_soon_days: i32,
    pub extension_days: i32,
    pub extension_count: i32,
    pub pauses: serde_json::Value,
    pub paused_since: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub start_action: String,
    pub start_event_seq: i32,
    pub due_at: Option<DateTime<Utc>>,
    pub due_soon_at: Option<DateTime<Utc>>,
    pub state: DeadlineRecordState,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by_action: Option<String>,
    pub due_soon_raised_at: Option<DateTime<Utc>>,
    pub overdue_raised_at: Option<DateTime<Utc>>,
    pub escalated_to: Vec<uuid::Uuid>,
    pub version: i32,
}

impl Deadline {
    pub fn state_at(&self, now: DateTime<Utc>) -> DeadlineState {
        crate::domain::handling::deadline_state(self.state, self.due_soon_at, self.due_at, now)
    }

    pub fn pause_list(&self) -> Vec<StoredPause> {
        serde_json::from_value(self.pauses.clone()).unwrap_or_default()
    }

    fn input(&self) -> DeadlineInput {
        DeadlineInput {
            started_at: self.started_at,
            limit_days: u32::try_from(self.limit_days).unwrap_or(0),
            extension_days: u32::try_from(self.extension_days).unwrap_or(0),
            pauses: self
                .pause_list()
                .into_iter()
                .map(|p| Pause {
                    from: p.from,
                    until: p.until,
                })
                .collect(),
            due_soon_days: u32::try_from(self.due_soon_days).unwrap_or(0),
        }
    }
}

fn pauses_json(p: &[StoredPause]) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(p).map_err(|e| ApiError::Internal(format!("pauses: {e}")))
}

/// A pause as stored in `deadlines.pauses`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredPause {
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

pub use crate::store::deadline_policies::DeadlinePolicy;

/// The limit a policy sets for a kind of deadline.
pub fn limit_of(p: &DeadlinePolicy, kind: DeadlineKind) -> i32 {
    match kind {
        DeadlineKind::SignFor => p.sign_for_days,
        DeadlineKind::Reply => p.reply_days,
    }
}

/// The policy for a message (see [`crate::store::deadline_policies::policy_for`]); an
/// unclassified message is handled as routine.
pub fn policy_for(
    conn: &mut PgConnection,
    priority: Option<Priority>,
    kind: MessageKind,
    category: crate::domain::ids::CategoryId,
) -> Result<DeadlinePolicy, ApiError> {
    crate::store::deadline_policies::policy_for(
        conn,
        priority.unwrap_or(Priority::Routine),
        kind,
        category,
    )
}

pub fn policy_by_id(conn: &mut PgConnection, id: uuid::Uuid) -> Result<DeadlinePolicy, ApiError> {
    crate::store::deadline_policies::get(conn, id)
}

/// The calendar overrides between two dates (inclusive), as the pure arithmetic wants them.
pub fn calendar(
    conn: &mut PgConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Calendar, ApiError> {
    let rows = super::calendar::overrides(conn, from, to)?;
    Ok(Calendar::new(
        rows.into_iter()
            .map(|(date, working)| DayOverride { date, working }),
    ))
}

/// The calendar a deadline's computation can touch: from its start to well past any due date
/// the policies allow (limits are capped at 180 working days plus 180 of extensions).
fn calendar_for(conn: &mut PgConnection, start: DateTime<Utc>) -> Result<Calendar, ApiError> {
    let from = calendar::local_date(start) - Duration::days(1);
    calendar(conn, from, from + Duration::days(366 * 3))
}

/// Compute due times; `None` while paused.
fn compute(cal: &Calendar, deadline: &Deadline) -> Option<DueComputation> {
    calendar::compute_due(cal, &deadline.input())
}

/// What starts a deadline.
pub struct Start<'a> {
    pub message: &'a Message,
    pub assignment_id: AssignmentId,
    pub unit_id: UnitId,
    pub kind: DeadlineKind,
    pub at: DateTime<Utc>,
    pub action: crate::domain::message::MessageAction,
    /// Sequence number of the ledger event that starts it.
    pub event_seq: i32,
}

/// Start the clock, under the policy in force now.
pub fn start(conn: &mut PgConnection, s: Start<'_>) -> Result<Deadline, ApiError> {
    let policy = policy_for(
        conn,
        s.message.priority,
        s.message.kind,
        s.message.category_id,
    )?;
    let mut row = Deadline {
        id: DeadlineId::new(),
        message_id: s.message.id,
        assignment_id: s.assignment_id,
        kind: s.kind,
        unit_id: s.unit_id,
        intake_unit_id: s.message.intake_unit_id,
        region_path: s.message.region_path.clone(),
        leader_id: s.message.leader_id,
        priority: s.message.priority.unwrap_or(Priority::Routine),
        policy_id: policy.id,
        policy_version: policy.version,
        limit_days: limit_of(&policy, s.kind),
        due_soon_days: policy.due_soon_days,
        extension_days: 0,
        extension_count: 0,
        pauses: serde_json::json!([]),
        paused_since: None,
        started_at: s.at,
        start_action: s.action.as_str().to_owned(),
        start_event_seq: s.event_seq,
        due_at: None,
        due_soon_at: None,
        state: DeadlineRecordState::Open,
        closed_at: None,
        closed_by_action: None,
        due_soon_raised_at: None,
        overdue_raised_at: None,
        escalated_to: Vec::new(),
        version: 1,
    };
    let cal = calendar_for(conn, s.at)?;
    let due = compute(&cal, &row)
        .ok_or_else(|| ApiError::Internal("a new deadline has no due time".into()))?;
    row.due_at = Some(due.due_at);
    row.due_soon_at = Some(due.due_soon_at);
    diesel::insert_into(d::table)
        .values((
            d::id.eq(row.id),
            d::message_id.eq(row.message_id),
            d::assignment_id.eq(row.assignment_id),
            d::kind.eq(row.kind),
            d::unit_id.eq(row.unit_id),
            d::intake_unit_id.eq(row.intake_unit_id),
            d::region_path.eq(&row.region_path),
            d::leader_id.eq(row.leader_id),
            d::priority.eq(row.priority),
            d::policy_id.eq(row.policy_id),
            d::policy_version.eq(row.policy_version),
            d::limit_days.eq(row.limit_days),
            d::due_soon_days.eq(row.due_soon_days),
            d::started_at.eq(row.started_at),
            d::start_action.eq(&row.start_action),
            d::start_event_seq.eq(row.start_event_seq),
            d::due_at.eq(row.due_at),
            d::due_soon_at.eq(row.due_soon_at),
            d::created_at.eq(s.at),
            d::updated_at.eq(s.at),
        ))
        .execute(conn)?;
    Ok(row)
}

pub fn get(conn: &mut PgConnection, id: DeadlineId) -> Result<Option<Deadline>, ApiError> {
    Ok(d::table
        .find(id)
        .select(Deadline::as_select())
        .first(conn)
        .optional()?)
}

/// Every deadline of some assignments.
pub fn of_assignments(
    conn: &mut PgConnection,
    ids: &[AssignmentId],
) -> Result<Vec<Deadline>, ApiError> {
    Ok(d::table
        .filter(d::assignment_id.eq_any(ids))
        .order((d::started_at.asc(), d::id.asc()))
        .select(Deadline::as_select())
        .load(conn)?)
}

/// Open deadlines of an assignment (of one kind, or all).
pub fn open_of(
    conn: &mut PgConnection,
    assignment: AssignmentId,
    kind: Option<DeadlineKind>,
) -> Result<Vec<Deadline>, ApiError> {
    let mut q = d::table
        .filter(d::assignment_id.eq(assignment))
        .filter(d::state.eq(DeadlineRecordState::Open))
        .select(Deadline::as_select())
        .into_boxed();
    if let Some(k) = kind {
        q = q.filter(d::kind.eq(k));
    }
    // No row lock of its own: callers hold the message's lock, which covers its deadlines.
    Ok(q.load(conn)?)
}

/// Close the open deadlines of an assignment's `kind`: met when closed by the due time, missed
/// after it. A paused clock is resumed first (the pause ends now). The verdict is final.
pub fn close(
    conn: &mut PgConnection,
    assignment: AssignmentId,
    kind: DeadlineKind,
    at: DateTime<Utc>,
    action: crate::domain::message::MessageAction,
) -> Result<Vec<(DeadlineId, DeadlineRecordState)>, ApiError> {
    let mut verdicts = Vec::new();
    for dl in open_of(conn, assignment, Some(kind))? {
        let dl = if dl.paused_since.is_some() {
            resume_one(conn, dl, at)?
        } else {
            dl
        };
        let due = dl
            .due_at
            .ok_or_else(|| ApiError::Internal("an open deadline without due time".into()))?;
        let state = verdict(due, at);
        diesel::update(d::table.find(dl.id))
            .set((
                d::state.eq(state),
                d::closed_at.eq(at),
                d::closed_by_action.eq(action.as_str()),
                d::version.eq(d::version + 1),
                d::updated_at.eq(at),
            ))
            .execute(conn)?;
        verdicts.push((dl.id, state));
    }
    Ok(verdicts)
}

/// End an assignment's open deadlines without a verdict (the unit is no longer responsible).
pub fn cancel(
    conn: &mut PgConnection,
    assignment: AssignmentId,
    at: DateTime<Utc>,
    action: crate::domain::message::MessageAction,
) -> Result<usize, ApiError> {
    Ok(diesel::update(
        d::table
            .filter(d::assignment_id.eq(assignment))
            .filter(d::state.eq(DeadlineRecordState::Open)),
    )
    .set((
        d::state.eq(DeadlineRecordState::Cancelled),
        d::closed_at.eq(at),
        d::closed_by_action.eq(action.as_str()),
        d::paused_since.eq(None::<DateTime<Utc>>),
        d::version.eq(d::version + 1),
        d::updated_at.eq(at),
    ))
    .execute(conn)?)
}

/// Stop the clock of an assignment's open reply deadline (the unit waits for the citizen).
pub fn pause(
    conn: &mut PgConnection,
    assignment: AssignmentId,
    at: DateTime<Utc>,
) -> Result<(), ApiError> {
    for dl in open_of(conn, assignment, Some(DeadlineKind::Reply))? {
        if dl.paused_since.is_some() {
            continue;
        }
        let mut pauses = dl.pause_list();
        pauses.push(StoredPause {
            from: at,
            until: None,
        });
        diesel::update(d::table.find(dl.id))
            .set((
                d::pauses.eq(pauses_json(&pauses)?),
                d::paused_since.eq(Some(at)),
                d::due_at.eq(None::<DateTime<Utc>>),
                d::due_soon_at.eq(None::<DateTime<Utc>>),
                d::version.eq(d::version + 1),
                d::updated_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Start the clock again after a pause; the paused working days are added to the limit.
pub fn resume(
    conn: &mut PgConnection,
    assignment: AssignmentId,
    at: DateTime<Utc>,
) -> Result<(), ApiError> {
    for dl in open_of(conn, assignment, Some(DeadlineKind::Reply))? {
        if dl.paused_since.is_some() {
            resume_one(conn, dl, at)?;
        }
    }
    Ok(())
}

fn resume_one(
    conn: &mut PgConnection,
    mut dl: Deadline,
    at: DateTime<Utc>,
) -> Result<Deadline, ApiError> {
    let mut pauses = dl.pause_list();
    for p in pauses.iter_mut().filter(|p| p.until.is_none()) {
        p.until = Some(at.max(p.from));
    }
    dl.pauses = pauses_json(&pauses)?;
    dl.paused_since = None;
    let cal = calendar_for(conn, dl.started_at)?;
    let due = compute(&cal, &dl)
        .ok_or_else(|| ApiError::Internal("a resumed deadline has no due time".into()))?;
    dl.due_at = Some(due.due_at);
    dl.due_soon_at = Some(due.due_soon_at);
    diesel::update(d::table.find(dl.id))
        .set((
            d::pauses.eq(&dl.pauses),
            d::paused_since.eq(None::<DateTime<Utc>>),
            d::due_at.eq(dl.due_at),
            d::due_soon_at.eq(dl.due_soon_at),
            d::version.eq(d::version + 1),
            d::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(dl)
}

/// Add approved extension days and move the due time. An alarm raised for the old due time stays
/// in the ledger; if the new due time lies ahead, the alarms may be raised again for it.
pub fn extend(
    conn: &mut PgConnection,
    id: DeadlineId,
    days: i32,
    now: DateTime<Utc>,
) -> Result<Deadline, ApiError> {
    let mut dl: Deadline = d::table
        .find(id)
        .for_update()
        .select(Deadline::as_select())
        .first(conn)?;
    if dl.state != DeadlineRecordState::Open {
        return Err(ApiError::Conflict(
            "the deadline is closed; extensions apply to running deadlines only".into(),
        ));
    }
    dl.extension_days += days;
    dl.extension_count += 1;
    let cal = calendar_for(conn, dl.started_at)?;
    let due = compute(&cal, &dl);
    dl.due_at = due.as_ref().map(|c| c.due_at);
    dl.due_soon_at = due.as_ref().map(|c| c.due_soon_at);
    let rearm_soon = dl.due_soon_at.is_some_and(|t| t > now);
    let rearm_overdue = dl.due_at.is_some_and(|t| t > now);
    if rearm_soon {
        dl.due_soon_raised_at = None;
    }
    if rearm_overdue {
        dl.overdue_raised_at = None;
    }
    diesel::update(d::table.find(id))
        .set((
            d::extension_days.eq(dl.extension_days),
            d::extension_count.eq(dl.extension_count),
            d::due_at.eq(dl.due_at),
            d::due_soon_at.eq(dl.due_soon_at),
            d::due_soon_raised_at.eq(dl.due_soon_raised_at),
            d::overdue_raised_at.eq(dl.overdue_raised_at),
            d::version.eq(d::version + 1),
            d::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(dl)
}

/// Recompute the due times of open deadlines after a calendar edit of `day`: only those whose
/// span covers that day can change. Closed deadlines keep their frozen verdicts.
pub fn recompute_for_calendar_day(
    conn: &mut PgConnection,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    let day_end = calendar::end_of_local_day(day);
    let day_start = day_end - Duration::days(1);
    let ids: Vec<DeadlineId> = d::table
        .filter(d::state.eq(DeadlineRecordState::Open))
        .filter(d::started_at.lt(day_end))
        .filter(d::due_at.is_null().or(d::due_at.gt(day_start)))
        .select(d::id)
        .load(conn)?;
    recompute(conn, &ids, None, now)
}

/// Recompute the open deadlines that run under a policy after it was edited: they follow the
/// new limits (recorded with the policy's new version); closed ones keep their verdicts.
pub fn recompute_for_policy(
    conn: &mut PgConnection,
    policy: &DeadlinePolicy,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    let ids: Vec<DeadlineId> = d::table
        .filter(d::state.eq(DeadlineRecordState::Open))
        .filter(d::policy_id.eq(policy.id))
        .select(d::id)
        .load(conn)?;
    recompute(conn, &ids, Some(policy), now)
}

fn recompute(
    conn: &mut PgConnection,
    ids: &[DeadlineId],
    policy: Option<&DeadlinePolicy>,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    let mut changed = 0;
    for chunk in ids.chunks(500) {
        // Locked, so an extension or pause committing meanwhile is not overwritten.
        let rows: Vec<Deadline> = d::table
            .filter(d::id.eq_any(chunk))
            .filter(d::state.eq(DeadlineRecordState::Open))
            .order(d::id)
            .for_update()
            .select(Deadline::as_select())
            .load(conn)?;
        let Some(earliest) = rows.iter().map(|r| r.started_at).min() else {
            continue;
        };
        let cal = calendar_for(conn, earliest)?;
        for mut dl in rows {
            if let Some(p) = policy {
                dl.limit_days = limit_of(p, dl.kind);
                dl.due_soon_days = p.due_soon_days;
                dl.policy_version = p.version;
            }
            let due = compute(&cal, &dl);
            let due_at = due.as_ref().map(|c| c.due_at);
            let due_soon_at = due.as_ref().map(|c| c.due_soon_at);
            if due_at == dl.due_at && due_soon_at == dl.due_soon_at && policy.is_none() {
                continue;
            }
            diesel::update(d::table.find(dl.id))
                .set((
                    d::limit_days.eq(dl.limit_days),
                    d::due_soon_days.eq(dl.due_soon_days),
                    d::policy_version.eq(dl.policy_version),
                    d::due_at.eq(due_at),
                    d::due_soon_at.eq(due_soon_at),
                    d::version.eq(d::version + 1),
                    d::updated_at.eq(now),
                ))
                .execute(conn)?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// The explanation of a deadline's due time: the computation with its trace.
pub fn explain(
    conn: &mut PgConnection,
    dl: &Deadline,
    now: DateTime<Utc>,
) -> Result<Option<DueComputation>, ApiError> {
    let cal = calendar_for(conn, dl.started_at)?;
    let mut input = dl.input();
    // A paused deadline is explained as if the pause ended now, so the figure is still defended.
    if dl.paused_since.is_some() {
        for p in input.pauses.iter_mut().filter(|p| p.until.is_none()) {
            p.until = Some(now.max(p.from));
        }
    }
    Ok(calendar::compute_due(&cal, &input))
}

pub use super::HandlingScope as Scope;

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub state: Option<DeadlineState>,
    pub unit_id: Option<UnitId>,
    pub region_path: Option<String>,
    pub leader_id: Option<LeaderId>,
    pub priority: Option<Priority>,
    pub kind: Option<DeadlineKind>,
    pub message_id: Option<MessageId>,
}

/// Sort key: due time (paused deadlines, which have none, last), then id.
pub type Cursor = (Option<DateTime<Utc>>, DeadlineId);

/// Which part of a unit's scope one query covers (see [`list`]).
#[derive(Clone, Copy)]
enum UnitPart {
    Whole,
    /// Deadlines of the unit's own assignments.
    Own(UnitId),
    /// Deadlines of messages the unit runs intake for, assigned to other units.
    IntakeOfOthers(UnitId),
}

/// The supervision view, sorted by due time.
///
/// A unit's scope (its own deadlines or those of messages it runs intake for) is an OR that no
/// index serves; it runs as two index-ordered queries merged here, each as cheap as one.
pub fn list(
    conn: &mut PgConnection,
    scope: &Scope,
    filter: &Filter,
    page: &PageRequest<Cursor>,
    now: DateTime<Utc>,
) -> Result<Vec<Deadline>, ApiError> {
    // Only deadlines due by this bound can be due soon (see `due_soon_bound`).
    let soon_bound = match filter.state {
        Some(DeadlineState::DueSoon) => Some(due_soon_bound(conn, now)?),
        _ => None,
    };
    let parts = match (scope, filter.unit_id) {
        (Scope::Unit(u), Some(f)) if f == *u => vec![UnitPart::Own(*u)],
        (Scope::Unit(u), Some(_)) => vec![UnitPart::IntakeOfOthers(*u)],
        (Scope::Unit(u), None) => vec![UnitPart::Own(*u), UnitPart::IntakeOfOthers(*u)],
        _ => vec![UnitPart::Whole],
    };
    let mut rows = Vec::new();
    for part in parts {
        rows.extend(list_part(conn, scope, part, filter, page, now, soon_bound)?);
    }
    rows.sort_by(|a, b| {
        // Due time ascending with paused (no due time) last, then id: the index order.
        (a.due_at.is_none(), a.due_at, a.id).cmp(&(b.due_at.is_none(), b.due_at, b.id))
    });
    rows.dedup_by_key(|r| r.id);
    rows.truncate(usize::try_from(page.fetch_limit()).unwrap_or(usize::MAX));
    Ok(rows)
}

/// The latest due time a due-soon deadline can have at `now`: a deadline is due soon once no
/// more than its `due_soon_days` working days are left, so its due date lies within that many
/// working days after today. With the largest `due_soon_days` of any policy this bounds the
/// index range to walk, so an empty or short due-soon list does not walk every future deadline.
fn due_soon_bound(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    use crate::schema::deadline_policies as dp;
    // Open deadlines carry their policy's value (a policy edit recomputes them), and policies
    // are never deleted, so the policies' largest value bounds every open deadline's.
    let k: i32 = dp::table
        .select(diesel::dsl::max(dp::due_soon_days))
        .first::<Option<i32>>(conn)?
        .unwrap_or(0)
        .max(0);
    let today = calendar::local_date(now);
    let cal = calendar(conn, today, today + Duration::days(400))?;
    let last = cal
        .checked_nth_working_day_after(today, u32::try_from(k).unwrap_or(0) + 1)
        .unwrap_or(today + Duration::days(400));
    Ok(calendar::end_of_local_day(last))
}

#[allow(clippy::too_many_arguments)]
fn list_part(
    conn: &mut PgConnection,
    scope: &Scope,
    part: UnitPart,
    filter: &Filter,
    page: &PageRequest<Cursor>,
    now: DateTime<Utc>,
    soon_bound: Option<DateTime<Utc>>,
) -> Result<Vec<Deadline>, ApiError> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
    let mut q = d::table.select(Deadline::as_select()).into_boxed();
    q = match (scope, part) {
        (_, UnitPart::Own(u)) => q.filter(d::unit_id.eq(u)),
        (_, UnitPart::IntakeOfOthers(u)) => {
            q.filter(d::intake_unit_id.eq(u)).filter(d::unit_id.ne(u))
        }
        (Scope::All, UnitPart::Whole) => q,
        (Scope::RegionPath(p), UnitPart::Whole) => {
            q.filter(d::region_path.like(super::like_prefix(p)))
        }
        (Scope::Unit(u), UnitPart::Whole) => {
            q.filter(d::unit_id.eq(*u).or(d::intake_unit_id.eq(*u)))
        }
    };
    let mut may_be_paused = true;
    if let Some(state) = filter.state {
        let open = DeadlineRecordState::Open;
        q = match state {
            DeadlineState::OnTrack => q
                .filter(d::state.eq(open))
                .filter(d::due_at.gt(now))
                .filter(d::due_soon_at.gt(now)),
            DeadlineState::DueSoon => q
                .filter(d::state.eq(open))
                .filter(d::due_at.gt(now))
                .filter(d::due_at.le(soon_bound.unwrap_or(now)))
                .filter(d::due_soon_at.le(now)),
            DeadlineState::Overdue => q.filter(d::state.eq(open)).filter(d::due_at.le(now)),
            DeadlineState::Paused => q.filter(d::state.eq(open)).filter(d::due_at.is_null()),
            DeadlineState::Met => q.filter(d::state.eq(DeadlineRecordState::Met)),
            DeadlineState::Missed => q.filter(d::state.eq(DeadlineRecordState::Missed)),
            DeadlineState::Cancelled => q.filter(d::state.eq(DeadlineRecordState::Cancelled)),
        };
        may_be_paused = matches!(state, DeadlineState::Paused | DeadlineState::Cancelled);
    }
    if let Some(u) = filter.unit_id {
        q = q.filter(d::unit_id.eq(u));
    }
    if let Some(p) = &filter.region_path {
        q = q.filter(d::region_path.like(super::like_prefix(p)));
    }
    if let Some(l) = filter.leader_id {
        q = q.filter(d::leader_id.eq(l));
    }
    if let Some(p) = filter.priority {
        q = q.filter(d::priority.eq(p));
    }
    if let Some(k) = filter.kind {
        q = q.filter(d::kind.eq(k));
    }
    if let Some(m) = filter.message_id {
        q = q.filter(d::message_id.eq(m));
    }
    // Row-value keyset in the index order (due_at ASC NULLS LAST, id ASC).
    q = match &page.after {
        None => q,
        Some((Some(t), id)) => {
            let after = sql::<Bool>("(deadlines.due_at, deadlines.id) > (")
                .bind::<Timestamptz, _>(*t)
                .sql(", ")
                .bind::<SqlUuid, _>(id.0)
                .sql(")");
            if may_be_paused {
                q.filter(after.or(d::due_at.is_null()))
            } else {
                q.filter(after)
            }
        }
        Some((None, id)) => q.filter(d::due_at.is_null()).filter(d::id.gt(*id)),
    };
    Ok(q.order((d::due_at.asc(), d::id.asc()))
        .limit(page.fetch_limit())
        .load(conn)?)
}

/// Deadlines whose due-soon alarm is due and not raised (the scheduler's queue).
pub fn due_soon_candidates(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(DeadlineId, MessageId)>, ApiError> {
    Ok(d::table
        .filter(d::state.eq(DeadlineRecordState::Open))
        .filter(d::due_soon_raised_at.is_null())
        .filter(d::due_soon_at.is_not_null())
        .filter(d::due_soon_at.le(now))
        .order(d::due_soon_at.asc())
        .limit(limit)
        .select((d::id, d::message_id))
        .load(conn)?)
}

/// Deadlines whose overdue alarm is due and not raised.
pub fn overdue_candidates(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(DeadlineId, MessageId)>, ApiError> {
    Ok(d::table
        .filter(d::state.eq(DeadlineRecordState::Open))
        .filter(d::overdue_raised_at.is_null())
        .filter(d::due_at.is_not_null())
        .filter(d::due_at.le(now))
        .order(d::due_at.asc())
        .limit(limit)
        .select((d::id, d::message_id))
        .load(conn)?)
}

/// Mark an alarm raised (the caller holds the message lock and re-checked the condition).
pub fn mark_raised(
    conn: &mut PgConnection,
    id: DeadlineId,
    overdue: bool,
    at: DateTime<Utc>,
    escalated_to: &[UserId],
) -> Result<(), ApiError> {
    let target = d::table.find(id);
    if overdue {
        let ids: Vec<uuid::Uuid> = escalated_to.iter().map(|u| u.0).collect();
        diesel::update(target)
            .set((d::overdue_raised_at.eq(Some(at)), d::escalated_to.eq(ids)))
            .execute(conn)?;
    } else {
        diesel::update(target)
            .set(d::due_soon_raised_at.eq(Some(at)))
            .execute(conn)?;
    }
    Ok(())
}
