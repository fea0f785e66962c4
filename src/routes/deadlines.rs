//! The supervision view of deadlines and the explanation of each due time.

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::auth::Principal;
use crate::db::Db;
use crate::domain::calendar::{self, Calendar, due_date};
use crate::domain::handling::{DeadlineKind, DeadlineState};
use crate::domain::ids::{AssignmentId, DeadlineId, LeaderId, UnitId, UserId};
use crate::domain::message::Priority;
use crate::error::ApiError;
use crate::http::extract::{ApiQuery, parse_path_id};
use crate::http::pagination::{PageRequest, finish_page};
use crate::store::deadlines::{self as store, Deadline};

/// One row of the supervision view: which message, which unit, which limit, and how it stands.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b02",
    "message_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0c01", "tracking_no": "GS-2026-000123",
    "message_title": "城关区某路口红绿灯损坏",
    "assignment_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b01",
    "unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c", "unit_name": "兰州市城关区人民政府",
    "kind": "reply", "state": "due_soon", "priority": "routine",
    "leader_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a3d",
    "started_at": "2026-11-09T02:00:00Z", "due_at": "2026-11-27T16:00:00Z",
    "due_soon_at": "2026-11-26T16:00:00Z", "working_days_left": 1, "working_days_late": null,
    "limit_days": 15, "extension_days": 0, "closed_at": null,
    "policy_id": "00000000-0000-7000-8000-00000000d002", "policy_version": 1,
    "escalated_to": []
}))]
pub struct DeadlineDto {
    pub id: DeadlineId,
    #[schema(value_type = String, format = Uuid)]
    pub message_id: uuid::Uuid,
    #[schema(max_length = 40)]
    pub tracking_no: String,
    #[schema(max_length = 100)]
    pub message_title: String,
    pub assignment_id: AssignmentId,
    pub unit_id: UnitId,
    #[schema(max_length = 100)]
    pub unit_name: String,
    pub kind: DeadlineKind,
    /// How it stands now (see `GET /deadlines` for the definitions).
    pub state: DeadlineState,
    pub priority: Priority,
    pub leader_id: LeaderId,
    /// When the clock started (assignment for `sign_for`, sign-for or claim for `reply`).
    pub started_at: DateTime<Utc>,
    /// End of the last working day allowed (local midnight, Asia/Shanghai); `null` while paused.
    pub due_at: Option<DateTime<Utc>>,
    /// From this instant the deadline is `due_soon`.
    pub due_soon_at: Option<DateTime<Utc>>,
    /// Working days left, today included while it lasts; only for running deadlines in time.
    #[schema(format = Int32, minimum = 0)]
    pub working_days_left: Option<i32>,
    /// Working days past the due date; for overdue and missed deadlines.
    #[schema(format = Int32, minimum = 0)]
    pub working_days_late: Option<i32>,
    /// The policy's limit in working days, as it was when the clock started.
    #[schema(format = Int32, minimum = 0)]
    pub limit_days: i32,
    /// Approved extensions, working days.
    #[schema(format = Int32, minimum = 0)]
    pub extension_days: i32,
    pub closed_at: Option<DateTime<Utc>>,
    #[schema(value_type = String, format = Uuid)]
    pub policy_id: uuid::Uuid,
    #[schema(format = Int32, minimum = 1)]
    pub policy_version: i32,
    /// Supervisors the overdue alarm escalated to.
    #[schema(max_items = 100)]
    pub escalated_to: Vec<UserId>,
}

crate::page_type!(DeadlinePage, DeadlineDto, "A page of deadlines.");

/// The calendar covering every due date a page can show.
fn calendar_around(
    conn: &mut PgConnection,
    rows: &[Deadline],
    now: DateTime<Utc>,
) -> Result<Calendar, ApiError> {
    let mut from = calendar::local_date(now);
    let mut to = from;
    for r in rows {
        for t in [Some(r.started_at), r.due_at, r.closed_at]
            .into_iter()
            .flatten()
        {
            let d = calendar::local_date(t);
            from = from.min(d);
            to = to.max(d);
        }
    }
    store::calendar(conn, from - Duration::days(1), to + Duration::days(1))
}

