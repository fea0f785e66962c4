//! Unit assessments (考核): monthly and annual scorecards per unit, a weighted score and a
//! ranking; closing a period freezes it, and later corrections are explicit restatements.
//!
//! A scorecard counts the messages *submitted* in the period whose lead unit is the unit, by
//! their state now (the statistics' cohort rule): the figures of an open period keep moving as
//! those messages are answered and rated. Closing stores the exact JSON text of every scorecard
//! with its SHA-256, so a closed period answers the same forever; a restatement recomputes it
//! with the weights and minimum sample it was closed with and records every changed figure.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::Principal;
use crate::db::Db;
use crate::domain::assessments::{
    AssessmentPeriod, Candidate, Components, FigureChange, UnitFigures, Weights, changes, rank,
    score,
};
use crate::domain::calendar::local_date;
use crate::domain::ids::UserId;
use crate::domain::role::Role;
use crate::domain::statistics::Figures;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag};
use crate::store::assessments as store;

// ---------------------------------------------------------------------------------------------
// Wire types

/// One unit's scorecard. Counts are of the messages submitted in the period whose lead unit
/// this is; rates are shares in 0–1 rounded to four decimals (null when their denominator is 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "unit_id": "01930000-0000-7000-8000-00000000a001", "unit_name": "兰州市交通运输局",
    "rank": 1, "score": 91.25, "received": 120, "assigned": 118, "replied": 110, "pending": 8,
    "overdue": 2, "judged": 110, "on_time": 104, "rated": 80, "satisfied": 72, "visited": 3,
    "verified": 2, "reopened": 4, "reply_rate": 0.9322, "on_time_rate": 0.9455,
    "satisfaction_rate": 0.9, "overdue_rate": 0.0169, "verification_rate": 0.6667,
    "reopen_rate": 0.0364
}))]
pub struct Scorecard {
    pub unit_id: Uuid,
    pub unit_name: String,
    /// 1-based rank by score (equal scores share a rank); null when the unit is not ranked:
    /// no score, or fewer assigned messages than the minimum sample.
    #[schema(format = Int32, minimum = 1)]
    pub rank: Option<u32>,
    /// 0–100: `100 × Σ wᵢ·cᵢ / Σ wᵢ` over the components with a value, where the components
    /// are the reply, on-time, satisfaction and verification rates, `1 − overdue_rate` and
    /// `1 − reopen_rate`, and `wᵢ` the weights. Two decimals.
    #[schema(format = Double, minimum = 0, maximum = 100)]
    pub score: Option<f64>,
    #[schema(format = Int64, minimum = 0)]
    pub received: i64,
    /// Handed to the unit as lead unit: the ranking's sample.
    #[schema(format = Int64, minimum = 0)]
    pub assigned: i64,
    /// Answered with a published final reply.
    #[schema(format = Int64, minimum = 0)]
    pub replied: i64,
    #[schema(format = Int64, minimum = 0)]
    pub pending: i64,
    /// Pending with a deadline declared overdue.
    #[schema(format = Int64, minimum = 0)]
    pub overdue: i64,
    /// Answered with the reply deadline judged.
    #[schema(format = Int64, minimum = 0)]
    pub judged: i64,
    #[schema(format = Int64, minimum = 0)]
    pub on_time: i64,
    #[schema(format = Int64, minimum = 0)]
    pub rated: i64,
    /// Rated satisfied or basically satisfied.
    #[schema(format = Int64, minimum = 0)]
    pub satisfied: i64,
    /// With a return visit that reached the citizen.
    #[schema(format = Int64, minimum = 0)]
    pub visited: i64,
    /// Whose latest return visit found the problem resolved.
    #[schema(format = Int64, minimum = 0)]
    pub verified: i64,
    /// Answered and reopened at least once.
    #[schema(format = Int64, minimum = 0)]
    pub reopened: i64,
    /// replied / accepted.
    #[schema(format = Double, minimum = 0, maximum = 1)]
    pub reply_rate: Option<f64>,
    /// on_time / judged.
    #[schema(format = Double, minimum = 0, maximum = 1)]
    pub on_time_rate: Option<f64>,
    /// satisfied / rated.
    #[schema(format = Double, minimum = 0, maximum = 1)]
    pub satisfaction_rate: Option<f64>,
    /// overdue / assigned.
    #[schema(format = Double, minimum = 0, maximum = 1)]
    pub overdue_rate: Option<f64>,
    /// verified / visited.
    #[schema(format = Double, minimum = 0, maximum = 1)]
    pub verification_rate: Option<f64>,
    /// reopened / replied.
    #[schema(format = Double, minimum = 0, maximum = 1)]
    pub reopen_rate: Option<f64>,
}

