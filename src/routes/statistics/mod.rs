//! Statistics (统计分析): summary figures, rankings by unit, region, leader, category or kind,
//! and timeseries, from the maintained aggregates (see `store::statistics`).
//!
//! Every figure counts the messages *submitted* on the days of the period (local dates) by their
//! state now; formulas are in the schema descriptions and defined once in SQL.

use std::collections::{BTreeMap, HashMap};

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::auth::Principal;
use crate::db::Db;
use crate::domain::calendar::local_date;
use crate::domain::ids::{CategoryId, LeaderId, UnitId};
use crate::domain::message::{MessageKind, Priority};
use crate::domain::role::Role;
use crate::domain::statistics::{
    self as stats, Counts, Dimension, Figures, Interval, Rate, SortKey,
};
use crate::error::ApiError;
use crate::http::export::{self, Cell, Column, ExportFormat, ExportSlots, HeaderLanguage};
use crate::http::extract::ApiQuery;
use crate::store::statistics::{self as store, CellQuery, CellRow, Source};

mod downloads;
pub mod ledger;
pub mod policy;

use downloads::{FIGURE_COLUMNS, download, figure_cells};

// ---------------------------------------------------------------------------------------------
// Wire types

/// A proportion with what it rests on.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"numerator": 45, "denominator": 50, "value": 0.9, "ci_low": 0.786, "ci_high": 0.957}))]
pub struct StatRate {
    #[schema(format = Int64, minimum = 0)]
    pub numerator: i64,
    #[schema(format = Int64, minimum = 0)]
    pub denominator: i64,
    /// numerator / denominator; null when the denominator is 0.
    #[schema(format = Double, minimum = 0, maximum = 1)]
    pub value: Option<f64>,
    /// Lower bound of the 95% Wilson score interval.
    #[schema(format = Double, minimum = 0, maximum = 1)]
    pub ci_low: Option<f64>,
    /// Upper bound of the 95% Wilson score interval.
    #[schema(format = Double, minimum = 0, maximum = 1)]
    pub ci_high: Option<f64>,
}

impl From<Rate> for StatRate {
    fn from(r: Rate) -> Self {
        let round = |v: Option<f64>| v.map(|x| (x * 1e6).round() / 1e6);
        StatRate {
            numerator: r.numerator,
            denominator: r.denominator,
            value: round(r.value),
            ci_low: round(r.low),
            ci_high: round(r.high),
        }
    }
}

/// Handling time of the answered messages, in working days from submission to the final reply
/// (by the working-day calendar in force at publication).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"answered": 50, "median": 4, "p90": 9}))]
pub struct HandlingTime {
    /// Answered messages measured.
    #[schema(format = Int64, minimum = 0)]
    pub answered: i64,
    /// Nearest-rank median: the smallest d such that at least half took d days or fewer.
    #[schema(format = Int32, minimum = 0)]
    pub median: Option<i32>,
    /// Nearest-rank 90th percentile (366 means 366 or more).
    #[schema(format = Int32, minimum = 0)]
    pub p90: Option<i32>,
}