/// Map deadlines to wire rows (one query each for their messages and units).
pub fn to_dtos(
    conn: &mut PgConnection,
    rows: Vec<Deadline>,
    now: DateTime<Utc>,
) -> Result<Vec<DeadlineDto>, ApiError> {
    use crate::schema::{messages as m, units as u};
    use std::collections::HashMap;
    let message_ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.message_id).collect();
    let unit_ids: Vec<UnitId> = rows.iter().map(|r| r.unit_id).collect();
    let messages: HashMap<uuid::Uuid, (String, String)> = m::table
        .filter(m::id.eq_any(&message_ids))
        .select((m::id, m::tracking_no, m::title))
        .load::<(uuid::Uuid, String, String)>(conn)?
        .into_iter()
        .map(|(id, t, title)| (id, (t, title)))
        .collect();
    let units: HashMap<UnitId, String> = u::table
        .filter(u::id.eq_any(&unit_ids))
        .select((u::id, u::name))
        .load::<(UnitId, String)>(conn)?
        .into_iter()
        .collect();
    let cal = calendar_around(conn, &rows, now)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let state = r.state_at(now);
            let (left, late) = match (state, r.due_at) {
                (DeadlineState::OnTrack | DeadlineState::DueSoon, Some(due)) => (
                    Some(calendar::working_days_left(&cal, now, due_date(due)).max(0)),
                    None,
                ),
                (DeadlineState::Overdue, Some(due)) => (
                    None,
                    Some(
                        cal.working_days_between(due_date(due), calendar::local_date(now))
                            .try_into()
                            .unwrap_or(i32::MAX),
                    ),
                ),
                (DeadlineState::Missed, Some(due)) => (
                    None,
                    r.closed_at.map(|c| {
                        cal.working_days_between(due_date(due), calendar::local_date(c))
                            .try_into()
                            .unwrap_or(i32::MAX)
                    }),
                ),
                _ => (None, None),
            };
            let (tracking_no, message_title) =
                messages.get(&r.message_id).cloned().unwrap_or_default();
            DeadlineDto {
                id: r.id,
                message_id: r.message_id,
                tracking_no,
                message_title,
                assignment_id: r.assignment_id,
                unit_id: r.unit_id,
                unit_name: units.get(&r.unit_id).cloned().unwrap_or_default(),
                kind: r.kind,
                state,
                priority: r.priority,
                leader_id: r.leader_id,
                started_at: r.started_at,
                due_at: r.due_at,
                due_soon_at: r.due_soon_at,
                working_days_left: left,
                working_days_late: late,
                limit_days: r.limit_days,
                extension_days: r.extension_days,
                closed_at: r.closed_at,
                policy_id: r.policy_id,
                policy_version: r.policy_version,
                escalated_to: r.escalated_to.into_iter().map(UserId).collect(),
            }
        })
        .collect())
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListDeadlinesQuery {
    /// `on_track`, `due_soon`, `overdue`, `paused` (running deadlines, by the clock now), `met`,
    /// `missed`, `cancelled` (closed ones).
    #[param(inline)]
    pub state: Option<DeadlineState>,
    /// The unit that must act.
    pub unit_id: Option<UnitId>,
    /// Region subtree (GB/T 2260 code) of the messages.
    #[param(max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "crate::http::validate::validate_region_code"))]
    pub region_code: Option<String>,
    pub leader_id: Option<LeaderId>,
    #[param(inline)]
    pub priority: Option<Priority>,
    #[param(inline)]
    pub kind: Option<DeadlineKind>,
    /// Deadlines of one message.
    #[param(value_type = Option<String>, format = Uuid)]
    pub message_id: Option<uuid::Uuid>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// The supervision view ("establish a ledger, inspect, check the deadline"): deadlines sorted by
/// due time, soonest first (paused ones last), keyset paginated.
///
/// States at the time of the request: `overdue` = running and `due_at` has passed; `due_soon` =
/// running, not overdue, and `due_soon_at` has passed (the policy's due-soon working days
/// remain); `on_track` = running before `due_soon_at`; `paused` = waiting for the citizen to
/// clarify; `met` / `missed` = closed by the due time or after it (frozen verdicts); `cancelled`
/// = ended by a return or transfer. Unit staff see their unit's deadlines and those of messages
/// their unit runs intake for; supervisors, analysts and leaders their region subtree.
#[utoipa::path(
    operation_id = "list_deadlines",
    tag = "handling",
    params(ListDeadlinesQuery),
    responses((status = 200, description = "A page of deadlines", body = DeadlinePage))
)]
#[get("/deadlines")]
pub async fn list_deadlines(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    query: ApiQuery<ListDeadlinesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page: PageRequest<store::Cursor> = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let limit = page.limit;
    let now = crate::http::now(&req);
    let p = principal.clone();
    let items = db
        .run(move |conn| {
            let scope = crate::app::access::handling_scope(conn, &p)?;
            let filter = store::Filter {
                state: q.state,
                unit_id: q.unit_id,
                region_path: match &q.region_code {
                    Some(code) => Some(crate::store::regions::path_of(conn, code)?),
                    None => None,
                },
                leader_id: q.leader_id,
                priority: q.priority,
                kind: q.kind,
                message_id: q.message_id,
            };
            let rows = store::list(conn, &scope, &filter, &page, now)?;
            let (rows, next) = finish_page(rows, limit, |r| (r.due_at, r.id));
            Ok::<_, ApiError>((to_dtos(conn, rows, now)?, next))
        })
        .await?;
    Ok(HttpResponse::Ok().json(DeadlinePage {
        items: items.0,
        next_cursor: items.1,
    }))
}