/// The weights of the score's components (0–100 each, at least one above 0; only their ratios
/// matter).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reply_rate": 25, "on_time_rate": 25, "satisfaction_rate": 25, "overdue": 10, "verification_rate": 10, "reopen": 5}))]
pub struct AssessmentWeights {
    #[schema(format = Int32, minimum = 0, maximum = 100)]
    #[serde(deserialize_with = "crate::routes::integer")]
    #[validate(range(min = 0, max = 100))]
    pub reply_rate: i32,
    #[schema(format = Int32, minimum = 0, maximum = 100)]
    #[serde(deserialize_with = "crate::routes::integer")]
    #[validate(range(min = 0, max = 100))]
    pub on_time_rate: i32,
    #[schema(format = Int32, minimum = 0, maximum = 100)]
    #[serde(deserialize_with = "crate::routes::integer")]
    #[validate(range(min = 0, max = 100))]
    pub satisfaction_rate: i32,
    /// Weight of `1 − overdue_rate`.
    #[schema(format = Int32, minimum = 0, maximum = 100)]
    #[serde(deserialize_with = "crate::routes::integer")]
    #[validate(range(min = 0, max = 100))]
    pub overdue: i32,
    #[schema(format = Int32, minimum = 0, maximum = 100)]
    #[serde(deserialize_with = "crate::routes::integer")]
    #[validate(range(min = 0, max = 100))]
    pub verification_rate: i32,
    /// Weight of `1 − reopen_rate`.
    #[schema(format = Int32, minimum = 0, maximum = 100)]
    #[serde(deserialize_with = "crate::routes::integer")]
    #[validate(range(min = 0, max = 100))]
    pub reopen: i32,
}

impl From<Weights> for AssessmentWeights {
    fn from(w: Weights) -> Self {
        AssessmentWeights {
            reply_rate: w.reply_rate,
            on_time_rate: w.on_time_rate,
            satisfaction_rate: w.satisfaction_rate,
            overdue: w.overdue,
            verification_rate: w.verification_rate,
            reopen: w.reopen,
        }
    }
}

impl From<AssessmentWeights> for Weights {
    fn from(w: AssessmentWeights) -> Self {
        Weights {
            reply_rate: w.reply_rate,
            on_time_rate: w.on_time_rate,
            satisfaction_rate: w.satisfaction_rate,
            overdue: w.overdue,
            verification_rate: w.verification_rate,
            reopen: w.reopen,
        }
    }
}

/// The current weights with their version (send it back in `If-Match`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"weights": {"reply_rate": 25, "on_time_rate": 25, "satisfaction_rate": 25, "overdue": 10, "verification_rate": 10, "reopen": 5}, "version": 1, "updated_at": "2026-11-26T08:00:00Z"}))]
pub struct AssessmentWeightsDto {
    pub weights: AssessmentWeights,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

impl From<store::WeightsRow> for AssessmentWeightsDto {
    fn from(r: store::WeightsRow) -> Self {
        AssessmentWeightsDto {
            weights: r.weights().into(),
            version: r.version,
            updated_at: r.updated_at,
        }
    }
}

/// Month or year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    Month,
    Year,
}

/// Where a period stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssessmentStatus {
    /// Not over yet: figures are live and will move.
    Provisional,
    /// Over, not closed: figures are live.
    Open,
    /// Closed: the stored figures (changed only by restatements).
    Closed,
}

/// What a closed period stores, as exact JSON text (its SHA-256 is `content_hash`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Frozen {
    period: String,
    kind: PeriodKind,
    from: NaiveDate,
    to: NaiveDate,
    weights: AssessmentWeights,
    min_sample: i32,
    scorecards: Vec<Scorecard>,
}