/// The figures of a set of messages: those submitted in the period that match the filters.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "received": 120, "accepted": 100, "rejected": 12, "withdrawn": 8, "assigned": 90,
    "replied": 70, "pending": 30, "overdue": 4, "judged": 70, "on_time": 63, "rated": 50,
    "satisfied": 30, "basically_satisfied": 12, "unsatisfied": 8, "reopened": 3, "visited": 10,
    "verified": 9,
    "reply_rate": {"numerator": 70, "denominator": 100, "value": 0.7, "ci_low": 0.604, "ci_high": 0.781},
    "on_time_rate": {"numerator": 63, "denominator": 70, "value": 0.9, "ci_low": 0.808, "ci_high": 0.951},
    "satisfaction_rate": {"numerator": 42, "denominator": 50, "value": 0.84, "ci_low": 0.715, "ci_high": 0.917},
    "verification_rate": {"numerator": 9, "denominator": 10, "value": 0.9, "ci_low": 0.596, "ci_high": 0.982},
    "reopen_rate": {"numerator": 3, "denominator": 70, "value": 0.042857, "ci_low": 0.014, "ci_high": 0.118},
    "handling_days": {"answered": 70, "median": 4, "p90": 9}
}))]
pub struct StatFigures {
    /// Messages submitted (every status).
    #[schema(format = Int64, minimum = 0)]
    pub received: i64,
    /// Accepted for handling: every status but submitted, rejected and withdrawn.
    #[schema(format = Int64, minimum = 0)]
    pub accepted: i64,
    /// Not accepted (status rejected).
    #[schema(format = Int64, minimum = 0)]
    pub rejected: i64,
    /// Withdrawn by their authors.
    #[schema(format = Int64, minimum = 0)]
    pub withdrawn: i64,
    /// Handed to a lead unit: assigned, in progress, awaiting clarification, replied or closed.
    #[schema(format = Int64, minimum = 0)]
    pub assigned: i64,
    /// Answered with a published final reply: replied or closed.
    #[schema(format = Int64, minimum = 0)]
    pub replied: i64,
    /// Accepted, not answered yet: accepted, assigned, in progress or awaiting clarification.
    #[schema(format = Int64, minimum = 0)]
    pub pending: i64,
    /// Pending with an open deadline that the scheduler has declared overdue (now).
    #[schema(format = Int64, minimum = 0)]
    pub overdue: i64,
    /// Answered with the reply deadline judged (met or missed).
    #[schema(format = Int64, minimum = 0)]
    pub judged: i64,
    /// Answered within the reply deadline.
    #[schema(format = Int64, minimum = 0)]
    pub on_time: i64,
    /// With a citizen's rating of the latest final reply.
    #[schema(format = Int64, minimum = 0)]
    pub rated: i64,
    #[schema(format = Int64, minimum = 0)]
    pub satisfied: i64,
    #[schema(format = Int64, minimum = 0)]
    pub basically_satisfied: i64,
    #[schema(format = Int64, minimum = 0)]
    pub unsatisfied: i64,
    /// Answered, and reopened at least once on the way (an earlier final reply was not the end).
    #[schema(format = Int64, minimum = 0)]
    pub reopened: i64,
    /// With a return visit that reached the citizen (latest finding resolved, partly resolved
    /// or not resolved).
    #[schema(format = Int64, minimum = 0)]
    pub visited: i64,
    /// Whose latest return visit found the matter resolved.
    #[schema(format = Int64, minimum = 0)]
    pub verified: i64,
    /// replied / accepted.
    pub reply_rate: StatRate,
    /// on_time / judged.
    pub on_time_rate: StatRate,
    /// (satisfied + basically_satisfied) / rated.
    pub satisfaction_rate: StatRate,
    /// verified / visited (return-visit verification rate).
    pub verification_rate: StatRate,
    /// reopened / replied.
    pub reopen_rate: StatRate,
    pub handling_days: HandlingTime,
}

impl From<Figures> for StatFigures {
    fn from(f: Figures) -> Self {
        let c = &f.counts;
        StatFigures {
            received: c.received,
            accepted: c.accepted,
            rejected: c.rejected,
            withdrawn: c.withdrawn,
            assigned: c.assigned,
            replied: c.replied,
            pending: c.pending,
            overdue: c.overdue,
            judged: c.judged,
            on_time: c.on_time,
            rated: c.rated,
            satisfied: c.satisfied,
            basically_satisfied: c.basically_satisfied,
            unsatisfied: c.unsatisfied,
            reopened: c.reopened,
            visited: c.visited,
            verified: c.verified,
            reply_rate: f.reply_rate.into(),
            on_time_rate: f.on_time_rate.into(),
            satisfaction_rate: f.satisfaction_rate.into(),
            verification_rate: f.verification_rate.into(),
            reopen_rate: f.reopen_rate.into(),
            handling_days: HandlingTime {
                answered: c.timed(),
                median: f.median_days,
                p90: f.p90_days,
            },
        }
    }
}

