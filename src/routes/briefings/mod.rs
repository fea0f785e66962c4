//! Weekly briefings (摘报): the liaison office compiles, for a period, the messages worth a
//! leader's attention; the API proposes ranked candidates (`domain::briefings`), editors pick
//! items and write summaries, submit; a leader of the region records an instruction (批示) per
//! item — an ordinary leader instruction on the message — and marks the briefing reviewed. The
//! briefing downloads as a Word document.
//!
//! Who: editors are administrators (everywhere), supervisors (their region subtree) and staff of
//! a liaison office, i.e. of a unit that is a leader's intake unit (its territory). Leaders read
//! the submitted briefings of their region subtree and review them. Everyone else: 403; a
//! briefing outside the caller's reach: 404.

pub mod document;
pub mod review;

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::{Connection, PgConnection};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::auth::Principal;
use crate::db::Db;
use crate::domain::briefings::{self as rules, BriefingReason, BriefingStatus, Pick, Ranked};
use crate::domain::calendar::{end_of_local_day, local_date, shanghai, start_of_local_day};
use crate::domain::ids::{BriefingId, CategoryId, LeaderId, UnitId, UserId};
use crate::domain::message::{MessageStatus, Priority};
use crate::domain::reference::UnitKind;
use crate::domain::role::Role;
use crate::error::{ApiError, FieldError};
use crate::http::docx::{self, BriefingDocument, DocumentItem};
use crate::http::extract::parse_message_id;
use crate::http::extract::{ApiJson, ApiQuery, parse_path_id};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag, respond_with_etag};
use crate::routes::supervision::{InstructionDto, record_instruction};
use crate::store::briefings::{self as store, Briefing, Item, ItemView, Selection, Window};

// ---------------------------------------------------------------------------------------------
// Standing

/// The caller's standing towards briefings.
enum Standing {
    /// Compiles briefings of a region subtree (`None`: everywhere). A liaison office's staff
    /// (`unit`) compile from and read what the access model lets their unit read: its intake
    /// and what it handles, and the briefings its own staff compiled.
    Editor {
        territory: Option<String>,
        unit: Option<UnitId>,
    },
    /// Reads the submitted briefings of a region subtree and reviews them.
    Leader { scope: String },
}

fn standing(conn: &mut PgConnection, p: &Principal) -> Result<Standing, ApiError> {
    match p.role {
        Role::Admin => Ok(Standing::Editor {
            territory: None,
            unit: None,
        }),
        Role::Supervisor => match &p.scope_region {
            Some(code) => Ok(Standing::Editor {
                territory: Some(code.clone()),
                unit: None,
            }),
            None => Err(ApiError::Forbidden(
                "your account has no region scope to compile briefings for".into(),
            )),
        },
        Role::Handler | Role::UnitAdmin | Role::Reviewer => {
            let Some(unit) = p.unit_id else {
                return Err(ApiError::Forbidden(
                    "your account belongs to no unit".into(),
                ));
            };
            let u = crate::store::units::get(conn, unit)?;
            let liaison = u.active
                && (u.kind == UnitKind::LiaisonOffice || store::unit_runs_intake(conn, unit)?);
            if liaison {
                Ok(Standing::Editor {
                    territory: Some(u.region_code),
                    unit: Some(unit),
                })
            } else {
                Err(ApiError::Forbidden(
                    "briefings are compiled by the liaison office (a leader's intake unit)".into(),
                ))
            }
        }
        Role::Leader => match &p.scope_region {
            Some(code) => Ok(Standing::Leader {
                scope: code.clone(),
            }),
            None => Err(ApiError::Forbidden(
                "your account has no region scope to read briefings for".into(),
            )),
        },
        _ => Err(ApiError::Forbidden("role may not read briefings".into())),
    }
}

