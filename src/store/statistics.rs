//! The maintained aggregates behind the statistics (migration `…000005_statistics`).
//!
//! A trigger on `messages` appends every change of a message's fact vector to `stat_deltas` in
//! the changing transaction. [`fold`] moves deltas into `stat_cells` (every cube of at most two
//! dimensions, day and month grain) in one transaction; [`read`] sums cells plus the deltas not
//! folded yet, so an answer is exact at any moment. Queries that need three or more dimensions
//! at once have no cube: they count the messages themselves ([`Source::Raw`]), correct but
//! slower.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Date, Integer, Nullable, SmallInt, Text, Timestamptz,
};
use uuid::Uuid;

use crate::domain::ids::UserId;
use crate::domain::statistics::{
    self as stats, ALL_TEXT, ALL_UUID, Counts, Dimension, month_start,
};
use crate::error::ApiError;
use crate::schema::statistics_policy as sp;

/// Where a figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Cells of a maintained cube plus the unfolded deltas.
    Aggregates,
    /// The messages themselves (no cube keeps all the dimensions asked for).
    Raw,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Aggregates => "aggregates",
            Source::Raw => "raw",
        }
    }
}

/// What to count: submission days `from..=to`, optional filters, an optional group dimension.
#[derive(Debug, Clone, Default)]
pub struct CellQuery {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Leaf-or-any region codes of the subtree asked for; `None` = no region filter.
    pub regions: Option<Vec<String>>,
    pub unit: Option<Uuid>,
    pub leader: Option<Uuid>,
    pub category: Option<Uuid>,
    pub kind: Option<String>,
    pub priority: Option<String>,
    pub group: Option<Dimension>,
    /// Whole months may come from month cells (false when buckets are days or weeks).
    pub use_months: bool,
}

impl CellQuery {
    fn dimensions(&self) -> Vec<Dimension> {
        let mut dims = Vec::new();
        if self.regions.is_some() {
            dims.push(Dimension::Region);
        }
        if self.unit.is_some() {
            dims.push(Dimension::Unit);
        }
        if self.leader.is_some() {
            dims.push(Dimension::Leader);
        }
        if self.category.is_some() {
            dims.push(Dimension::Category);
        }
        if self.kind.is_some() {
            dims.push(Dimension::Kind);
        }
        if self.priority.is_some() {
            dims.push(Dimension::Priority);
        }
        if let Some(g) = self.group
            && !dims.contains(&g)
        {
            dims.push(g);
        }
        dims
    }
}

/// Counts of one period (a day, or a whole month when `month`) and group value.
#[derive(Debug, Clone)]
pub struct CellRow {
    pub period: NaiveDate,
    pub month: bool,
    /// The group dimension's value as text (UUIDs hyphenated; '' for no priority); `None`
    /// without a group.
    pub group: Option<String>,
    pub counts: Counts,
}

#[derive(QueryableByName)]
struct SqlRow {
    #[diesel(sql_type = Date)]
    period: NaiveDate,
    #[diesel(sql_type = Bool)]
    month: bool,
    #[diesel(sql_type = Nullable<Text>)]
    grp: Option<String>,
    #[diesel(sql_type = BigInt)]
    received: i64,
    #[diesel(sql_type = BigInt)]
    accepted: i64,
    #[diesel(sql_type = BigInt)]
    rejected: i64,
    #[diesel(sql_type = BigInt)]
    withdrawn: i64,
    #[diesel(sql_type = BigInt)]
    assigned: i64,
    #[diesel(sql_type = BigInt)]
    replied: i64,
    #[diesel(sql_type = BigInt)]
    pending: i64,
    #[diesel(sql_type = BigInt)]
    overdue: i64,
    #[diesel(sql_type = BigInt)]
    judged: i64,
    #[diesel(sql_type = BigInt)]
    on_time: i64,
    #[diesel(sql_type = BigInt)]
    rated: i64,
    #[diesel(sql_type = BigInt)]
    satisfied: i64,
    #[diesel(sql_type = BigInt)]
    basically_satisfied: i64,
    #[diesel(sql_type = BigInt)]
    unsatisfied: i64,
    #[diesel(sql_type = BigInt)]
    reopened: i64,
    #[diesel(sql_type = BigInt)]
    visited: i64,
    #[diesel(sql_type = BigInt)]
    verified: i64,
    /// Deltas and raw rows: the working days of the answered messages of this row (their
    /// number is `received`). Cells: NULL, their histogram is `hist`.
    #[diesel(sql_type = Nullable<Integer>)]
    handling_days: Option<i32>,
    #[diesel(sql_type = Array<Integer>)]
    hist: Vec<i32>,
}