/// The assessment of a month or a year.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "period": "2026-10", "kind": "month", "from": "2026-10-01", "to": "2026-10-31",
    "status": "closed", "closed_at": "2026-11-03T02:00:00Z",
    "closed_by": "01930000-0000-7000-8000-0000000000a1", "revision": 1,
    "content_hash": "9f2b5c0c6c3f5d1e0d7a4b8e2f1c3a5b7d9e0f1a2b3c4d5e6f708192a3b4c5d6",
    "weights": {"reply_rate": 25, "on_time_rate": 25, "satisfaction_rate": 25, "overdue": 10, "verification_rate": 10, "reopen": 5},
    "min_sample": 20, "scorecards": []
}))]
pub struct Assessment {
    /// `YYYY-MM` or `YYYY`.
    pub period: String,
    pub kind: PeriodKind,
    /// First day (local date).
    pub from: NaiveDate,
    /// Last day (local date).
    pub to: NaiveDate,
    pub status: AssessmentStatus,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<UserId>,
    /// 1 at closing, +1 per restatement; null while not closed.
    #[schema(format = Int32, minimum = 1)]
    pub revision: Option<i32>,
    /// Hex SHA-256 of the stored text of the whole closed period (every unit's scorecard, the
    /// weights and the minimum sample); null while not closed.
    #[schema(min_length = 64, max_length = 64, pattern = "^[0-9a-f]{64}$")]
    pub content_hash: Option<String>,
    /// The weights the scores use (for a closed period: those it was closed with).
    pub weights: AssessmentWeights,
    /// Units with fewer assigned messages are listed unranked.
    #[schema(format = Int32, minimum = 1)]
    pub min_sample: i32,
    /// Ranked units first by rank, then the unranked ones. Unit staff see their own unit's
    /// card; supervisors, analysts and leaders the units of their region subtree; ranks are
    /// always those among all units.
    pub scorecards: Vec<Scorecard>,
}

/// Why a closed period is restated.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "3 replies of October were published with the wrong unit and corrected on 2026-11-20"}))]
pub struct NewRestatement {
    #[schema(min_length = 1, max_length = 2000)]
    #[validate(length(min = 1, max = 2000))]
    pub reason: String,
}

/// One changed figure.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"unit_id": "01930000-0000-7000-8000-00000000a001", "measure": "satisfied", "old": 71, "new": 72}))]
pub struct RestatedFigure {
    pub unit_id: Uuid,
    /// A scorecard field (e.g. `score`, `replied`, `satisfaction_rate`).
    #[schema(max_length = 64)]
    pub measure: String,
    /// The figure before (null when the unit had no scorecard).
    #[schema(value_type = Option<f64>)]
    pub old: serde_json::Value,
    /// The figure after (null when the unit has no scorecard any more).
    #[schema(value_type = Option<f64>)]
    pub new: serde_json::Value,
}

/// An explicit correction of a closed period.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936000-0000-7000-8000-000000000001", "period": "2026-10", "revision": 2,
    "reason": "3 replies of October were published with the wrong unit and corrected on 2026-11-20",
    "restated_by": "01930000-0000-7000-8000-0000000000a1", "restated_at": "2026-11-21T02:00:00Z",
    "previous_hash": "9f2b5c0c6c3f5d1e0d7a4b8e2f1c3a5b7d9e0f1a2b3c4d5e6f708192a3b4c5d6",
    "content_hash": "0a1b2c3d4e5f60718293a4b5c6d7e8f9000102030405060708090a0b0c0d0e0f",
    "changes": [{"unit_id": "01930000-0000-7000-8000-00000000a001", "measure": "satisfied", "old": 71, "new": 72}]
}))]
pub struct RestatementDto {
    pub id: Uuid,
    pub period: String,
    /// The revision this restatement produced.
    #[schema(format = Int32, minimum = 2)]
    pub revision: i32,
    pub reason: String,
    pub restated_by: UserId,
    pub restated_at: DateTime<Utc>,
    #[schema(min_length = 64, max_length = 64)]
    pub previous_hash: String,
    #[schema(min_length = 64, max_length = 64)]
    pub content_hash: String,
    /// Every changed figure the reader may see, by unit then measure.
    pub changes: Vec<RestatedFigure>,
}

/// A period's restatements, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"items": []}))]
pub struct RestatementList {
    pub items: Vec<RestatementDto>,
}