/// 404 unless the caller may see the briefing: editors those of their territory, leaders the
/// submitted and reviewed ones of their region subtree.
fn check_visible(conn: &mut PgConnection, s: &Standing, b: &Briefing) -> Result<(), ApiError> {
    let (root, drafts, unit) = match s {
        Standing::Editor {
            territory: None, ..
        } => return Ok(()),
        Standing::Editor {
            territory: Some(code),
            unit,
        } => (code, true, *unit),
        Standing::Leader { scope } => (scope, false, None),
    };
    let path = crate::store::regions::path_of(conn, root)?;
    let ours = match unit {
        Some(u) => store::compiled_by_unit(conn, b.id, u)?,
        None => true,
    };
    if ours && b.region_path.starts_with(&path) && (drafts || b.status != BriefingStatus::Draft) {
        Ok(())
    } else {
        Err(ApiError::not_found("briefing"))
    }
}

fn require_editor(s: &Standing) -> Result<(), ApiError> {
    match s {
        Standing::Editor { .. } => Ok(()),
        Standing::Leader { .. } => Err(ApiError::Forbidden(
            "leaders review briefings; the liaison office compiles them".into(),
        )),
    }
}

fn parse_id(raw: &str) -> Result<BriefingId, ApiError> {
    parse_path_id::<BriefingId>(raw, "briefing")
}

/// Load a briefing the caller may see (404 otherwise), with the caller's standing.
fn visible(
    conn: &mut PgConnection,
    p: &Principal,
    id: BriefingId,
    lock: bool,
) -> Result<(Standing, Briefing), ApiError> {
    let s = standing(conn, p)?;
    let found = if lock {
        store::lock(conn, id)?
    } else {
        store::get(conn, id)?
    };
    let b = found.ok_or_else(|| ApiError::not_found("briefing"))?;
    check_visible(conn, &s, &b)?;
    Ok((s, b))
}

// ---------------------------------------------------------------------------------------------
// Wire types

/// A briefing without its items (as lists show it).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b0b", "title": "领导留言摘报（2026-11-16至2026-11-22）",
    "period_from": "2026-11-16", "period_to": "2026-11-22", "region_code": "620100",
    "status": "draft", "candidates_found": 42, "selected": 0,
    "created_by": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b", "created_at": "2026-11-23T01:00:00Z",
    "updated_at": "2026-11-23T01:00:00Z", "submitted_by": null, "submitted_at": null,
    "reviewed_by": null, "reviewed_at": null, "version": 1
}))]
pub struct BriefingHeader {
    pub id: BriefingId,
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// First day of the period (Asia/Shanghai).
    pub period_from: NaiveDate,
    /// Last day of the period, included.
    pub period_to: NaiveDate,
    /// The region subtree the briefing covers.
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub region_code: String,
    pub status: BriefingStatus,
    /// Candidates the search found (the best 500 are kept).
    #[schema(format = Int32, minimum = 0)]
    pub candidates_found: i32,
    /// Items selected (in lists: null).
    #[schema(format = Int32, minimum = 0)]
    pub selected: Option<i32>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub submitted_by: Option<UserId>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub reviewed_by: Option<UserId>,
    pub reviewed_at: Option<DateTime<Utc>>,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
}

fn header_of(b: &Briefing, selected: Option<i32>) -> BriefingHeader {
    BriefingHeader {
        id: b.id,
        title: b.title.clone(),
        period_from: b.period_from,
        period_to: b.period_to,
        region_code: b.region_code.clone(),
        status: b.status,
        candidates_found: b.candidates_found,
        selected,
        created_by: b.created_by,
        created_at: b.created_at,
        updated_at: b.updated_at,
        submitted_by: b.submitted_by,
        submitted_at: b.submitted_at,
        reviewed_by: b.reviewed_by,
        reviewed_at: b.reviewed_at,
        version: b.version,
    }
}