impl SqlRow {
    fn into_row(self) -> CellRow {
        let mut counts = Counts {
            received: self.received,
            accepted: self.accepted,
            rejected: self.rejected,
            withdrawn: self.withdrawn,
            assigned: self.assigned,
            replied: self.replied,
            pending: self.pending,
            overdue: self.overdue,
            judged: self.judged,
            on_time: self.on_time,
            rated: self.rated,
            satisfied: self.satisfied,
            basically_satisfied: self.basically_satisfied,
            unsatisfied: self.unsatisfied,
            reopened: self.reopened,
            visited: self.visited,
            verified: self.verified,
            hist: self.hist.iter().map(|&n| i64::from(n)).collect(),
        };
        if let Some(days) = self.handling_days {
            counts.add_days(days, self.received);
        }
        CellRow {
            period: self.period,
            month: self.month,
            group: self.grp,
            counts,
        }
    }
}

const MEASURES: &[&str] = &[
    "received",
    "accepted",
    "rejected",
    "withdrawn",
    "assigned",
    "replied",
    "pending",
    "overdue",
    "judged",
    "on_time",
    "rated",
    "satisfied",
    "basically_satisfied",
    "unsatisfied",
    "reopened",
    "visited",
    "verified",
];

/// A value bound to a placeholder of a generated statement.
enum Bind {
    Date(NaiveDate),
    Time(DateTime<Utc>),
    Uuid(Uuid),
    Text(String),
    Texts(Vec<String>),
    Small(i16),
}

#[derive(Default)]
struct Statement {
    sql: String,
    binds: Vec<Bind>,
}

impl Statement {
    /// Appends a placeholder for `b` and returns it (`$n`).
    fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    fn load(self, conn: &mut PgConnection) -> Result<Vec<SqlRow>, ApiError> {
        let mut q = diesel::sql_query(self.sql).into_boxed::<diesel::pg::Pg>();
        for b in self.binds {
            q = match b {
                Bind::Date(v) => q.bind::<Date, _>(v),
                Bind::Time(v) => q.bind::<Timestamptz, _>(v),
                Bind::Uuid(v) => q.bind::<diesel::sql_types::Uuid, _>(v),
                Bind::Text(v) => q.bind::<Text, _>(v),
                Bind::Texts(v) => q.bind::<Array<Text>, _>(v),
                Bind::Small(v) => q.bind::<SmallInt, _>(v),
            };
        }
        Ok(q.load(conn)?)
    }
}

/// The column holding a dimension's value, as text.
fn group_expr(group: Option<Dimension>) -> &'static str {
    match group {
        None => "NULL::text",
        Some(Dimension::Region) => "region_code::text",
        Some(Dimension::Unit) => "coalesce(unit_id, '00000000-0000-0000-0000-000000000000')::text",
        Some(Dimension::Leader) => "leader_id::text",
        Some(Dimension::Category) => "category_id::text",
        Some(Dimension::Kind) => "kind",
        Some(Dimension::Priority) => "coalesce(priority, '')",
    }
}