crate::text_enum! {
    /// How the figures were computed.
    pub enum StatSource {
        /// From the maintained aggregates (any filter with at most two dimensions in all).
        Aggregates => "aggregates",
        /// From the messages themselves (three or more dimensions at once): exact, slower.
        Raw => "raw",
    }
}

impl From<Source> for StatSource {
    fn from(s: Source) -> Self {
        match s {
            Source::Aggregates => StatSource::Aggregates,
            Source::Raw => StatSource::Raw,
        }
    }
}

/// The filters the figures were computed with, after the caller's scope was applied.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"from": "2026-01-01", "to": "2026-11-26", "region_code": "620100", "unit_id": null, "leader_id": null, "category_id": null, "kind": null, "priority": null}))]
pub struct StatScope {
    /// First submission day counted (local date).
    pub from: NaiveDate,
    /// Last submission day counted (local date).
    pub to: NaiveDate,
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub region_code: Option<String>,
    pub unit_id: Option<UnitId>,
    pub leader_id: Option<LeaderId>,
    pub category_id: Option<CategoryId>,
    pub kind: Option<MessageKind>,
    pub priority: Option<Priority>,
}

/// Summary figures.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatisticsSummary {
    pub scope: StatScope,
    pub source: StatSource,
    pub figures: StatFigures,
}

/// One group of a breakdown.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatGroup {
    /// The group's value: a unit, leader or category id, a region code, a kind or a priority;
    /// `unassigned` (no lead unit yet) and `unclassified` (no priority yet) for the missing ones.
    #[schema(max_length = 64)]
    pub key: String,
    /// Its display name.
    #[schema(max_length = 200)]
    pub name: String,
    /// Rank by the sort key (1 = first; equal values share a rank); null when not ranked.
    #[schema(format = Int32, minimum = 1)]
    pub rank: Option<u32>,
    /// False when the group's sample (the denominator of the sorted rate) is under the minimum,
    /// or the value is undefined: such groups follow the ranked ones.
    pub ranked: bool,
    pub figures: StatFigures,
}

/// Figures per group, ranked.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatisticsBreakdown {
    pub scope: StatScope,
    pub by: Dimension,
    /// The sort key as given (`-` = descending).
    #[schema(max_length = 30)]
    pub sort: String,
    /// Minimum sample for a rate or median ranking.
    #[schema(format = Int32, minimum = 1)]
    pub min_sample: i32,
    pub source: StatSource,
    pub groups: Vec<StatGroup>,
    /// All groups together (the summary of the same scope).
    pub total: StatFigures,
}

/// One bucket of a timeseries.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatPoint {
    /// First day of the bucket inside the period.
    pub start: NaiveDate,
    /// Last day of the bucket inside the period.
    pub end: NaiveDate,
    pub figures: StatFigures,
}

/// Figures per day, week or month.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatisticsTimeseries {
    pub scope: StatScope,
    pub interval: Interval,
    pub source: StatSource,
    /// Every bucket of the period in order, empty ones included.
    pub points: Vec<StatPoint>,
}

macro_rules! stat_query {
    ($(#[$meta:meta])* pub struct $name:ident { $($extra:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Deserialize, IntoParams, Validate)]
        #[into_params(parameter_in = Query)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// First submission day counted (local date; default 1 January of this year).
            pub from: Option<NaiveDate>,
            /// Last submission day counted (local date; default today).
            pub to: Option<NaiveDate>,
            /// Messages in this region or below it.
            #[param(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
            #[validate(custom(function = "crate::http::validate::validate_region_code"))]
            pub region_code: Option<String>,
            /// Messages whose lead unit this is.
            pub unit_id: Option<UnitId>,
            /// Messages addressed to this leader.
            pub leader_id: Option<LeaderId>,
            pub category_id: Option<CategoryId>,
            #[param(inline)]
            pub kind: Option<MessageKind>,
            #[param(inline)]
            pub priority: Option<Priority>,
            /// `csv` or `xlsx` to download the table instead of JSON (`Accept: text/csv` or the
            /// XLSX media type does the same).
            #[param(inline)]
            pub format: Option<ExportFormat>,
            /// Column headers of a download: field names (`en`, default) or Chinese (`zh`).
            #[param(inline)]
            pub headers: Option<HeaderLanguage>,
            $($extra)*
        }

        impl $name {
            fn filters(&self) -> Filters {
                Filters {
                    from: self.from,
                    to: self.to,
                    region_code: self.region_code.clone(),
                    unit_id: self.unit_id,
                    leader_id: self.leader_id,
                    category_id: self.category_id,
                    kind: self.kind,
                    priority: self.priority,
                }
            }
        }
    };
}