/// A candidate of a briefing (an item when selected): the message as staff see it, without the
/// citizen's personal data, why it was proposed, and what the editors and the leader made of it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "message_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0c01", "tracking_no": "GS-2026-000123",
    "title": "庆阳路口红绿灯坏了", "region_code": "620102", "region_name": "城关区",
    "category_id": "01930000-0000-7000-8000-000000000002", "category_name": "交通运输",
    "leader_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a3d",
    "unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c", "unit_name": "兰州市交通运输局",
    "status": "in_progress", "priority": "important", "submitted_at": "2026-11-17T02:00:00Z",
    "rank": 1, "score": 190, "reasons": ["important", "supervised", "cluster"],
    "cluster_label": "交通运输 · 城关区", "overdue_days": null, "selected": true, "position": 1,
    "summary": "城关区庆阳路口信号灯损坏三天，已督办交通运输局限期修复。", "instruction": null
}))]
pub struct BriefingItemDto {
    #[schema(value_type = String, format = Uuid)]
    pub message_id: uuid::Uuid,
    #[schema(max_length = 30)]
    pub tracking_no: String,
    #[schema(max_length = 100)]
    pub title: String,
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub region_code: String,
    #[schema(max_length = 200)]
    pub region_name: String,
    pub category_id: CategoryId,
    #[schema(max_length = 200)]
    pub category_name: String,
    pub leader_id: LeaderId,
    /// The lead unit, when there is one.
    pub unit_id: Option<UnitId>,
    #[schema(max_length = 200)]
    pub unit_name: Option<String>,
    pub status: MessageStatus,
    pub priority: Option<Priority>,
    pub submitted_at: DateTime<Utc>,
    /// Place in the ranking (1 = first).
    #[schema(format = Int32, minimum = 1)]
    pub rank: i32,
    /// The ranking score: the sum of the reasons' weights (important 100, keyword_alert 60,
    /// supervised 50, unsatisfied 40, long_overdue 30 plus a point per day beyond ten (at most
    /// 30), cluster 30/20/10 for the first/second/third cluster) plus 10 when submitted in the
    /// period.
    #[schema(format = Int32, minimum = 0)]
    pub score: i32,
    #[schema(min_items = 1, max_items = 6)]
    pub reasons: Vec<BriefingReason>,
    /// For `cluster`: 「category · region」.
    #[schema(max_length = 200)]
    pub cluster_label: Option<String>,
    /// For `long_overdue`: days past due of the oldest open deadline at the end of the period.
    #[schema(format = Int32, minimum = 0)]
    pub overdue_days: Option<i32>,
    pub selected: bool,
    /// Order in the briefing (selected items).
    #[schema(format = Int32, minimum = 1, maximum = 1000)]
    pub position: Option<i32>,
    /// The editors' summary (selected items).
    #[schema(max_length = 2000)]
    pub summary: Option<String>,
    /// The leader's instruction given on this item.
    pub instruction: Option<InstructionDto>,
}

/// A briefing with its items and every candidate.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BriefingDto {
    #[serde(flatten)]
    pub briefing: BriefingHeader,
    /// The selected items, by position.
    #[schema(max_items = 500)]
    pub items: Vec<BriefingItemDto>,
    /// Every candidate, selected or not, by rank.
    #[schema(max_items = 500)]
    pub candidates: Vec<BriefingItemDto>,
}

crate::page_type!(
    BriefingPage,
    BriefingHeader,
    "A page of briefings, newest first."
);

/// Display names of what the items refer to.
struct Names {
    regions: HashMap<String, String>,
    units: HashMap<UnitId, String>,
    categories: HashMap<CategoryId, String>,
}

fn names(conn: &mut PgConnection, views: &[ItemView]) -> Result<Names, ApiError> {
    let codes: Vec<String> = views
        .iter()
        .map(|v| v.message.region_code.clone())
        .collect();
    let units: Vec<UnitId> = views.iter().filter_map(|v| v.message.unit_id).collect();
    let cats: Vec<CategoryId> = views.iter().map(|v| v.message.category_id).collect();
    Ok(Names {
        regions: store::region_names(conn, &codes)?,
        units: store::unit_names(conn, &units)?,
        categories: store::category_names(conn, &cats)?,
    })
}