/// `AND …` for the filters of `q`.
fn filter_sql(q: &CellQuery, st: &mut Statement) -> String {
    let mut out = String::new();
    if let Some(codes) = &q.regions {
        let p = st.bind(Bind::Texts(codes.clone()));
        out.push_str(&format!(" AND region_code = ANY({p})"));
    }
    for (col, v) in [
        ("unit_id", q.unit),
        ("leader_id", q.leader),
        ("category_id", q.category),
    ] {
        if let Some(v) = v {
            let p = st.bind(Bind::Uuid(v));
            out.push_str(&format!(" AND {col} = {p}"));
        }
    }
    for (col, v) in [("kind", &q.kind), ("priority", &q.priority)] {
        if let Some(v) = v {
            let p = st.bind(Bind::Text(v.clone()));
            out.push_str(&format!(" AND {col} = {p}"));
        }
    }
    out
}

/// `AND …` pinning the dimensions a cube does not keep to their "all" value (so the primary
/// key's prefix narrows the scan).
fn rolled_up_sql(cube: i16) -> String {
    let mut out = String::new();
    for d in Dimension::ALL {
        if cube & d.bit() != 0 {
            continue;
        }
        let (col, value) = match d {
            Dimension::Region => ("region_code", format!("'{ALL_TEXT}'")),
            Dimension::Unit => ("unit_id", format!("'{ALL_UUID}'")),
            Dimension::Leader => ("leader_id", format!("'{ALL_UUID}'")),
            Dimension::Category => ("category_id", format!("'{ALL_UUID}'")),
            Dimension::Kind => ("kind", format!("'{ALL_TEXT}'")),
            Dimension::Priority => ("priority", format!("'{ALL_TEXT}'")),
        };
        out.push_str(&format!(" AND {col} = {value}"));
    }
    out
}