stat_query! {
    /// Filters of the summary.
    pub struct SummaryQuery {}
}

stat_query! {
    /// Filters and grouping of a breakdown.
    pub struct BreakdownQuery {
        /// The dimension to group by.
        #[param(inline)]
        pub by: Dimension,
        /// Sort key, `-` for descending (default `-reply_rate`): received, accepted, replied,
        /// pending, overdue, reply_rate, on_time_rate, satisfaction_rate, verification_rate,
        /// reopen_rate, median_handling_days.
        #[param(max_length = 30, pattern = "^-?(received|accepted|replied|pending|overdue|reply_rate|on_time_rate|satisfaction_rate|verification_rate|reopen_rate|median_handling_days)$")]
        pub sort: Option<String>,
        /// Groups whose sample (the sorted rate's denominator, or the answered messages for the
        /// median) is under this are not ranked (default: the statistics policy's).
        #[param(minimum = 1, maximum = 100000, format = Int32)]
        #[validate(range(min = 1, max = 100_000))]
        pub min_sample: Option<u32>,
    }
}

stat_query! {
    /// Filters and bucket width of a timeseries.
    pub struct TimeseriesQuery {
        /// Bucket width.
        #[param(inline)]
        pub interval: Interval,
    }
}

#[derive(Debug, Clone)]
struct Filters {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    region_code: Option<String>,
    unit_id: Option<UnitId>,
    leader_id: Option<LeaderId>,
    category_id: Option<CategoryId>,
    kind: Option<MessageKind>,
    priority: Option<Priority>,
}

// ---------------------------------------------------------------------------------------------
// Scope and planning

/// Longest period, days (ten years).
const MAX_PERIOD_DAYS: i64 = 3_660;
/// Most buckets of a timeseries.
const MAX_POINTS: usize = 1_000;

/// The query after the caller's scope was applied, and what names groups.
struct Resolved {
    scope: StatScope,
    query: CellQuery,
    /// Path of the region the figures are confined to (root when none).
    base_path: Option<String>,
}

fn invalid(field: &'static str, message: &str) -> ApiError {
    ApiError::field(field, "invalid", message)
}