fn item_dto(
    v: &ItemView,
    names: &Names,
    instructions: &HashMap<uuid::Uuid, InstructionDto>,
) -> BriefingItemDto {
    let m = &v.message;
    let i = &v.item;
    BriefingItemDto {
        message_id: i.message_id,
        tracking_no: m.tracking_no.clone(),
        title: m.title.clone(),
        region_code: m.region_code.clone(),
        region_name: names
            .regions
            .get(&m.region_code)
            .cloned()
            .unwrap_or_default(),
        category_id: m.category_id,
        category_name: names
            .categories
            .get(&m.category_id)
            .cloned()
            .unwrap_or_default(),
        leader_id: m.leader_id,
        unit_id: m.unit_id,
        unit_name: m.unit_id.and_then(|u| names.units.get(&u).cloned()),
        status: m.status,
        priority: m.priority,
        submitted_at: m.submitted_at,
        rank: i.rank,
        score: i.score,
        reasons: i
            .reasons
            .iter()
            .filter_map(|r| BriefingReason::parse(r))
            .collect(),
        cluster_label: i.cluster_label.clone(),
        overdue_days: i.overdue_days,
        selected: i.selected,
        position: i.position,
        summary: i.summary.clone(),
        instruction: i
            .instruction_id
            .and_then(|id| instructions.get(&id))
            .map(|d| InstructionDto {
                id: d.id,
                message_id: d.message_id,
                leader_id: d.leader_id,
                body: d.body.clone(),
                recorded_by: d.recorded_by,
                created_at: d.created_at,
            }),
    }
}

fn instructions_of(
    conn: &mut PgConnection,
    views: &[ItemView],
) -> Result<HashMap<uuid::Uuid, InstructionDto>, ApiError> {
    let ids: Vec<uuid::Uuid> = views.iter().filter_map(|v| v.item.instruction_id).collect();
    Ok(store::instructions(conn, &ids)?
        .into_iter()
        .map(|i| (i.id, InstructionDto::from(i)))
        .collect())
}

/// The whole briefing: header, items by position, candidates by rank.
fn full(conn: &mut PgConnection, b: &Briefing) -> Result<BriefingDto, ApiError> {
    let views = store::items(conn, b.id)?;
    let names = names(conn, &views)?;
    let instructions = instructions_of(conn, &views)?;
    let candidates: Vec<BriefingItemDto> = views
        .iter()
        .map(|v| item_dto(v, &names, &instructions))
        .collect();
    let mut items: Vec<BriefingItemDto> = views
        .iter()
        .filter(|v| v.item.selected)
        .map(|v| item_dto(v, &names, &instructions))
        .collect();
    items.sort_by_key(|i| i.position);
    let selected = i32::try_from(items.len()).unwrap_or(i32::MAX);
    Ok(BriefingDto {
        briefing: header_of(b, Some(selected)),
        items,
        candidates,
    })
}

// ---------------------------------------------------------------------------------------------
// Create

/// A new briefing: the period (default: the previous Monday to Sunday, Asia/Shanghai), an
/// optional title and region.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"period_from": "2026-11-16", "period_to": "2026-11-22", "title": "领导留言摘报（第47周）", "region_code": "620100"}))]
pub struct CreateBriefing {
    /// First day (Asia/Shanghai). Alone: a week from it. Neither: the previous Monday to Sunday.
    pub period_from: Option<NaiveDate>,
    /// Last day, included (a briefing covers at most 31 days). Alone: the week ending on it.
    pub period_to: Option<NaiveDate>,
    /// Default 「领导留言摘报（from至to）」.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 200),
        custom(function = "crate::domain::validate_line")
    )]
    pub title: Option<String>,
    /// The region subtree covered: inside the caller's territory (default: all of it; for
    /// administrators the province).
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "crate::http::validate::validate_region_code"))]
    pub region_code: Option<String>,
}

/// Compile a briefing (摘报) for a period: creates a draft and proposes every candidate, ranked.
///
/// Candidates follow the selection steps: importance (priority `important`), report class (a
/// supervision case open during the period: `supervised`; an unsatisfied rating given in the
/// period or still undecided: `unsatisfied`; an open deadline overdue for ten days or more at
/// the end of the period: `long_overdue`), weekly extraction (important messages submitted by
/// the period's end and active since its start; new ones weigh more), main and emergency first
/// (a keyword early-warning hit: `keyword_alert`), and clusters (the three most reported
/// category × region pairs of the period with at least three messages: `cluster`, with a
/// label). Every message with a reason is a candidate (the best 500 are kept), ranked by score
/// (see `BriefingItemDto.score`), then newest first. Rejected and withdrawn messages are never
/// candidates.
#[utoipa::path(
    operation_id = "create_briefing",
    tag = "briefings",
    request_body = CreateBriefing,
    responses(
        (status = 201, description = "The draft with its candidates", body = BriefingDto,
         headers(("Location" = String, description = "The briefing"), ("ETag" = String, description = "Its version"))),
        (status = 403, description = "Not an editor (liaison office, supervisor, administrator), or a region outside your territory", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "You already hold three drafts for this period and region: edit and submit one of them", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`period_to` before `period_from`, a period over 31 days or starting in the future, an unknown region", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/briefings")]