/// What started the clock.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClockStart {
    /// The ledger action (`assign`, `claim`, `sign_for`, `transfer`).
    #[schema(max_length = 40)]
    pub action: String,
    /// Its sequence number in the message's ledger.
    #[schema(format = Int32, minimum = 1)]
    pub event_seq: i32,
    pub at: DateTime<Utc>,
    /// The local (Asia/Shanghai) date of the start; it is not counted (day 1 is the next
    /// working day).
    pub local_date: NaiveDate,
}

/// The policy the deadline runs under, as recorded.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyApplied {
    #[schema(value_type = String, format = Uuid)]
    pub id: uuid::Uuid,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
    #[schema(format = Int32, minimum = 0)]
    pub limit_days: i32,
    #[schema(format = Int32, minimum = 0)]
    pub due_soon_days: i32,
}

/// A pause of the clock.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PauseDto {
    pub from: DateTime<Utc>,
    /// `null` while it lasts.
    pub until: Option<DateTime<Utc>>,
}

/// An approved extension.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExtensionApplied {
    #[schema(value_type = String, format = Uuid)]
    pub id: uuid::Uuid,
    #[schema(format = Int32, minimum = 1)]
    pub days: i32,
    pub approved_at: Option<DateTime<Utc>>,
    pub approved_by: Option<UserId>,
}

/// The working-day count.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkingDayCount {
    /// limit + extensions + paused working days.
    #[schema(format = Int32, minimum = 0)]
    pub total_days: u32,
    /// Working days the clock stood still (a pause from day P to day R adds the working days
    /// after P up to and including R).
    #[schema(format = Int32, minimum = 0)]
    pub paused_days: u32,
    pub due_date: NaiveDate,
    pub due_at: DateTime<Utc>,
    pub due_soon_at: DateTime<Utc>,
    /// The working days counted, in order.
    #[schema(max_items = 1000)]
    pub counted_days: Vec<NaiveDate>,
    /// Public holidays on weekdays that the count skipped.
    #[schema(max_items = 1000)]
    pub holidays_crossed: Vec<NaiveDate>,
    /// Weekend days that were working days (调休) and counted.
    #[schema(max_items = 1000)]
    pub make_up_days_crossed: Vec<NaiveDate>,
}