fn resolve(
    conn: &mut PgConnection,
    p: &Principal,
    f: Filters,
    group: Option<Dimension>,
    now: DateTime<Utc>,
) -> Result<Resolved, ApiError> {
    let today = local_date(now);
    let to = f.to.unwrap_or(today);
    let from = f
        .from
        .unwrap_or_else(|| NaiveDate::from_ymd_opt(to.year(), 1, 1).unwrap_or(to));
    if to < from {
        return Err(invalid("to", "must not be before `from`"));
    }
    if (to - from).num_days() >= MAX_PERIOD_DAYS {
        return Err(invalid("to", "the period may span at most ten years"));
    }
    let mut unit = f.unit_id;
    let mut region = f.region_code.clone();
    if let Some(code) = &region {
        crate::store::regions::get(conn, code).map_err(|e| match e {
            ApiError::NotFound(_) => invalid("region_code", "no such region"),
            other => other,
        })?;
    }
    // Liaison offices run the board for their territory: their staff read its statistics.
    let own_unit = match (p.role, p.unit_id) {
        (Role::Handler | Role::UnitAdmin | Role::Reviewer, Some(u)) => {
            Some(crate::store::units::get(conn, u)?)
        }
        _ => None,
    };
    // Unit staff never take territory from a region scope: only from a liaison office.
    let territory = match &own_unit {
        Some(u) if u.kind == crate::domain::reference::UnitKind::LiaisonOffice => {
            Some(u.region_code.clone())
        }
        Some(_) => None,
        None => p.scope_region.clone(),
    };
    match p.role {
        Role::Admin => {}
        Role::Supervisor | Role::Analyst | Role::Leader => {}
        Role::Handler | Role::UnitAdmin | Role::Reviewer if territory.is_some() => {}
        Role::Handler | Role::UnitAdmin | Role::Reviewer => {
            let Some(own) = p.unit_id else {
                return Err(ApiError::Forbidden(
                    "your account belongs to no unit".into(),
                ));
            };
            match unit {
                Some(u) if u != own => {
                    return Err(ApiError::Forbidden(
                        "unit staff read their own unit's statistics only".into(),
                    ));
                }
                _ => unit = Some(own),
            }
        }
        Role::Citizen | Role::Integration => {
            return Err(ApiError::Forbidden("role may not read statistics".into()));
        }
    }
    let region_scoped = match p.role {
        Role::Supervisor | Role::Analyst | Role::Leader => true,
        Role::Handler | Role::UnitAdmin | Role::Reviewer => territory.is_some(),
        _ => false,
    };
    if region_scoped {
        let Some(own) = &territory else {
            return Err(ApiError::Forbidden(
                "your account has no region scope to read statistics for".into(),
            ));
        };
        match &region {
            Some(code) if !crate::store::regions::is_within(conn, code, own)? => {
                return Err(ApiError::Forbidden(format!(
                    "region {code} lies outside your scope ({own})"
                )));
            }
            Some(_) => {}
            None => region = Some(own.clone()),
        }
    }
    if unit.is_some_and(|u| u.0.is_nil()) {
        return Err(invalid("unit_id", "no unit has the nil id"));
    }
    let (regions, base_path) = match &region {
        None => (None, None),
        Some(code) => {
            let r = crate::store::regions::get(conn, code)?;
            let codes = store::region_subtree(conn, &r.path)?;
            // The whole province needs no filter (every message lies in it).
            let filter = r.parent_code.is_some().then_some(codes);
            (filter, Some(r.path))
        }
    };
    Ok(Resolved {
        scope: StatScope {
            from,
            to,
            region_code: region,
            unit_id: unit,
            leader_id: f.leader_id,
            category_id: f.category_id,
            kind: f.kind,
            priority: f.priority,
        },
        query: CellQuery {
            from: Some(from),
            to: Some(to),
            regions,
            unit: unit.map(|u| u.0),
            leader: f.leader_id.map(|l| l.0),
            category: f.category_id.map(|c| c.0),
            kind: f.kind.map(|k| k.as_str().to_owned()),
            priority: f.priority.map(|p| p.as_str().to_owned()),
            group,
            use_months: true,
        },
        base_path,
    })
}