fn sums(prefix: &str) -> String {
    MEASURES
        .iter()
        .map(|m| format!("sum({prefix}{m})::int8 AS {m}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Local midnight (Shanghai) of a day, as an instant.
fn local_midnight(d: NaiveDate) -> DateTime<Utc> {
    crate::domain::calendar::start_of_local_day(d)
}

/// The counts of `q`, per period and group value (several rows may share a key: the caller
/// adds them up).
pub fn read(conn: &mut PgConnection, q: &CellQuery) -> Result<(Source, Vec<CellRow>), ApiError> {
    let from = q.from.unwrap_or(NaiveDate::MIN);
    let to = q.to.unwrap_or(NaiveDate::MAX);
    if to < from {
        return Ok((Source::Aggregates, Vec::new()));
    }
    let cube = stats::cube_of(q.dimensions());
    let grp = group_expr(q.group);
    let mut st = Statement::default();
    let source = if stats::is_materialized(cube) {
        let plan = stats::plan_period(from, to, q.use_months);
        let mut parts = Vec::new();
        let cells = |st: &mut Statement, grain: &str, a: NaiveDate, b: NaiveDate| {
            let c = st.bind(Bind::Small(cube));
            let pa = st.bind(Bind::Date(a));
            let pb = st.bind(Bind::Date(b));
            let filters = filter_sql(q, st);
            format!(
                "SELECT period, grain = 'm' AS month, {grp} AS grp, {}, NULL::int4 AS handling_days, hist \
                 FROM stat_cells WHERE cube = {c} AND grain = '{grain}' AND period BETWEEN {pa} AND {pb}{}{filters}",
                MEASURES
                    .iter()
                    .map(|m| format!("{m}::int8"))
                    .collect::<Vec<_>>()
                    .join(", "),
                rolled_up_sql(cube),
            )
        };
        for (a, b) in &plan.day_ranges {
            parts.push(cells(&mut st, "d", *a, *b));
        }
        if let Some((a, b)) = plan.months {
            parts.push(cells(&mut st, "m", a, b));
        }
        let pa = st.bind(Bind::Date(from));
        let pb = st.bind(Bind::Date(to));
        let filters = filter_sql(q, &mut st);
        parts.push(format!(
            "SELECT day AS period, false AS month, {grp} AS grp, {}, handling_days, '{{}}'::int4[] AS hist \
             FROM stat_deltas WHERE day BETWEEN {pa} AND {pb}{filters} GROUP BY 1, 3, handling_days",
            sums("")
        ));
        st.sql = parts.join(" UNION ALL ");
        Source::Aggregates
    } else {
        let pa = st.bind(Bind::Time(local_midnight(
            from.max(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN)),
        )));
        let pb = st.bind(Bind::Time(local_midnight(
            to.min(NaiveDate::from_ymd_opt(9000, 1, 1).unwrap_or(NaiveDate::MAX))
                .succ_opt()
                .unwrap_or(to),
        )));
        let filters = filter_sql(q, &mut st);
        st.sql = format!(
            "SELECT stat_day(m.submitted_at) AS period, false AS month, {grp} AS grp, {}, s.handling_days, '{{}}'::int4[] AS hist \
             FROM messages m CROSS JOIN LATERAL stat_measures(m) s \
             WHERE m.submitted_at >= {pa} AND m.submitted_at < {pb}{filters} GROUP BY 1, 3, s.handling_days",
            sums("s.")
        );
        Source::Raw
    };
    let rows = st.load(conn)?;
    Ok((source, rows.into_iter().map(SqlRow::into_row).collect()))
}

/// The key of one cell.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct CellKey {
    cube: i16,
    month: bool,
    region_code: String,
    unit_id: Uuid,
    leader_id: Uuid,
    category_id: Uuid,
    kind: String,
    priority: String,
    period: NaiveDate,
}

/// One message-level fact row (a delta, or a group of messages in a rebuild).
#[derive(QueryableByName, Debug, Clone)]
struct FactRow {
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = Text)]
    region_code: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    unit_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    leader_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    category_id: Uuid,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    priority: String,
    #[diesel(sql_type = BigInt)]
    received: i64,
    #[diesel(sql_type = BigInt)]
    accepted: i64,
    #[diesel(sql_type = BigInt)]
    rejected: i64,
    #[diesel(sql_type = BigInt)]
    withdrawn: i64,
    #[diesel(sql_type = BigInt)]
    assigned: i64,
    #[diesel(sql_type = BigInt)]
    replied: i64,
    #[diesel(sql_type = BigInt)]
    pending: i64,
    #[diesel(sql_type = BigInt)]
    overdue: i64,
    #[diesel(sql_type = BigInt)]
    judged: i64,
    #[diesel(sql_type = BigInt)]
    on_time: i64,
    #[diesel(sql_type = BigInt)]
    rated: i64,
    #[diesel(sql_type = BigInt)]
    satisfied: i64,
    #[diesel(sql_type = BigInt)]
    basically_satisfied: i64,
    #[diesel(sql_type = BigInt)]
    unsatisfied: i64,
    #[diesel(sql_type = BigInt)]
    reopened: i64,
    #[diesel(sql_type = BigInt)]
    visited: i64,
    #[diesel(sql_type = BigInt)]
    verified: i64,
    #[diesel(sql_type = Nullable<Integer>)]
    handling_days: Option<i32>,
}

impl FactRow {
    fn counts(&self) -> Counts {
        let mut c = Counts {
            received: self.received,
            accepted: self.accepted,
            rejected: self.rejected,
            withdrawn: self.withdrawn,
            assigned: self.assigned,
            replied: self.replied,
            pending: self.pending,
            overdue: self.overdue,
            judged: self.judged,
            on_time: self.on_time,
            rated: self.rated,
            satisfied: self.satisfied,
            basically_satisfied: self.basically_satisfied,
            unsatisfied: self.unsatisfied,
            reopened: self.reopened,
            visited: self.visited,
            verified: self.verified,
            hist: Vec::new(),
        };
        if let Some(d) = self.handling_days {
            c.add_days(d, self.received);
        }
        c
    }