pub async fn create_briefing(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    body: ApiJson<CreateBriefing>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let now = crate::http::now(&req);
    let (from, to) = rules::resolve_period(body.period_from, body.period_to, local_date(now))
        .map_err(ApiError::validation)?;
    let title = match &body.title {
        Some(t) => crate::routes::clean_name(t, "title", 200)?,
        None => rules::default_title(from, to),
    };
    let p = principal.clone();
    let dto = db
        .run_expensive(move |conn| {
            conn.transaction(|conn| {
                let (territory, unit) = match standing(conn, &p)? {
                    Standing::Editor { territory, unit } => (territory, unit),
                    Standing::Leader { .. } => {
                        return Err(ApiError::Forbidden(
                            "leaders review briefings; the liaison office compiles them".into(),
                        ));
                    }
                };
                let region_code = match (body.region_code, &territory) {
                    (Some(code), own) => {
                        crate::store::regions::get(conn, &code).map_err(|e| match e {
                            ApiError::NotFound(_) => {
                                ApiError::field("region_code", "not_found", "no such region")
                            }
                            other => other,
                        })?;
                        if let Some(own) = own
                            && !crate::store::regions::is_within(conn, &code, own)?
                        {
                            return Err(ApiError::Forbidden(format!(
                                "region {code} lies outside your territory ({own})"
                            )));
                        }
                        code
                    }
                    (None, Some(own)) => own.clone(),
                    (None, None) => store::root_region(conn)?,
                };
                let region = crate::store::regions::get(conn, &region_code)?;
                let drafts = store::lock_and_count_drafts(conn, p.user_id, from, to, &region.code)?;
                if drafts >= rules::MAX_DRAFTS_PER_PERIOD {
                    return Err(ApiError::Conflict(format!(
                        "you already hold {drafts} drafts for {from} to {to} in region {}, as many \
                     as one editor may: edit and submit one of them",
                        region.code
                    )));
                }
                let start = start_of_local_day(from);
                let end = end_of_local_day(to);
                let window = Window {
                    start,
                    end,
                    reference: end.min(now),
                };
                // A liaison office compiles from what its unit may read (docs/ACCESS.md): its
                // intake and what it handles, not every message of its territory.
                let reader = unit.map(|unit| store::UnitReader {
                    unit,
                    user: p.user_id,
                });
                let found = store::find_candidates(
                    conn,
                    &region.path,
                    &window,
                    reader,
                    rules::MAX_CANDIDATES,
                )?;
                let scored: Vec<Ranked<store::Candidate>> = found
                    .candidates
                    .into_iter()
                    .filter_map(|c| {
                        rules::score(&c.facts).map(|s| Ranked {
                            submitted_at: c.submitted_at,
                            id: c.message_id,
                            scored: s,
                            item: c,
                        })
                    })
                    .collect();
                let (ranked, _) = rules::rank(scored);
                let count = found.count;
                let id = BriefingId::new();
                let items: Vec<Item> = ranked
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let clustered = r.scored.reasons.contains(&BriefingReason::Cluster);
                        Item {
                            briefing_id: id,
                            message_id: r.id,
                            rank: i32::try_from(i + 1).unwrap_or(i32::MAX),
                            score: r.scored.score,
                            reasons: r
                                .scored
                                .reasons
                                .iter()
                                .map(|x| x.as_str().to_owned())
                                .collect(),
                            cluster_label: if clustered {
                                r.item.cluster_label
                            } else {
                                None
                            },
                            overdue_days: r.scored.overdue_days,
                            selected: false,
                            position: None,
                            summary: None,
                            instruction_id: None,
                        }
                    })
                    .collect();
                let b = Briefing {
                    id,
                    title,
                    period_from: from,
                    period_to: to,
                    region_code: region.code,
                    region_path: region.path,
                    status: BriefingStatus::Draft,
                    candidates_found: i32::try_from(count).unwrap_or(i32::MAX),
                    created_by: p.user_id,
                    created_at: now,
                    updated_by: p.user_id,
                    updated_at: now,
                    submitted_by: None,
                    submitted_at: None,
                    reviewed_by: None,
                    reviewed_at: None,
                    version: 1,
                };
                store::insert(conn, &b, &items)?;
                full(conn, &b)
            })
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/briefings/{}", dto.briefing.id),
        ))
        .insert_header((header::ETAG, etag(dto.briefing.version)))
        .json(dto))
}