/// Which assessment: exactly one of `period` and `year`.
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AssessmentQuery {
    /// A month, `YYYY-MM`.
    #[param(
        min_length = 7,
        max_length = 7,
        pattern = "^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$",
        example = "2026-10"
    )]
    pub period: Option<String>,
    /// A year.
    #[param(minimum = 2000, maximum = 2100, example = 2026)]
    pub year: Option<i32>,
}

// ---------------------------------------------------------------------------------------------
// Scope and assembly

/// Whose scorecards the caller may see.
enum Scope {
    All,
    Regions(Vec<String>),
    Unit(Uuid),
}

fn scope(conn: &mut PgConnection, p: &Principal) -> Result<Scope, ApiError> {
    match p.role {
        Role::Admin => Ok(Scope::All),
        Role::Supervisor | Role::Analyst | Role::Leader => match &p.scope_region {
            // Accounts are placed in a region when created; one from before that rule sees
            // nothing rather than everything.
            None => Err(ApiError::Forbidden(
                "your account has no region scope to read assessments for".into(),
            )),
            Some(code) => {
                let r = crate::store::regions::get(conn, code)?;
                Ok(Scope::Regions(crate::store::statistics::region_subtree(
                    conn, &r.path,
                )?))
            }
        },
        Role::Handler | Role::UnitAdmin | Role::Reviewer => match p.unit_id {
            Some(u) => Ok(Scope::Unit(u.0)),
            None => Err(ApiError::Forbidden(
                "your account belongs to no unit".into(),
            )),
        },
        Role::Citizen | Role::Integration => {
            Err(ApiError::Forbidden("role may not read assessments".into()))
        }
    }
}

/// Which of `units` the caller may see; `None` = all of them.
fn allowed_units(
    conn: &mut PgConnection,
    scope: &Scope,
    units: &[Uuid],
) -> Result<Option<Vec<Uuid>>, ApiError> {
    Ok(match scope {
        Scope::All => None,
        Scope::Unit(u) => Some(vec![*u]),
        Scope::Regions(codes) => {
            let regions = store::unit_regions(conn, units)?;
            Some(
                units
                    .iter()
                    .copied()
                    .filter(|id| {
                        regions
                            .get(id)
                            .is_some_and(|r| codes.iter().any(|c| c == r))
                    })
                    .collect(),
            )
        }
    })
}

fn visible(
    conn: &mut PgConnection,
    scope: &Scope,
    cards: Vec<Scorecard>,
) -> Result<Vec<Scorecard>, ApiError> {
    let ids: Vec<Uuid> = cards.iter().map(|c| c.unit_id).collect();
    Ok(match allowed_units(conn, scope, &ids)? {
        None => cards,
        Some(allowed) => cards
            .into_iter()
            .filter(|c| allowed.contains(&c.unit_id))
            .collect(),
    })
}

fn round4(v: Option<f64>) -> Option<f64> {
    v.map(|x| (x * 1e4).round() / 1e4)
}

/// Every unit's scorecard of the period now, ranked.
fn compute(
    conn: &mut PgConnection,
    period: AssessmentPeriod,
    weights: Weights,
    min_sample: i32,
) -> Result<Vec<Scorecard>, ApiError> {
    let (counts, names) = store::unit_counts(conn, period)?;
    let mut cards: Vec<Scorecard> = counts
        .into_iter()
        .map(|(unit_id, counts)| {
            let f = Figures::of(counts);
            let c = &f.counts;
            let components = Components::of(&f);
            Scorecard {
                unit_id,
                unit_name: names.get(&unit_id).cloned().unwrap_or_default(),
                rank: None,
                score: score(&components, &weights),
                received: c.received,
                assigned: c.assigned,
                replied: c.replied,
                pending: c.pending,
                overdue: c.overdue,
                judged: c.judged,
                on_time: c.on_time,
                rated: c.rated,
                satisfied: c.satisfied + c.basically_satisfied,
                visited: c.visited,
                verified: c.verified,
                reopened: c.reopened,
                reply_rate: round4(f.reply_rate.value),
                on_time_rate: round4(f.on_time_rate.value),
                satisfaction_rate: round4(f.satisfaction_rate.value),
                overdue_rate: round4(
                    (c.assigned > 0).then(|| c.overdue as f64 / c.assigned as f64),
                ),
                verification_rate: round4(f.verification_rate.value),
                reopen_rate: round4(f.reopen_rate.value),
            }
        })
        .collect();
    let candidates: Vec<Candidate> = cards
        .iter()
        .map(|c| Candidate {
            tie: format!("{}\u{0}{}", c.unit_name, c.unit_id),
            score: c.score,
            sample: c.assigned,
        })
        .collect();
    let placed = rank(&candidates, i64::from(min_sample));
    let mut slots: Vec<Option<Scorecard>> = cards.drain(..).map(Some).collect();
    let mut out = Vec::with_capacity(slots.len());
    for (i, r) in placed {
        if let Some(mut card) = slots.get_mut(i).and_then(Option::take) {
            card.rank = r;
            out.push(card);
        }
    }
    Ok(out)
}