    /// Adds this fact to every cell it belongs to: each maintained cube, day and month grain.
    fn expand_into(&self, cells: &mut HashMap<CellKey, Counts>) {
        let counts = self.counts();
        for cube in stats::materialized_cubes() {
            let keep = |d: Dimension| cube & d.bit() != 0;
            for month in [false, true] {
                let key = CellKey {
                    cube,
                    month,
                    region_code: if keep(Dimension::Region) {
                        self.region_code.clone()
                    } else {
                        ALL_TEXT.to_owned()
                    },
                    unit_id: if keep(Dimension::Unit) {
                        self.unit_id
                    } else {
                        ALL_UUID
                    },
                    leader_id: if keep(Dimension::Leader) {
                        self.leader_id
                    } else {
                        ALL_UUID
                    },
                    category_id: if keep(Dimension::Category) {
                        self.category_id
                    } else {
                        ALL_UUID
                    },
                    kind: if keep(Dimension::Kind) {
                        self.kind.clone()
                    } else {
                        ALL_TEXT.to_owned()
                    },
                    priority: if keep(Dimension::Priority) {
                        self.priority.clone()
                    } else {
                        ALL_TEXT.to_owned()
                    },
                    period: if month {
                        month_start(self.day)
                    } else {
                        self.day
                    },
                };
                cells.entry(key).or_default().add(&counts);
            }
        }
    }
}

const FACT_COLUMNS: &str = "day, region_code::text AS region_code, unit_id, leader_id, category_id, kind, priority, \
    received::int8 AS received, accepted::int8 AS accepted, rejected::int8 AS rejected, \
    withdrawn::int8 AS withdrawn, assigned::int8 AS assigned, replied::int8 AS replied, \
    pending::int8 AS pending, overdue::int8 AS overdue, judged::int8 AS judged, \
    on_time::int8 AS on_time, rated::int8 AS rated, satisfied::int8 AS satisfied, \
    basically_satisfied::int8 AS basically_satisfied, unsatisfied::int8 AS unsatisfied, \
    reopened::int8 AS reopened, visited::int8 AS visited, verified::int8 AS verified, handling_days";