fn total(rows: &[CellRow]) -> Counts {
    let mut c = Counts::default();
    for r in rows {
        c.add(&r.counts);
    }
    c
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// Summary figures for a period and filters: received, accepted, rejected, assigned, replied,
/// pending, overdue now, reply rate, on-time rate, handling-time median and 90th percentile in
/// working days, satisfaction rate, reopened, return-visit verification rate.
///
/// Every figure counts the messages submitted on the days of the period (local dates) by their
/// state now. Unit staff get their own unit's figures; supervisors, analysts and leaders their
/// region subtree's. Answers come from maintained aggregates and are exact at every moment.
#[utoipa::path(
    operation_id = "statistics_summary",
    tag = "statistics",
    params(SummaryQuery),
    responses((status = 200, description = "The figures (JSON, or a CSV or XLSX download)", content(
        (StatisticsSummary = "application/json"),
        (crate::http::export::CsvFile = "text/csv"),
        (crate::http::export::XlsxFile = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    )))
)]
#[get("/statistics/summary")]
pub async fn statistics_summary(
    req: HttpRequest,
    db: web::Data<Db>,
    exports: web::Data<ExportSlots>,
    principal: Principal,
    query: ApiQuery<SummaryQuery>,
) -> Result<HttpResponse, ApiError> {
    let now = crate::http::now(&req);
    let filters = query.filters();
    let format = export::negotiate(&req, query.format, ExportFormat::Json);
    let lang = query.headers.unwrap_or(HeaderLanguage::En);
    let out = db
        .run(move |conn| {
            let r = resolve(conn, &principal, filters, None, now)?;
            let (source, rows) = store::read(conn, &r.query)?;
            Ok::<_, ApiError>(StatisticsSummary {
                scope: r.scope,
                source: source.into(),
                figures: Figures::of(total(&rows)).into(),
            })
        })
        .await?;
    if format == ExportFormat::Json {
        return Ok(HttpResponse::Ok().json(out));
    }
    let mut columns = vec![
        Column {
            en: "from",
            zh: "起始日期",
        },
        Column {
            en: "to",
            zh: "截止日期",
        },
    ];
    columns.extend_from_slice(FIGURE_COLUMNS);
    let mut row = vec![
        Cell::from(out.scope.from.to_string()),
        Cell::from(out.scope.to.to_string()),
    ];
    row.extend(figure_cells(&out.figures));
    download(
        &db,
        &exports,
        format,
        lang,
        columns,
        "statistics-summary",
        vec![row],
    )
    .await
}

/// The same figures per unit, region, leader, category or kind, ranked: the league tables
/// leaders read. Rates carry their denominators and 95% Wilson intervals; groups whose sample is
/// under the minimum (`min_sample`, default from the statistics policy) are listed after the
/// ranked ones without a rank, so a unit with one reply does not top the table.
///
/// Regions group by the direct children of the region filter (of the province without one);
/// messages of the region itself form their own group.
#[utoipa::path(
    operation_id = "statistics_breakdown",
    tag = "statistics",
    params(BreakdownQuery),
    responses((status = 200, description = "The groups, ranked (JSON, or a CSV or XLSX download)", content(
        (StatisticsBreakdown = "application/json"),
        (crate::http::export::CsvFile = "text/csv"),
        (crate::http::export::XlsxFile = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    )))
)]
#[get("/statistics/breakdown")]
pub async fn statistics_breakdown(
    req: HttpRequest,
    db: web::Data<Db>,
    exports: web::Data<ExportSlots>,
    principal: Principal,
    query: ApiQuery<BreakdownQuery>,
) -> Result<HttpResponse, ApiError> {
    let now = crate::http::now(&req);
    let query = query.0;
    let sort = query.sort.clone().unwrap_or_else(|| "-reply_rate".into());
    let (descending, key_name) = match sort.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, sort.as_str()),
    };
    let key = SortKey::parse(key_name).ok_or_else(|| {
        invalid(
            "sort",
            &format!("unknown sort key; one of {}", SortKey::NAMES.join(", ")),
        )
    })?;
    let filters = query.filters();
    let by = query.by;
    let min_sample_arg = query.min_sample;
    let format = export::negotiate(&req, query.format, ExportFormat::Json);
    let lang = query.headers.unwrap_or(HeaderLanguage::En);
    let out = db
        .run_expensive(move |conn| {
            let r = resolve(conn, &principal, filters, Some(by), now)?;
            let min_sample = match min_sample_arg {
                Some(n) => i32::try_from(n).unwrap_or(i32::MAX),
                None => store::policy(conn)?.min_sample,
            };
            let (source, rows) = store::read(conn, &r.query)?;
            let names = store::group_names(conn, by)?;
            let regions = if by == Dimension::Region {
                Some(store::region_paths(conn)?)
            } else {
                None
            };
            // The region whose own messages form the "本级" group.
            let base_code = r.scope.region_code.clone().or_else(|| {
                regions.as_ref().and_then(|paths| {
                    paths
                        .iter()
                        .find(|(_, path)| path.matches('/').count() == 1)
                        .map(|(code, _)| code.clone())
                })
            });
            let mut groups: BTreeMap<String, Counts> = BTreeMap::new();
            for row in &rows {
                let raw = row.group.clone().unwrap_or_default();
                let key = match &regions {
                    Some(paths) => region_group(&raw, r.base_path.as_deref(), paths),
                    None => raw,
                };
                groups.entry(key).or_default().add(&row.counts);
            }
            let mut list: Vec<(String, Figures)> = groups
                .into_iter()
                .filter(|(_, c)| !c.is_zero())
                .map(|(k, c)| (k, Figures::of(c)))
                .collect();
            let placements = stats::rank(
                &mut list,
                key,
                !descending,
                i64::from(min_sample),
                String::clone,
            );
            let groups = list
                .into_iter()
                .zip(placements)
                .map(|((k, f), place)| {
                    let (key, name) = display(by, &k, &names, base_code.as_deref());
                    StatGroup {
                        key,
                        name,
                        rank: place.rank,
                        ranked: place.ranked,
                        figures: f.into(),
                    }
                })
                .collect();
            Ok::<_, ApiError>(StatisticsBreakdown {
                scope: r.scope,
                by,
                sort,
                min_sample,
                source: source.into(),
                groups,
                total: Figures::of(total(&rows)).into(),
            })
        })
        .await?;
    if format == ExportFormat::Json {
        return Ok(HttpResponse::Ok().json(out));
    }
    let mut columns = vec![
        Column {
            en: "key",
            zh: "代码",
        },
        Column {
            en: "name",
            zh: "名称",
        },
        Column {
            en: "rank",
            zh: "排名",
        },
        Column {
            en: "ranked",
            zh: "参与排名",
        },
    ];
    columns.extend_from_slice(FIGURE_COLUMNS);
    let rows = out
        .groups
        .iter()
        .map(|g| {
            let mut row = vec![
                Cell::from(g.key.clone()),
                Cell::from(g.name.clone()),
                Cell::from(g.rank),
                Cell::from(if g.ranked { "true" } else { "false" }),
            ];
            row.extend(figure_cells(&g.figures));
            row
        })
        .collect();
    download(
        &db,
        &exports,
        format,
        lang,
        columns,
        &format!("statistics-by-{by}"),
        rows,
    )
    .await
}