/// A due time with everything needed to defend it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "deadline": {
        "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b02",
        "message_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0c01", "tracking_no": "GS-2026-000123",
        "message_title": "国庆期间公交线路调整", "assignment_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b01",
        "unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c", "unit_name": "兰州市交通运输局",
        "kind": "reply", "state": "met", "priority": "important",
        "leader_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a3d",
        "started_at": "2026-09-29T02:00:00Z", "due_at": "2026-10-12T16:00:00Z",
        "due_soon_at": "2026-10-11T16:00:00Z", "working_days_left": null, "working_days_late": null,
        "limit_days": 5, "extension_days": 0, "closed_at": "2026-10-10T03:00:00Z",
        "policy_id": "00000000-0000-7000-8000-00000000d001", "policy_version": 1, "escalated_to": []
    },
    "start": {"action": "sign_for", "event_seq": 4, "at": "2026-09-29T02:00:00Z", "local_date": "2026-09-29"},
    "policy": {"id": "00000000-0000-7000-8000-00000000d001", "version": 1, "limit_days": 5, "due_soon_days": 1},
    "count": {
        "total_days": 5, "paused_days": 0, "due_date": "2026-10-12", "due_at": "2026-10-12T16:00:00Z",
        "due_soon_at": "2026-10-11T16:00:00Z",
        "counted_days": ["2026-09-30", "2026-10-08", "2026-10-09", "2026-10-10", "2026-10-12"],
        "holidays_crossed": ["2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06", "2026-10-07"],
        "make_up_days_crossed": ["2026-10-10"]
    },
    "pauses": [], "extensions": [],
    "summary": "5 working days from 2026-09-29 (not counted): due at the end of 2026-10-12 (Asia/Shanghai)."
}))]
pub struct DeadlineExplanation {
    pub deadline: DeadlineDto,
    pub start: ClockStart,
    pub policy: PolicyApplied,
    /// `null` only if the calendar cannot produce a due date (an absurd calendar).
    pub count: Option<WorkingDayCount>,
    #[schema(max_items = 100)]
    pub pauses: Vec<PauseDto>,
    #[schema(max_items = 100)]
    pub extensions: Vec<ExtensionApplied>,
    /// The computation in one sentence.
    #[schema(max_length = 1000)]
    pub summary: String,
}

/// Explain a due time: the start event, the policy, the working days counted, the holidays and
/// make-up days crossed, the pauses and the extensions. A paused deadline is explained as if
/// the pause ended now.
#[utoipa::path(
    operation_id = "get_deadline_explanation",
    tag = "handling",
    params(("id" = String, Path, format = Uuid, description = "Deadline id")),
    responses(
        (status = 200, description = "The due time and its trace", body = DeadlineExplanation),
        (status = 404, description = "No such deadline, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/deadlines/{id}/explanation")]
pub async fn get_deadline_explanation(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: DeadlineId = parse_path_id(&id, "deadline")?;
    let now = crate::http::now(&req);
    let p = principal.clone();
    let explanation = db
        .run(move |conn| {
            let dl = store::get(conn, id)?.ok_or_else(|| ApiError::not_found("deadline"))?;
            let visible = crate::app::access::handling_scope(conn, &p)?
                .covers(&dl.region_path, &[dl.unit_id, dl.intake_unit_id]);
            if !visible {
                return Err(ApiError::not_found("deadline"));
            }
            let count = store::explain(conn, &dl, now)?;
            let extensions = crate::store::extensions::approved_for(conn, dl.id)?;
            let pauses = dl
                .pause_list()
                .into_iter()
                .map(|p| PauseDto {
                    from: p.from,
                    until: p.until,
                })
                .collect();
            let start = ClockStart {
                action: dl.start_action.clone(),
                event_seq: dl.start_event_seq,
                at: dl.started_at,
                local_date: calendar::local_date(dl.started_at),
            };
            let policy = PolicyApplied {
                id: dl.policy_id,
                version: dl.policy_version,
                limit_days: dl.limit_days,
                due_soon_days: dl.due_soon_days,
            };
            let summary = match &count {
                Some(c) => format!(
                    "{} working days ({} limit + {} extension + {} paused) from {} (not \
                     counted): due at the end of {} (Asia/Shanghai).",
                    c.total_days,
                    dl.limit_days,
                    dl.extension_days,
                    c.paused_days,
                    start.local_date,
                    c.due_date
                ),
                None => "the calendar yields no due date".to_owned(),
            };
            let count = count.map(|c| WorkingDayCount {
                total_days: c.total_days,
                paused_days: c.paused_days,
                due_date: c.due_date,
                due_at: c.due_at,
                due_soon_at: c.due_soon_at,
                counted_days: c.counted,
                holidays_crossed: c.holidays_crossed,
                make_up_days_crossed: c.make_up_days_crossed,
            });
            let deadline = to_dtos(conn, vec![dl], now)?
                .pop()
                .ok_or_else(|| ApiError::Internal("deadline row lost".into()))?;
            Ok(DeadlineExplanation {
                deadline,
                start,
                policy,
                count,
                pauses,
                extensions: extensions
                    .into_iter()
                    .map(|x| ExtensionApplied {
                        id: x.id.0,
                        days: x.days,
                        approved_at: x.decided_at,
                        approved_by: x.decided_by,
                    })
                    .collect(),
                summary,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(explanation))
}