fn parse_period(key: &str, field: &'static str) -> Result<AssessmentPeriod, ApiError> {
    AssessmentPeriod::parse(key).ok_or_else(|| {
        ApiError::field(
            field,
            "invalid",
            "must be a month `YYYY-MM` or a year `YYYY` between 2000 and 2100",
        )
    })
}

/// A period named in the path: a malformed one names no resource (404).
fn path_period(key: &str) -> Result<AssessmentPeriod, ApiError> {
    AssessmentPeriod::parse(key).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no assessment period `{key}`: a period is a month `YYYY-MM` or a year `YYYY` between 2000 and 2100"
        ))
    })
}

fn kind_of(p: AssessmentPeriod) -> PeriodKind {
    match p {
        AssessmentPeriod::Month { .. } => PeriodKind::Month,
        AssessmentPeriod::Year { .. } => PeriodKind::Year,
    }
}

fn frozen_of(c: &store::ClosedPeriod) -> Result<Frozen, ApiError> {
    serde_json::from_str(&c.content)
        .map_err(|e| ApiError::Internal(format!("stored assessment {}: {e}", c.period)))
}

/// The live content of a period with the given rules.
fn live(
    conn: &mut PgConnection,
    period: AssessmentPeriod,
    weights: AssessmentWeights,
    min_sample: i32,
) -> Result<Frozen, ApiError> {
    Ok(Frozen {
        period: period.key(),
        kind: kind_of(period),
        from: period.from(),
        to: period.to(),
        weights,
        min_sample,
        scorecards: compute(conn, period, weights.into(), min_sample)?,
    })
}

fn encode(f: &Frozen) -> Result<String, ApiError> {
    serde_json::to_string(f).map_err(|e| ApiError::Internal(e.to_string()))
}

fn assessment(
    conn: &mut PgConnection,
    scope: &Scope,
    period: AssessmentPeriod,
    today: NaiveDate,
) -> Result<Assessment, ApiError> {
    if let Some(c) = store::closed(conn, &period.key())? {
        let f = frozen_of(&c)?;
        return Ok(Assessment {
            period: f.period,
            kind: f.kind,
            from: f.from,
            to: f.to,
            status: AssessmentStatus::Closed,
            closed_at: Some(c.closed_at),
            closed_by: Some(c.closed_by),
            revision: Some(c.revision),
            content_hash: Some(c.content_hash),
            weights: f.weights,
            min_sample: f.min_sample,
            scorecards: visible(conn, scope, f.scorecards)?,
        });
    }
    let weights = store::weights(conn)?.weights().into();
    let min_sample = crate::store::statistics::policy(conn)?.min_sample;
    let f = live(conn, period, weights, min_sample)?;
    Ok(Assessment {
        period: f.period,
        kind: f.kind,
        from: f.from,
        to: f.to,
        status: if period.ended(today) {
            AssessmentStatus::Open
        } else {
            AssessmentStatus::Provisional
        },
        closed_at: None,
        closed_by: None,
        revision: None,
        content_hash: None,
        weights: f.weights,
        min_sample: f.min_sample,
        scorecards: visible(conn, scope, f.scorecards)?,
    })
}

/// The flat figures of each unit, for comparing two versions.
fn figures_by_unit(cards: &[Scorecard]) -> Result<Vec<UnitFigures>, ApiError> {
    cards
        .iter()
        .map(|c| {
            let mut m = match serde_json::to_value(c) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => return Err(ApiError::Internal("scorecard is not an object".into())),
            };
            m.remove("unit_id");
            m.remove("unit_name");
            Ok((c.unit_id, m))
        })
        .collect()
}