/// Adds cells to `stat_cells` (insert, or add to the existing counts).
fn upsert(conn: &mut PgConnection, cells: HashMap<CellKey, Counts>) -> Result<usize, ApiError> {
    let mut cells: Vec<(CellKey, Counts)> =
        cells.into_iter().filter(|(_, c)| !c.is_zero()).collect();
    // One order for every writer: concurrent folds cannot deadlock on cell rows.
    cells.sort_by(|a, b| a.0.cmp(&b.0));
    let n = cells.len();
    for chunk in cells.chunks(5_000) {
        let mut cube = Vec::with_capacity(chunk.len());
        let mut grain = Vec::with_capacity(chunk.len());
        let mut region = Vec::with_capacity(chunk.len());
        let mut unit = Vec::with_capacity(chunk.len());
        let mut leader = Vec::with_capacity(chunk.len());
        let mut category = Vec::with_capacity(chunk.len());
        let mut kind = Vec::with_capacity(chunk.len());
        let mut priority = Vec::with_capacity(chunk.len());
        let mut period = Vec::with_capacity(chunk.len());
        let mut measures: Vec<Vec<i64>> = vec![Vec::with_capacity(chunk.len()); MEASURES.len()];
        let mut hist = Vec::with_capacity(chunk.len());
        for (k, c) in chunk {
            cube.push(k.cube);
            grain.push(if k.month { "m" } else { "d" });
            region.push(k.region_code.as_str());
            unit.push(k.unit_id);
            leader.push(k.leader_id);
            category.push(k.category_id);
            kind.push(k.kind.as_str());
            priority.push(k.priority.as_str());
            period.push(k.period);
            for (i, v) in [
                c.received,
                c.accepted,
                c.rejected,
                c.withdrawn,
                c.assigned,
                c.replied,
                c.pending,
                c.overdue,
                c.judged,
                c.on_time,
                c.rated,
                c.satisfied,
                c.basically_satisfied,
                c.unsatisfied,
                c.reopened,
                c.visited,
                c.verified,
            ]
            .into_iter()
            .enumerate()
            {
                measures[i].push(v);
            }
            hist.push(format!(
                "{{{}}}",
                c.hist
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        let m_cols = MEASURES.join(", ");
        let m_unnest = (0..MEASURES.len())
            .map(|i| format!("${}::int8[]", i + 10))
            .collect::<Vec<_>>()
            .join(", ");
        let m_update = MEASURES
            .iter()
            .map(|m| format!("{m} = stat_cells.{m} + EXCLUDED.{m}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO stat_cells (cube, grain, region_code, unit_id, leader_id, category_id, kind, priority, period, {m_cols}, hist) \
             SELECT c, g::\"char\", r, u, l, ca, k, p, pe, {m_select}, h::int4[] \
             FROM unnest($1::int2[], $2::text[], $3::text[], $4::uuid[], $5::uuid[], $6::uuid[], $7::text[], $8::text[], $9::date[], {m_unnest}, ${h}::text[]) \
                  AS x(c, g, r, u, l, ca, k, p, pe, {m_names}, h) \
             ON CONFLICT (cube, grain, region_code, unit_id, leader_id, category_id, kind, priority, period) \
             DO UPDATE SET {m_update}, hist = stat_hist_add(stat_cells.hist, EXCLUDED.hist)",
            m_select = (0..MEASURES.len())
                .map(|i| format!("m{i}"))
                .collect::<Vec<_>>()
                .join(", "),
            m_names = (0..MEASURES.len())
                .map(|i| format!("m{i}"))
                .collect::<Vec<_>>()
                .join(", "),
            h = MEASURES.len() + 10,
        );
        let mut q = diesel::sql_query(sql)
            .into_boxed::<diesel::pg::Pg>()
            .bind::<Array<SmallInt>, _>(cube)
            .bind::<Array<Text>, _>(grain)
            .bind::<Array<Text>, _>(region)
            .bind::<Array<diesel::sql_types::Uuid>, _>(unit)
            .bind::<Array<diesel::sql_types::Uuid>, _>(leader)
            .bind::<Array<diesel::sql_types::Uuid>, _>(category)
            .bind::<Array<Text>, _>(kind)
            .bind::<Array<Text>, _>(priority)
            .bind::<Array<Date>, _>(period);
        for m in measures {
            q = q.bind::<Array<BigInt>, _>(m);
        }
        q.bind::<Array<Text>, _>(hist).execute(conn)?;
    }
    Ok(n)
}

/// The advisory lock key of folding and rebuilding ("liuyan stats").
const FOLD_LOCK: i64 = 0x6c69_7579_616e_5354;

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Folds up to `limit` deltas into the cells, in one transaction; 0 when another process is
/// folding right now (transaction-level lock: safe behind a transaction-pooling PgBouncer).
pub fn fold(conn: &mut PgConnection, limit: i64) -> Result<usize, ApiError> {
    conn.transaction(|conn| {
        let got: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
            .bind::<BigInt, _>(FOLD_LOCK)
            .get_result(conn)?;
        if !got.locked {
            return Ok(0);
        }
        let facts: Vec<FactRow> = diesel::sql_query(format!(
            "DELETE FROM stat_deltas WHERE id IN (SELECT id FROM stat_deltas ORDER BY id LIMIT $1) \
             RETURNING {FACT_COLUMNS}"
        ))
        .bind::<BigInt, _>(limit)
        .load(conn)?;
        let mut cells = HashMap::new();
        for f in &facts {
            f.expand_into(&mut cells);
        }
        upsert(conn, cells)?;
        Ok(facts.len())
    })
}

/// Folds until no delta is left (or `max_rounds` rounds of `batch`).
pub fn fold_all(conn: &mut PgConnection, batch: i64, max_rounds: usize) -> Result<usize, ApiError> {
    let mut total = 0;
    for _ in 0..max_rounds {
        let n = fold(conn, batch)?;
        total += n;
        if n < usize::try_from(batch).unwrap_or(usize::MAX) {
            break;
        }
    }
    Ok(total)
}

/// Recomputes every cell from the messages (one month of submissions at a time, so memory stays
/// bounded), replacing cells and deltas. Blocks message writes while it runs (SHARE lock on
/// messages): for the benchmark seed and for repairs.
pub fn rebuild(conn: &mut PgConnection) -> Result<usize, ApiError> {
    conn.transaction(|conn| {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<BigInt, _>(FOLD_LOCK)
            .execute(conn)?;
        diesel::sql_query("LOCK TABLE messages IN SHARE MODE").execute(conn)?;
        diesel::sql_query("TRUNCATE stat_cells, stat_deltas").execute(conn)?;
        #[derive(QueryableByName)]
        struct Span {
            #[diesel(sql_type = Nullable<Date>)]
            first: Option<NaiveDate>,
            #[diesel(sql_type = Nullable<Date>)]
            last: Option<NaiveDate>,
        }
        let span: Span = diesel::sql_query(
            "SELECT stat_day(min(submitted_at)) AS first, stat_day(max(submitted_at)) AS last FROM messages",
        )
        .get_result(conn)?;
        let (Some(first), Some(last)) = (span.first, span.last) else {
            return Ok(0);
        };
        let mut total = 0;
        let mut month = month_start(first);
        while month <= last {
            let next = month
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(NaiveDate::MAX);
            let facts: Vec<FactRow> = diesel::sql_query(
                "SELECT stat_day(m.submitted_at) AS day, m.region_code::text AS region_code, \
                    coalesce(m.unit_id, '00000000-0000-0000-0000-000000000000') AS unit_id, \
                    m.leader_id, m.category_id, m.kind, coalesce(m.priority, '') AS priority, \
                    sum(s.received)::int8 AS received, sum(s.accepted)::int8 AS accepted, \
                    sum(s.rejected)::int8 AS rejected, sum(s.withdrawn)::int8 AS withdrawn, \
                    sum(s.assigned)::int8 AS assigned, sum(s.replied)::int8 AS replied, \
                    sum(s.pending)::int8 AS pending, sum(s.overdue)::int8 AS overdue, \
                    sum(s.judged)::int8 AS judged, sum(s.on_time)::int8 AS on_time, \
                    sum(s.rated)::int8 AS rated, sum(s.satisfied)::int8 AS satisfied, \
                    sum(s.basically_satisfied)::int8 AS basically_satisfied, \
                    sum(s.unsatisfied)::int8 AS unsatisfied, sum(s.reopened)::int8 AS reopened, \
                    sum(s.visited)::int8 AS visited, sum(s.verified)::int8 AS verified, \
                    s.handling_days \
                 FROM messages m CROSS JOIN LATERAL stat_measures(m) s \
                 WHERE m.submitted_at >= $1 AND m.submitted_at < $2 \
                 GROUP BY 1, 2, 3, 4, 5, 6, 7, s.handling_days",
            )
            .bind::<Timestamptz, _>(local_midnight(month))
            .bind::<Timestamptz, _>(local_midnight(next))
            .load(conn)?;
            let mut cells = HashMap::new();
            for f in &facts {
                f.expand_into(&mut cells);
            }
            total += upsert(conn, cells)?;
            month = next;
        }
        Ok(total)
    })
}

/// The codes of a region subtree (by materialised path prefix).
pub fn region_subtree(conn: &mut PgConnection, path: &str) -> Result<Vec<String>, ApiError> {
    use crate::schema::regions as r;
    Ok(r::table
        .filter(r::path.like(crate::store::like_prefix(path)))
        .select(r::code)
        .load(conn)?)
}

/// Every region's path by code.
pub fn region_paths(conn: &mut PgConnection) -> Result<HashMap<String, String>, ApiError> {
    use crate::schema::regions as r;
    Ok(r::table
        .select((r::code, r::path))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

/// Display names of a dimension's values (ids and codes as text); kinds and priorities have
/// fixed names and get none here.
pub fn group_names(
    conn: &mut PgConnection,
    dim: Dimension,
) -> Result<HashMap<String, String>, ApiError> {
    use crate::schema::{categories as c, leaders as l, regions as r, units as u};
    let pairs: Vec<(String, String)> = match dim {
        Dimension::Region => r::table.select((r::code, r::name)).load(conn)?,
        Dimension::Unit => u::table
            .select((u::id, u::name))
            .load::<(Uuid, String)>(conn)?
            .into_iter()
            .map(|(id, n)| (id.to_string(), n))
            .collect(),
        Dimension::Leader => l::table
            .select((l::id, l::name, l::title))
            .load::<(Uuid, String, String)>(conn)?
            .into_iter()
            .map(|(id, n, t)| (id.to_string(), format!("{n}（{t}）")))
            .collect(),
        Dimension::Category => c::table
            .select((c::id, c::name))
            .load::<(Uuid, String)>(conn)?
            .into_iter()
            .map(|(id, n)| (id.to_string(), n))
            .collect(),
        Dimension::Kind | Dimension::Priority => Vec::new(),
    };
    Ok(pairs.into_iter().collect())
}

/// The statistics settings.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sp)]
pub struct Policy {
    pub min_sample: i32,
    pub version: i32,
    pub updated_by: Option<UserId>,
    pub updated_at: DateTime<Utc>,
}

pub fn policy(conn: &mut PgConnection) -> Result<Policy, ApiError> {
    Ok(sp::table.select(Policy::as_select()).first(conn)?)
}

/// Replace the settings; `cond` from If-Match (checked under the row lock).
pub fn set_policy(
    conn: &mut PgConnection,
    min_sample: i32,
    by: UserId,
    cond: &crate::http::preconditions::IfMatchCondition,
    at: DateTime<Utc>,
) -> Result<Policy, ApiError> {
    conn.transaction(|conn| {
        let current: Policy = sp::table
            .for_update()
            .select(Policy::as_select())
            .first(conn)?;
        cond.check(current.version)?;
        diesel::update(sp::table)
            .set((
                sp::min_sample.eq(min_sample),
                sp::updated_by.eq(Some(by)),
                sp::updated_at.eq(at),
                sp::version.eq(sp::version + 1),
            ))
            .execute(conn)?;
        policy(conn)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fact_lands_in_44_cells_with_the_right_keys() {
        let unit = Uuid::now_v7();
        let f = FactRow {
            day: NaiveDate::from_ymd_opt(2026, 3, 17).unwrap(),
            region_code: "620102".into(),
            unit_id: unit,
            leader_id: Uuid::now_v7(),
            category_id: Uuid::now_v7(),
            kind: "complaint".into(),
            priority: "important".into(),
            received: 1,
            accepted: 1,
            rejected: 0,
            withdrawn: 0,
            assigned: 1,
            replied: 1,
            pending: 0,
            overdue: 0,
            judged: 1,
            on_time: 1,
            rated: 0,
            satisfied: 0,
            basically_satisfied: 0,
            unsatisfied: 0,
            reopened: 0,
            visited: 0,
            verified: 0,
            handling_days: Some(3),
        };
        let mut cells = HashMap::new();
        f.expand_into(&mut cells);
        assert_eq!(cells.len(), 44);
        let total = cells
            .iter()
            .find(|(k, _)| k.cube == 0 && k.month)
            .map(|(k, c)| (k.clone(), c.clone()))
            .unwrap();
        assert_eq!(total.0.period, NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
        assert_eq!(total.0.unit_id, ALL_UUID);
        assert_eq!(total.1.hist, vec![0, 0, 0, 1]);
        let by_unit = cells
            .keys()
            .find(|k| k.cube == Dimension::Unit.bit() && !k.month)
            .unwrap();
        assert_eq!((by_unit.unit_id, by_unit.kind.as_str()), (unit, "*"));
        // The same fact negated cancels every cell.
        let mut minus = f.clone();
        minus.received = -1;
        minus.accepted = -1;
        minus.assigned = -1;
        minus.replied = -1;
        minus.judged = -1;
        minus.on_time = -1;
        minus.expand_into(&mut cells);
        assert!(cells.values().all(Counts::is_zero));
    }

    #[test]
    fn local_days_start_at_shanghai_midnight() {
        let t = local_midnight(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
        assert_eq!(t.to_rfc3339(), "2025-12-31T16:00:00+00:00");
    }
}