// ---------------------------------------------------------------------------------------------
// Read

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListBriefingsQuery {
    #[param(inline)]
    pub status: Option<BriefingStatus>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// Briefings, newest first: editors see those of their territory, leaders the submitted and
/// reviewed ones of their region subtree.
#[utoipa::path(
    operation_id = "list_briefings",
    tag = "briefings",
    params(ListBriefingsQuery),
    responses((status = 200, description = "A page of briefings (without items)", body = BriefingPage))
)]
#[get("/briefings")]
pub async fn list_briefings(
    db: web::Data<Db>,
    principal: Principal,
    query: ApiQuery<ListBriefingsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page: PageRequest<store::Cursor> = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let limit = page.limit;
    let p = principal.clone();
    let rows = db
        .run(move |conn| {
            let scope = match standing(conn, &p)? {
                Standing::Editor {
                    territory: None, ..
                } => store::Scope {
                    region_path: None,
                    submitted_only: false,
                    compiled_by_unit: None,
                },
                Standing::Editor {
                    territory: Some(code),
                    unit,
                } => store::Scope {
                    region_path: Some(crate::store::regions::path_of(conn, &code)?),
                    submitted_only: false,
                    compiled_by_unit: unit,
                },
                Standing::Leader { scope } => store::Scope {
                    region_path: Some(crate::store::regions::path_of(conn, &scope)?),
                    submitted_only: true,
                    compiled_by_unit: None,
                },
            };
            store::list(conn, &scope, &store::Filter { status: q.status }, &page)
        })
        .await?;
    let (rows, next_cursor) = finish_page(rows, limit, |b| (b.created_at, b.id));
    Ok(HttpResponse::Ok().json(BriefingPage {
        items: rows.iter().map(|b| header_of(b, None)).collect(),
        next_cursor,
    }))
}

/// A briefing with its items (by position) and every candidate (by rank).
#[utoipa::path(
    operation_id = "get_briefing",
    tag = "briefings",
    params(("id" = String, Path, format = Uuid, description = "Briefing id")),
    responses(
        (status = 200, description = "The briefing", body = BriefingDto, headers(("ETag" = String, description = "Its version"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 403, description = "Neither an editor nor a leader", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such briefing, or not yours to see (leaders see submitted ones of their region)", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/briefings/{id}")]
pub async fn get_briefing(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let p = principal.clone();
    let dto = db
        .run(move |conn| {
            let (_, b) = visible(conn, &p, id, false)?;
            full(conn, &b)
        })
        .await?;
    respond_with_etag(&req, dto.briefing.version, &dto, HttpResponse::Ok())
}

// ---------------------------------------------------------------------------------------------
// Edit

/// One selected item.
#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"message_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0c01", "position": 1, "summary": "城关区庆阳路口信号灯损坏三天，已督办交通运输局限期修复。"}))]
pub struct BriefingItemSelection {
    /// A candidate of this briefing.
    #[schema(value_type = String, format = Uuid)]
    pub message_id: uuid::Uuid,
    /// Order in the briefing, unique.
    #[schema(minimum = 1, maximum = 1000, format = Int32)]
    #[validate(range(min = 1, max = 1000))]
    #[serde(deserialize_with = "crate::routes::integer")]
    pub position: i32,
    /// The summary; may come later, but every item needs one to submit.
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 2000),
        custom(function = "crate::domain::validate_text")
    )]
    pub summary: Option<String>,
}