/// The same figures per day, ISO week or month of submission, every bucket of the period in
/// order (empty ones included; the first and last are cut to the period).
#[utoipa::path(
    operation_id = "statistics_timeseries",
    tag = "statistics",
    params(TimeseriesQuery),
    responses((status = 200, description = "The buckets (JSON, or a CSV or XLSX download)", content(
        (StatisticsTimeseries = "application/json"),
        (crate::http::export::CsvFile = "text/csv"),
        (crate::http::export::XlsxFile = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    )))
)]
#[get("/statistics/timeseries")]
pub async fn statistics_timeseries(
    req: HttpRequest,
    db: web::Data<Db>,
    exports: web::Data<ExportSlots>,
    principal: Principal,
    query: ApiQuery<TimeseriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let now = crate::http::now(&req);
    let interval = query.interval;
    let filters = query.filters();
    let format = export::negotiate(&req, query.format, ExportFormat::Json);
    let lang = query.headers.unwrap_or(HeaderLanguage::En);
    let out = db
        .run_expensive(move |conn| {
            let mut r = resolve(conn, &principal, filters, None, now)?;
            let (from, to) = (r.scope.from, r.scope.to);
            let mut buckets: Vec<NaiveDate> = Vec::new();
            let mut start = stats::bucket_start(interval, from);
            while start <= to {
                if buckets.len() == MAX_POINTS {
                    return Err(invalid(
                        "interval",
                        &format!("more than {MAX_POINTS} buckets: choose a wider interval or a shorter period"),
                    ));
                }
                buckets.push(start);
                start = match stats::bucket_end(interval, start).succ_opt() {
                    Some(d) => d,
                    None => break,
                };
            }
            r.query.use_months = interval == Interval::Month;
            let (source, rows) = store::read(conn, &r.query)?;
            let mut per: HashMap<NaiveDate, Counts> = HashMap::new();
            for row in &rows {
                per.entry(stats::bucket_start(interval, row.period))
                    .or_default()
                    .add(&row.counts);
            }
            let points = buckets
                .into_iter()
                .map(|b| StatPoint {
                    start: b.max(from),
                    end: stats::bucket_end(interval, b).min(to),
                    figures: Figures::of(per.remove(&b).unwrap_or_default()).into(),
                })
                .collect();
            Ok::<_, ApiError>(StatisticsTimeseries {
                scope: r.scope,
                interval,
                source: source.into(),
                points,
            })
        })
        .await?;
    if format == ExportFormat::Json {
        return Ok(HttpResponse::Ok().json(out));
    }
    let mut columns = vec![
        Column {
            en: "start",
            zh: "起始日期",
        },
        Column {
            en: "end",
            zh: "截止日期",
        },
    ];
    columns.extend_from_slice(FIGURE_COLUMNS);
    let rows = out
        .points
        .iter()
        .map(|p| {
            let mut row = vec![
                Cell::from(p.start.to_string()),
                Cell::from(p.end.to_string()),
            ];
            row.extend(figure_cells(&p.figures));
            row
        })
        .collect();
    download(
        &db,
        &exports,
        format,
        lang,
        columns,
        &format!("statistics-per-{interval}"),
        rows,
    )
    .await
}