fn restatement_dto(
    conn: &mut PgConnection,
    scope: &Scope,
    r: store::Restatement,
) -> Result<RestatementDto, ApiError> {
    let all: Vec<FigureChange> = serde_json::from_value(r.changes)
        .map_err(|e| ApiError::Internal(format!("stored restatement: {e}")))?;
    let ids: Vec<Uuid> = all.iter().map(|c| c.unit_id).collect();
    let allowed = allowed_units(conn, scope, &ids)?;
    Ok(RestatementDto {
        id: r.id,
        period: r.period,
        revision: r.revision,
        reason: r.reason,
        restated_by: r.restated_by,
        restated_at: r.restated_at,
        previous_hash: r.previous_hash,
        content_hash: r.content_hash,
        changes: all
            .into_iter()
            .filter(|c| allowed.as_ref().is_none_or(|a| a.contains(&c.unit_id)))
            .map(|c| RestatedFigure {
                unit_id: c.unit_id,
                measure: c.measure,
                old: c.old,
                new: c.new,
            })
            .collect(),
    })
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// The assessment of a month (`period=2026-10`) or a year (`year=2026`): every unit's
/// scorecard, score and rank. A closed period answers with its stored figures.
#[utoipa::path(
    operation_id = "get_assessment",
    tag = "assessments",
    params(AssessmentQuery),
    responses(
        (status = 200, description = "The scorecards", body = Assessment)
    )
)]
#[get("/assessments")]
pub async fn get_assessment(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    query: ApiQuery<AssessmentQuery>,
) -> Result<HttpResponse, ApiError> {
    let period = match (&query.period, query.year) {
        (Some(month), None) => match AssessmentPeriod::parse(month) {
            Some(p @ AssessmentPeriod::Month { .. }) => p,
            _ => {
                return Err(ApiError::field(
                    "period",
                    "invalid",
                    "must be a month `YYYY-MM` between 2000 and 2100 (use `year` for a year)",
                ));
            }
        },
        (None, Some(year)) => parse_period(&format!("{year:04}"), "year")?,
        _ => {
            return Err(ApiError::field(
                "period",
                "required",
                "give exactly one of `period` (YYYY-MM) and `year`",
            ));
        }
    };
    let today = local_date(crate::http::now(&req));
    let out = db
        .run(move |conn| {
            let scope = scope(conn, &principal)?;
            assessment(conn, &scope, period, today)
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Close a month or a year (administrators): its figures are stored with their SHA-256 and
/// answered unchanged from then on. Only a period that is over can be closed.
#[utoipa::path(
    operation_id = "close_assessment",
    tag = "assessments",
    params(("period" = String, Path, description = "`YYYY-MM` or `YYYY`", example = "2026-10", min_length = 4, max_length = 7, pattern = "^(20[0-9]{2}|2100)(-(0[1-9]|1[0-2]))?$")),
    responses(
        (status = 201, description = "Closed", body = Assessment),
        (status = 404, description = "The path names no period", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Closed already, or the period is not over yet", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/assessments/{period}/close")]
pub async fn close_assessment(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let period = path_period(&path)?;
    let now = crate::http::now(&req);
    let today = local_date(now);
    if !period.ended(today) {
        return Err(ApiError::Conflict(format!(
            "{} is not over yet (it ends on {}): it can be closed from the next day",
            period.key(),
            period.to()
        )));
    }
    let by = principal.user_id;
    let out = db
        .run(move |conn| {
            use diesel::Connection;
            conn.transaction(|conn| {
                let weights = store::weights(conn)?.weights().into();
                let min_sample = crate::store::statistics::policy(conn)?.min_sample;
                let content = encode(&live(conn, period, weights, min_sample)?)?;
                store::close(conn, period, content, by, now)?;
                assessment(conn, &Scope::All, period, today)
            })
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/assessments?{}", query_of(period)),
        ))
        .json(out))
}

fn query_of(p: AssessmentPeriod) -> String {
    match p {
        AssessmentPeriod::Month { .. } => format!("period={}", p.key()),
        AssessmentPeriod::Year { year } => format!("year={year}"),
    }
}

/// Restate a closed period (administrators): recompute it with the weights and minimum sample
/// it was closed with, store the new figures and record every changed one with the reason.
#[utoipa::path(
    operation_id = "restate_assessment",
    tag = "assessments",
    params(("period" = String, Path, description = "`YYYY-MM` or `YYYY`", example = "2026-10", min_length = 4, max_length = 7, pattern = "^(20[0-9]{2}|2100)(-(0[1-9]|1[0-2]))?$")),
    request_body = NewRestatement,
    responses(
        (status = 201, description = "Restated", body = RestatementDto),
        (status = 404, description = "The period is not closed, or the path names no period", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nothing changed since the period was closed or last restated", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/assessments/{period}/restatements")]
pub async fn restate_assessment(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    body: ApiJson<NewRestatement>,
) -> Result<HttpResponse, ApiError> {
    let period = path_period(&path)?;
    let reason = body.into_inner().reason;
    if reason.trim().is_empty() {
        return Err(ApiError::field(
            "reason",
            "blank",
            "say why the figures change",
        ));
    }
    let now = crate::http::now(&req);
    let by = principal.user_id;
    let out = db
        .run(move |conn| {
            use diesel::Connection;
            conn.transaction(|conn| {
                let previous = store::lock_closed(conn, &period.key())?;
                let old = frozen_of(&previous)?;
                let new = live(conn, period, old.weights, old.min_sample)?;
                let diff = changes(
                    &figures_by_unit(&old.scorecards)?,
                    &figures_by_unit(&new.scorecards)?,
                );
                if diff.is_empty() {
                    return Err(ApiError::Conflict(format!(
                        "{}: no figure changed since revision {}",
                        period.key(),
                        previous.revision
                    )));
                }
                let r = store::restate(conn, &previous, encode(&new)?, &diff, &reason, by, now)?;
                restatement_dto(conn, &Scope::All, r)
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(out))
}

/// The restatements of a closed period, oldest first (changes limited to the units the
/// caller may see).
#[utoipa::path(
    operation_id = "list_restatements",
    tag = "assessments",
    params(("period" = String, Path, description = "`YYYY-MM` or `YYYY`", example = "2026-10", min_length = 4, max_length = 7, pattern = "^(20[0-9]{2}|2100)(-(0[1-9]|1[0-2]))?$")),
    responses(
        (status = 200, description = "The restatements (empty when none, or the period is not closed)", body = RestatementList),
        (status = 404, description = "The path names no period", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/assessments/{period}/restatements")]
pub async fn list_restatements(
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let period = path_period(&path)?;
    let out = db
        .run(move |conn| {
            let scope = scope(conn, &principal)?;
            let items = store::restatements(conn, &period.key())?
                .into_iter()
                .map(|r| restatement_dto(conn, &scope, r))
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, ApiError>(RestatementList { items })
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// The score's weights.
#[utoipa::path(
    operation_id = "get_assessment_weights",
    tag = "assessments",
    responses(
        (status = 200, description = "The weights", body = AssessmentWeightsDto, headers(("ETag" = String, description = "Their version")))
    )
)]
#[get("/assessments/weights")]
pub async fn get_assessment_weights(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let dto: AssessmentWeightsDto = db.run(store::weights).await?.into();
    crate::http::preconditions::respond_with_etag(&req, dto.version, &dto, HttpResponse::Ok())
}

/// Replace the score's weights (administrators). Closed periods keep the weights they were
/// closed with.
#[utoipa::path(
    operation_id = "put_assessment_weights",
    tag = "assessments",
    params(("If-Match" = String, Header, description = "ETag of the weights you read")),
    request_body = AssessmentWeights,
    responses(
        (status = 200, description = "The new weights", body = AssessmentWeightsDto, headers(("ETag" = String, description = "New version"))),
        (status = 412, description = "The weights changed since you read them", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[put("/assessments/weights")]
pub async fn put_assessment_weights(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    body: ApiJson<AssessmentWeights>,
) -> Result<HttpResponse, ApiError> {
    let weights: Weights = body.into_inner().into();
    if let Some(problem) = weights.problem() {
        return Err(ApiError::field("reply_rate", "invalid", problem));
    }
    let cond = IfMatchCondition::from_request(&req, IfMatch::Required)?;
    let now = crate::http::now(&req);
    let by = principal.user_id;
    let dto: AssessmentWeightsDto = db
        .run(move |conn| store::set_weights(conn, weights, by, &cond, now))
        .await?
        .into();
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(dto.version)))
        .json(dto))
}