/// The full selection of a draft: exactly these items are selected afterwards.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"items": [{"message_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0c01", "position": 1, "summary": "城关区庆阳路口信号灯损坏三天，已督办交通运输局限期修复。"}]}))]
pub struct BriefingItemsRequest {
    #[schema(max_items = 200)]
    #[validate(length(max = 200), nested)]
    pub items: Vec<BriefingItemSelection>,
}

/// Replace the selection of a draft briefing: the items (candidates of the briefing) with their
/// positions and summaries. Needs `If-Match`.
#[utoipa::path(
    operation_id = "put_briefing_items",
    tag = "briefings",
    params(
        ("id" = String, Path, format = Uuid, description = "Briefing id"),
        ("If-Match" = String, Header, description = "ETag of the briefing you read")
    ),
    request_body = BriefingItemsRequest,
    responses(
        (status = 200, description = "The briefing with its new selection", body = BriefingDto, headers(("ETag" = String, description = "New version"))),
        (status = 403, description = "Not an editor", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such briefing, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The briefing is no longer a draft", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A message that is not a candidate, a message or position twice, a summary too long", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[put("/briefings/{id}/items")]
pub async fn put_briefing_items(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<BriefingItemsRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let cond = IfMatchCondition::from_request(&req, IfMatch::Required)?;
    let items = body.into_inner().items;
    let picks: Vec<Pick> = items
        .iter()
        .map(|i| Pick {
            message_id: i.message_id,
            position: i.position,
        })
        .collect();
    let errors = rules::check_picks(&picks);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let selection: Vec<Selection> = items
        .into_iter()
        .map(|i| Selection {
            message_id: i.message_id,
            position: i.position,
            summary: i
                .summary
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
        })
        .collect();
    let now = crate::http::now(&req);
    let p = principal.clone();
    let dto = db
        .run(move |conn| {
            conn.transaction(|conn| {
                let (s, b) = visible(conn, &p, id, true)?;
                require_editor(&s)?;
                cond.check(b.version)?;
                if b.status != BriefingStatus::Draft {
                    return Err(ApiError::Conflict(format!(
                        "the briefing is {}; only a draft is edited",
                        b.status
                    )));
                }
                let unknown = store::select(conn, id, &selection)?;
                if !unknown.is_empty() {
                    let errors = selection
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| unknown.contains(&s.message_id))
                        .map(|(i, _)| {
                            FieldError::new(
                                format!("items[{i}].message_id"),
                                "not_found",
                                "is not a candidate of this briefing",
                            )
                        })
                        .collect();
                    return Err(ApiError::validation(errors));
                }
                let b = store::touch(conn, id, p.user_id, now)?;
                full(conn, &b)
            })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(dto.briefing.version)))
        .json(dto))
}

/// Submit a draft to the leaders: it needs at least one item, each with a summary. Needs
/// `If-Match`.
#[utoipa::path(
    operation_id = "submit_briefing",
    tag = "briefings",
    params(
        ("id" = String, Path, format = Uuid, description = "Briefing id"),
        ("If-Match" = String, Header, description = "ETag of the briefing you read")
    ),
    responses(
        (status = 200, description = "The submitted briefing", body = BriefingDto, headers(("ETag" = String, description = "New version"))),
        (status = 403, description = "Not an editor", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such briefing, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft, no item selected, or an item without a summary", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/briefings/{id}/submit")]
pub async fn submit_briefing(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let cond = IfMatchCondition::from_request(&req, IfMatch::Required)?;
    let now = crate::http::now(&req);
    let p = principal.clone();
    let dto = db
        .run(move |conn| {
            conn.transaction(|conn| {
                let (s, b) = visible(conn, &p, id, true)?;
                require_editor(&s)?;
                cond.check(b.version)?;
                if b.status != BriefingStatus::Draft {
                    return Err(ApiError::Conflict(format!(
                        "the briefing is already {}",
                        b.status
                    )));
                }
                let (selected, without) = store::selection_counts(conn, id)?;
                if let Some(why) = rules::submit_refusal(
                    usize::try_from(selected).unwrap_or(0),
                    usize::try_from(without).unwrap_or(0),
                ) {
                    return Err(ApiError::Conflict(why));
                }
                let b = store::submit(conn, id, p.user_id, now)?;
                full(conn, &b)
            })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(dto.briefing.version)))
        .json(dto))
}