/// The region group of a message's region: the child of the base region on its path, or the
/// base region itself.
fn region_group(code: &str, base_path: Option<&str>, paths: &HashMap<String, String>) -> String {
    let Some(path) = paths.get(code) else {
        return code.to_owned();
    };
    let base = match base_path {
        Some(b) => b.to_owned(),
        // The province: the first segment of every path.
        None => path
            .split('/')
            .next()
            .map(|s| format!("{s}/"))
            .unwrap_or_default(),
    };
    match path
        .strip_prefix(&base)
        .and_then(|rest| rest.split('/').next())
    {
        Some(child) if !child.is_empty() => child.to_owned(),
        _ => base
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(code)
            .to_owned(),
    }
}

/// A group's key and display name.
fn display(
    by: Dimension,
    raw: &str,
    names: &HashMap<String, String>,
    base_region: Option<&str>,
) -> (String, String) {
    match by {
        Dimension::Unit if raw == stats::NO_UNIT.to_string() => {
            ("unassigned".into(), "未交办".into())
        }
        Dimension::Priority if raw.is_empty() => ("unclassified".into(), "未分类".into()),
        Dimension::Priority => (
            raw.to_owned(),
            match raw {
                "important" => "重要",
                "routine" => "一般",
                other => other,
            }
            .into(),
        ),
        Dimension::Kind => (
            raw.to_owned(),
            match raw {
                "consultation" => "咨询",
                "suggestion" => "建议",
                "complaint" => "投诉",
                "help_request" => "求助",
                other => other,
            }
            .into(),
        ),
        Dimension::Region if Some(raw) == base_region => (
            raw.to_owned(),
            format!("{}（本级）", names.get(raw).cloned().unwrap_or_default()),
        ),
        _ => (
            raw.to_owned(),
            names.get(raw).cloned().unwrap_or_else(|| raw.to_owned()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_group_by_the_child_of_the_base() {
        let paths: HashMap<String, String> = [
            ("620000", "620000/"),
            ("620100", "620000/620100/"),
            ("620102", "620000/620100/620102/"),
            ("620900", "620000/620900/"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
        assert_eq!(region_group("620102", None, &paths), "620100");
        assert_eq!(region_group("620900", None, &paths), "620900");
        assert_eq!(region_group("620000", None, &paths), "620000");
        assert_eq!(
            region_group("620102", Some("620000/620100/"), &paths),
            "620102"
        );
        assert_eq!(
            region_group("620100", Some("620000/620100/"), &paths),
            "620100",
            "the base region's own messages"
        );
    }
}
