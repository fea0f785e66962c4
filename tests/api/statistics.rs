//! Statistics: the maintained aggregates equal a recomputation from the raw rows, under random
//! data and random changes, before and after folding; the figures follow a message through the
//! real API; scopes and roles; validation.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::handling::{TRANSPORT_BUREAU, accepted, assign};
use crate::helpers::{Demo, TestApp, test_settings, unit};
use crate::messages::lanzhou_liaison;
use crate::replies::{publish, put_with, sign_for};
use liuyan::clock::Clock;

// ---------------------------------------------------------------------------------------------
// The recomputation: the definitions, written again independently of the SQL function.

#[derive(Debug, Clone, QueryableByName)]
struct Raw {
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    submitted_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    region_path: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    unit_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    leader_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    category_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    priority: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    rating: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Bool>)]
    reply_on_time: Option<bool>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
    handling_days: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    reopen_count: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    visit_finding: Option<String>,
    /// From the deadlines table, not the message's copy.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    has_overdue_deadline: bool,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    overdue_deadlines: i32,
}

impl Raw {
    fn day(&self) -> NaiveDate {
        (self.submitted_at + Duration::hours(8)).date_naive()
    }
}

fn load_raw(conn: &mut PgConnection) -> Vec<Raw> {
    diesel::sql_query(
        "SELECT m.submitted_at, m.region_path, m.unit_id, \
                m.leader_id, m.category_id, m.kind, m.priority, m.status, m.rating, \
                m.reply_on_time, m.handling_days, m.reopen_count, m.visit_finding, \
                EXISTS (SELECT 1 FROM deadlines d WHERE d.message_id = m.id AND d.state = 'open' \
                        AND d.overdue_raised_at IS NOT NULL) AS has_overdue_deadline, \
                m.overdue_deadlines \
         FROM messages m",
    )
    .load(conn)
    .unwrap()
}

#[derive(Debug, Default, Clone, PartialEq)]
struct Expect {
    counts: BTreeMap<&'static str, i64>,
    days: Vec<i32>,
}

impl Expect {
    fn add(&mut self, m: &Raw) {
        let s = m.status.as_str();
        let accepted = !matches!(s, "submitted" | "rejected" | "withdrawn");
        let answered = matches!(s, "replied" | "closed");
        let pending = matches!(
            s,
            "accepted" | "assigned" | "in_progress" | "awaiting_clarification"
        );
        let mut inc = |k: &'static str, yes: bool| {
            *self.counts.entry(k).or_default() += i64::from(yes);
        };
        inc("received", true);
        inc("accepted", accepted);
        inc("rejected", s == "rejected");
        inc("withdrawn", s == "withdrawn");
        inc("assigned", accepted && !matches!(s, "accepted"));
        inc("replied", answered);
        inc("pending", pending);
        inc("overdue", pending && m.overdue_deadlines > 0);
        inc("judged", answered && m.reply_on_time.is_some());
        inc("on_time", answered && m.reply_on_time == Some(true));
        inc("rated", m.rating.is_some());
        inc("satisfied", m.rating.as_deref() == Some("satisfied"));
        inc(
            "basically_satisfied",
            m.rating.as_deref() == Some("basically_satisfied"),
        );
        inc("unsatisfied", m.rating.as_deref() == Some("unsatisfied"));
        inc("reopened", answered && m.reopen_count > 0);
        inc(
            "visited",
            matches!(
                m.visit_finding.as_deref(),
                Some("resolved" | "partly_resolved" | "not_resolved")
            ),
        );
        inc("verified", m.visit_finding.as_deref() == Some("resolved"));
        if answered && let Some(d) = m.handling_days {
            self.days.push(d.min(366));
        }
    }

    fn nearest_rank(&self, p: f64) -> Option<i64> {
        let mut d = self.days.clone();
        d.sort();
        if d.is_empty() {
            return None;
        }
        let rank = ((p * d.len() as f64).ceil() as usize).max(1);
        Some(i64::from(d[rank - 1]))
    }

    /// Compares with the API's figures; returns the first difference.
    fn check(&self, f: &Value, what: &str) -> Result<(), String> {
        for (k, v) in &self.counts {
            if f[*k].as_i64() != Some(*v) {
                return Err(format!("{what}: {k} is {} expected {v}", f[*k]));
            }
        }
        let get = |k: &str| self.counts.get(k).copied().unwrap_or(0);
        for (rate, num, den) in [
            ("reply_rate", get("replied"), get("accepted")),
            ("on_time_rate", get("on_time"), get("judged")),
            (
                "satisfaction_rate",
                get("satisfied") + get("basically_satisfied"),
                get("rated"),
            ),
            ("verification_rate", get("verified"), get("visited")),
            ("reopen_rate", get("reopened"), get("replied")),
        ] {
            let r = &f[rate];
            if r["numerator"].as_i64() != Some(num) || r["denominator"].as_i64() != Some(den) {
                return Err(format!("{what}: {rate} is {r} expected {num}/{den}"));
            }
            let value = r["value"].as_f64();
            let expected = (den > 0).then(|| num as f64 / den as f64);
            match (value, expected) {
                (None, None) => {}
                (Some(a), Some(b)) if (a - b).abs() < 1e-5 => {
                    let (lo, hi) = (
                        r["ci_low"].as_f64().unwrap(),
                        r["ci_high"].as_f64().unwrap(),
                    );
                    if !(lo <= a + 1e-9 && a <= hi + 1e-9) {
                        return Err(format!("{what}: {rate} interval {r} misses its value"));
                    }
                }
                _ => return Err(format!("{what}: {rate} value {r} expected {expected:?}")),
            }
        }
        let h = &f["handling_days"];
        let answered = self.days.len() as i64;
        if h["answered"].as_i64() != Some(answered)
            || h["median"].as_i64() != self.nearest_rank(0.5)
            || h["p90"].as_i64() != self.nearest_rank(0.9)
        {
            return Err(format!(
                "{what}: handling_days {h} expected {answered} answered, median {:?}, p90 {:?}",
                self.nearest_rank(0.5),
                self.nearest_rank(0.9)
            ));
        }
        Ok(())
    }
}

/// Filters of a random query.
#[derive(Debug, Clone, Default)]
struct Filter {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    region: Option<(String, String)>,
    unit: Option<Uuid>,
    leader: Option<Uuid>,
    category: Option<Uuid>,
    kind: Option<String>,
    priority: Option<String>,
}

impl Filter {
    fn matches(&self, m: &Raw) -> bool {
        let d = m.day();
        self.from.is_none_or(|f| d >= f)
            && self.to.is_none_or(|t| d <= t)
            && self
                .region
                .as_ref()
                .is_none_or(|(_, path)| m.region_path.starts_with(path))
            && self.unit.is_none_or(|u| m.unit_id == Some(u))
            && self.leader.is_none_or(|l| m.leader_id == l)
            && self.category.is_none_or(|c| m.category_id == c)
            && self.kind.as_ref().is_none_or(|k| &m.kind == k)
            && self
                .priority
                .as_ref()
                .is_none_or(|p| m.priority.as_ref() == Some(p))
    }

    fn query(&self) -> String {
        let mut q = vec![];
        if let Some(f) = self.from {
            q.push(format!("from={f}"));
        }
        if let Some(t) = self.to {
            q.push(format!("to={t}"));
        }
        if let Some((code, _)) = &self.region {
            q.push(format!("region_code={code}"));
        }
        for (k, v) in [
            ("unit_id", self.unit),
            ("leader_id", self.leader),
            ("category_id", self.category),
        ] {
            if let Some(v) = v {
                q.push(format!("{k}={v}"));
            }
        }
        if let Some(k) = &self.kind {
            q.push(format!("kind={k}"));
        }
        if let Some(p) = &self.priority {
            q.push(format!("priority={p}"));
        }
        q.join("&")
    }
}

/// The reference data random messages draw from.
pub(crate) struct Pools {
    regions: Vec<(String, String)>,
    units: Vec<Uuid>,
    leaders: Vec<Uuid>,
    categories: Vec<Uuid>,
    author: Uuid,
    intake: Uuid,
}

pub(crate) fn pools(conn: &mut PgConnection) -> Pools {
    use liuyan::schema::{categories as c, leaders as l, regions as r, units as u, users};
    Pools {
        regions: r::table
            .select((r::code, r::path))
            .load::<(String, String)>(conn)
            .unwrap(),
        units: u::table.select(u::id).load(conn).unwrap(),
        leaders: l::table.select(l::id).load(conn).unwrap(),
        categories: c::table.select(c::id).load(conn).unwrap(),
        author: users::table
            .filter(users::email.eq("citizen@liuyan.example"))
            .select(users::id)
            .first(conn)
            .unwrap(),
        intake: u::table.select(u::id).first(conn).unwrap(),
    }
}

const STATUSES: &[&str] = &[
    "submitted",
    "accepted",
    "rejected",
    "withdrawn",
    "assigned",
    "in_progress",
    "awaiting_clarification",
    "replied",
    "closed",
];
const RATINGS: &[&str] = &["satisfied", "basically_satisfied", "unsatisfied"];
const FINDINGS: &[&str] = &[
    "resolved",
    "partly_resolved",
    "not_resolved",
    "could_not_reach",
];
const KINDS: &[&str] = &["consultation", "suggestion", "complaint", "help_request"];

fn pick<'a, T>(rng: &mut StdRng, xs: &'a [T]) -> &'a T {
    &xs[rng.random_range(0..xs.len())]
}

fn opt_sql(v: Option<String>) -> String {
    v.map(|s| format!("'{s}'")).unwrap_or_else(|| "NULL".into())
}

/// Random messages written straight into the table (the trigger sees them like any insert).
pub(crate) fn insert_random(
    conn: &mut PgConnection,
    rng: &mut StdRng,
    p: &Pools,
    n: usize,
    start: usize,
) {
    let base = DateTime::parse_from_rfc3339("2025-10-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let mut rows = Vec::new();
    for i in start..start + n {
        let (code, path) = pick(rng, &p.regions).clone();
        let status = *pick(rng, STATUSES);
        // Times near local midnight on month ends are the interesting ones.
        let submitted = base + Duration::seconds(rng.random_range(0..420 * 86_400));
        let unit = (rng.random_range(0..4) > 0).then(|| *pick(rng, &p.units));
        let priority = match rng.random_range(0..3) {
            0 => None,
            1 => Some("important".to_owned()),
            _ => Some("routine".to_owned()),
        };
        let rating = (rng.random_range(0..3) == 0).then(|| pick(rng, RATINGS).to_string());
        let on_time = match rng.random_range(0..3) {
            0 => "NULL",
            1 => "true",
            _ => "false",
        };
        let days = (rng.random_range(0..3) > 0).then(|| {
            if rng.random_range(0..20) == 0 {
                rng.random_range(300..500)
            } else {
                rng.random_range(0..25)
            }
        });
        let finding = (rng.random_range(0..4) == 0).then(|| pick(rng, FINDINGS).to_string());
        rows.push(format!(
            "('{id}', 'T-{i}', '{author}', 'web', '{leader}', '{category}', '{kind}', '标题', '内容', \
              '{code}', '{path}', 'public', '{status}', {priority}, {rejection}, '{intake}', {unit}, '{{}}', \
              '\\x00', '{submitted}', '{submitted}', {rating}, {on_time}, {days}, {reopen}, {finding}, {overdue})",
            id = Uuid::now_v7(),
            author = p.author,
            leader = pick(rng, &p.leaders),
            category = pick(rng, &p.categories),
            kind = pick(rng, KINDS),
            priority = opt_sql(priority),
            rejection = if status == "rejected" { "'out_of_scope'" } else { "NULL" },
            intake = p.intake,
            unit = opt_sql(unit.map(|u| u.to_string())),
            submitted = submitted.to_rfc3339(),
            rating = opt_sql(rating),
            days = days.map(|d: i32| d.to_string()).unwrap_or_else(|| "NULL".into()),
            reopen = if rng.random_range(0..6) == 0 { 1 } else { 0 },
            finding = opt_sql(finding),
            overdue = if rng.random_range(0..5) == 0 { 1 } else { 0 },
        ));
    }
    diesel::sql_query(format!(
        "INSERT INTO messages (id, tracking_no, author_id, source, leader_id, category_id, kind, title, body, \
           region_code, region_path, visibility, status, priority, rejection_reason, intake_unit_id, unit_id, \
           search_bigrams, chain_head, submitted_at, last_activity_at, rating, reply_on_time, handling_days, \
           reopen_count, visit_finding, overdue_deadlines) VALUES {}",
        rows.join(", ")
    ))
    .execute(conn)
    .unwrap();
}

/// Random changes to random messages, the way the application's steps change them.
fn change_random(conn: &mut PgConnection, rng: &mut StdRng, p: &Pools) {
    for _ in 0..rng.random_range(5..15) {
        // About one message in `share` is touched by each statement.
        let share = rng.random_range(3..12);
        let which = format!(
            "id IN (SELECT id FROM messages WHERE tracking_no LIKE 'T-%' AND (hashtext(id::text || '{}') & 1023) % {share} = 0)",
            rng.random::<u32>()
        );
        let set = match rng.random_range(0..10) {
            0 => {
                let s = *pick(rng, STATUSES);
                let rejection = if s == "rejected" {
                    "'insufficient_information'"
                } else {
                    "NULL"
                };
                format!("status = '{s}', rejection_reason = {rejection}")
            }
            1 => format!("unit_id = '{}'", pick(rng, &p.units)),
            2 => "unit_id = NULL".into(),
            3 => format!(
                "priority = {}",
                opt_sql((rng.random_range(0..3) > 0).then(|| "important".to_owned()))
            ),
            4 => format!(
                "category_id = '{}', kind = '{}'",
                pick(rng, &p.categories),
                pick(rng, KINDS)
            ),
            5 => format!(
                "rating = {}",
                opt_sql((rng.random_range(0..4) > 0).then(|| pick(rng, RATINGS).to_string()))
            ),
            6 => format!(
                "reply_on_time = {}, handling_days = {}",
                pick(rng, &["true", "false", "NULL"]),
                rng.random_range(0..40)
            ),
            7 => "reopen_count = reopen_count + 1".into(),
            8 => format!(
                "visit_finding = {}",
                opt_sql(Some(pick(rng, FINDINGS).to_string()))
            ),
            _ => format!(
                "overdue_deadlines = {}, region_code = '{}'",
                rng.random_range(0..2),
                pick(rng, &p.regions).0
            ),
        };
        diesel::sql_query(format!("UPDATE messages SET {set} WHERE {which}"))
            .execute(conn)
            .unwrap();
        // Keep region_path consistent with region_code when the region moved.
        diesel::sql_query(
            "UPDATE messages SET region_path = r.path FROM regions r \
             WHERE r.code = messages.region_code AND messages.region_path <> r.path",
        )
        .execute(conn)
        .unwrap();
    }
    if rng.random_range(0..3) == 0 {
        diesel::sql_query(
            "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE tracking_no LIKE 'T-%' ORDER BY md5(id::text) LIMIT 3)",
        )
        .execute(conn)
        .unwrap();
    }
}

fn random_filter(rng: &mut StdRng, p: &Pools) -> Filter {
    let day = |rng: &mut StdRng| {
        NaiveDate::from_ymd_opt(2025, 9, 20).unwrap() + Duration::days(rng.random_range(0..450))
    };
    let (a, b) = (day(rng), day(rng));
    let mut f = Filter {
        from: Some(a.min(b)),
        to: Some(a.max(b)),
        ..Default::default()
    };
    if rng.random_range(0..4) == 0 {
        // Whole years and months: the month cells' path.
        f.from = Some(NaiveDate::from_ymd_opt(2025, 10, 1).unwrap());
        f.to = Some(NaiveDate::from_ymd_opt(2026, 10, 31).unwrap());
    }
    if rng.random_range(0..4) == 0 {
        f.region = Some(pick(rng, &p.regions).clone());
    }
    if rng.random_range(0..5) == 0 {
        f.unit = Some(*pick(rng, &p.units));
    }
    if rng.random_range(0..5) == 0 {
        f.leader = Some(*pick(rng, &p.leaders));
    }
    if rng.random_range(0..5) == 0 {
        f.category = Some(*pick(rng, &p.categories));
    }
    if rng.random_range(0..5) == 0 {
        f.kind = Some(pick(rng, KINDS).to_string());
    }
    if rng.random_range(0..5) == 0 {
        f.priority = Some(pick(rng, &["important", "routine"]).to_string());
    }
    f
}

/// The group key of a message in a breakdown (as the API spells it).
fn group_key(by: &str, m: &Raw, base_path: &str) -> String {
    match by {
        "unit" => m
            .unit_id
            .map(|u| u.to_string())
            .unwrap_or_else(|| "unassigned".into()),
        "leader" => m.leader_id.to_string(),
        "category" => m.category_id.to_string(),
        "kind" => m.kind.clone(),
        "priority" => m.priority.clone().unwrap_or_else(|| "unclassified".into()),
        _ => {
            let rest = m.region_path.strip_prefix(base_path).unwrap_or("");
            match rest.split('/').next() {
                Some(child) if !child.is_empty() => child.to_owned(),
                _ => base_path
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
            }
        }
    }
}

/// Runs `n` random queries against the API and compares each with the recomputation.
async fn check_random_queries(
    app: &TestApp,
    token: &str,
    conn: &mut PgConnection,
    rng: &mut StdRng,
    p: &Pools,
    n: usize,
    round: &str,
) -> (usize, usize) {
    let raw = load_raw(conn);
    for m in &raw {
        assert!(
            m.overdue_deadlines > 0 || !m.has_overdue_deadline,
            "the copy of overdue deadlines never misses one"
        );
    }
    let mut sources = (0, 0);
    for i in 0..n {
        let f = random_filter(rng, p);
        let what = format!("{round} query {i} {f:?}");
        let kind = rng.random_range(0..3);
        let (path, body) = match kind {
            0 => {
                let path = format!("/api/v1/statistics/summary?{}", f.query());
                (path.clone(), app.get(&path, token).await)
            }
            1 => {
                let by = *pick(
                    rng,
                    &["unit", "region", "leader", "category", "kind", "priority"],
                );
                let path = format!(
                    "/api/v1/statistics/breakdown?by={by}&sort=-received&{}",
                    f.query()
                );
                (path.clone(), app.get(&path, token).await)
            }
            _ => {
                let interval = *pick(rng, &["day", "week", "month"]);
                let path = format!(
                    "/api/v1/statistics/timeseries?interval={interval}&{}",
                    f.query()
                );
                (path.clone(), app.get(&path, token).await)
            }
        };
        assert_eq!(body.status, 200, "{path}: {}", body.body);
        let b = &body.body;
        match b["source"].as_str() {
            Some("aggregates") => sources.0 += 1,
            _ => sources.1 += 1,
        }
        let matching: Vec<&Raw> = raw.iter().filter(|m| f.matches(m)).collect();
        match kind {
            0 => {
                let mut e = Expect::default();
                matching.iter().for_each(|m| e.add(m));
                e.check(&b["figures"], &what)
                    .unwrap_or_else(|err| panic!("{err}\n{path}"));
            }
            1 => {
                let by = b["by"].as_str().unwrap();
                let base = f
                    .region
                    .as_ref()
                    .map(|(_, path)| path.clone())
                    .unwrap_or_else(|| "620000/".into());
                let mut groups: BTreeMap<String, Expect> = BTreeMap::new();
                for m in &matching {
                    groups.entry(group_key(by, m, &base)).or_default().add(m);
                }
                let got = b["groups"].as_array().unwrap();
                assert_eq!(
                    got.len(),
                    groups.len(),
                    "{what}: groups {:?} expected {:?}\n{path}",
                    got.iter().map(|g| g["key"].clone()).collect::<Vec<_>>(),
                    groups.keys().collect::<Vec<_>>()
                );
                for g in got {
                    let key = g["key"].as_str().unwrap();
                    let e = groups
                        .get(key)
                        .unwrap_or_else(|| panic!("{what}: unexpected group {key}\n{path}"));
                    e.check(&g["figures"], &format!("{what} group {key}"))
                        .unwrap_or_else(|err| panic!("{err}\n{path}"));
                }
                // Sorted by received, descending.
                let received: Vec<i64> = got
                    .iter()
                    .map(|g| g["figures"]["received"].as_i64().unwrap())
                    .collect();
                assert!(received.windows(2).all(|w| w[0] >= w[1]), "{what}: order");
                let mut all = Expect::default();
                matching.iter().for_each(|m| all.add(m));
                all.check(&b["total"], &format!("{what} total")).unwrap();
            }
            _ => {
                for point in b["points"].as_array().unwrap() {
                    let start: NaiveDate = point["start"].as_str().unwrap().parse().unwrap();
                    let end: NaiveDate = point["end"].as_str().unwrap().parse().unwrap();
                    let mut e = Expect::default();
                    matching
                        .iter()
                        .filter(|m| m.day() >= start && m.day() <= end)
                        .for_each(|m| e.add(m));
                    e.check(&point["figures"], &format!("{what} point {start}"))
                        .unwrap_or_else(|err| panic!("{err}\n{path}"));
                }
                let first = &b["points"][0]["start"];
                assert_eq!(first.as_str(), f.from.map(|d| d.to_string()).as_deref());
            }
        }
    }
    sources
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Cell {
    #[diesel(sql_type = diesel::sql_types::Text)]
    key: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    counts: String,
}

/// Every non-empty cell with its counts (histograms without trailing zeros).
fn cells(conn: &mut PgConnection) -> Vec<Cell> {
    diesel::sql_query(
        "SELECT concat_ws('|', cube, grain, region_code, unit_id, leader_id, category_id, kind, priority, period) AS key, \
                concat_ws(',', received, accepted, rejected, withdrawn, assigned, replied, pending, overdue, judged, \
                          on_time, rated, satisfied, basically_satisfied, unsatisfied, reopened, visited, verified, \
                          rtrim(array_to_string(hist, ','), ',0')) AS counts \
         FROM stat_cells WHERE received <> 0 ORDER BY 1",
    )
    .load(conn)
    .unwrap()
}

#[actix_web::test]
async fn figures_equal_a_recomputation_from_raw_rows_under_random_changes() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let mut conn = app.db.connect();
    let seed: u64 = std::env::var("LIUYAN_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("random statistics test: LIUYAN_TEST_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let p = pools(&mut conn);
    insert_random(&mut conn, &mut rng, &p, 700, 0);
    let mut sources = (0, 0);
    for round in 0..4 {
        change_random(&mut conn, &mut rng, &p);
        if round % 2 == 1 {
            // Fold part of the deltas: answers must not depend on how much is folded.
            let n = liuyan::store::statistics::fold(&mut conn, rng.random_range(1..3_000)).unwrap();
            assert!(n > 0);
        }
        if round == 2 {
            insert_random(&mut conn, &mut rng, &p, 200, 10_000);
        }
        let s = check_random_queries(
            &app,
            &admin,
            &mut conn,
            &mut rng,
            &p,
            25,
            &format!("seed {seed} round {round}"),
        )
        .await;
        sources.0 += s.0;
        sources.1 += s.1;
    }
    assert!(
        sources.0 > 20 && sources.1 > 0,
        "both paths ran: {sources:?}"
    );
    // Everything folded: the same answers from cells alone.
    liuyan::store::statistics::fold_all(&mut conn, 5_000, 1_000).unwrap();
    let left: i64 = liuyan::schema::stat_deltas::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(left, 0);
    check_random_queries(&app, &admin, &mut conn, &mut rng, &p, 25, "folded").await;
    // The incrementally maintained cells are exactly what a rebuild from scratch computes.
    let folded = cells(&mut conn);
    assert!(folded.len() > 1_000, "{}", folded.len());
    liuyan::store::statistics::rebuild(&mut conn).unwrap();
    let rebuilt = cells(&mut conn);
    assert_eq!(folded.len(), rebuilt.len());
    for (a, b) in folded.iter().zip(&rebuilt) {
        assert_eq!(a, b);
    }
}

// ---------------------------------------------------------------------------------------------
// Through the application

async fn summary(app: &TestApp, token: &str, query: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/statistics/summary?{query}"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["figures"].clone()
}

/// The copies of facts on the message row agree with their source tables.
fn assert_copies_match_sources(conn: &mut PgConnection) {
    #[derive(QueryableByName)]
    struct Bad {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let bad: Bad = diesel::sql_query(
        "WITH latest AS (SELECT DISTINCT ON (message_id) message_id, id, assignment_id FROM replies \
                          WHERE kind = 'final' AND status = 'published' ORDER BY message_id, published_at DESC) \
         SELECT count(*) AS n FROM messages m LEFT JOIN latest l ON l.message_id = m.id \
         WHERE m.overdue_deadlines <> (SELECT count(*) FROM deadlines d WHERE d.message_id = m.id \
                                        AND d.state = 'open' AND d.overdue_raised_at IS NOT NULL) \
            OR m.rating IS DISTINCT FROM (SELECT f.rating FROM feedback f WHERE f.reply_id = l.id) \
            OR m.reply_on_time IS DISTINCT FROM (SELECT d.state = 'met' FROM deadlines d \
                 WHERE d.assignment_id = l.assignment_id AND d.kind = 'reply' AND d.state IN ('met', 'missed')) \
            OR (l.id IS NOT NULL) <> (m.handling_days IS NOT NULL) \
            OR m.visit_finding IS DISTINCT FROM (SELECT v.finding FROM return_visits v WHERE v.message_id = m.id \
                 AND v.finding IS NOT NULL ORDER BY v.recorded_at DESC LIMIT 1)",
    )
    .get_result(conn)
    .unwrap();
    assert_eq!(
        bad.n, 0,
        "messages whose copied facts disagree with their sources"
    );
}

#[actix_web::test]
async fn a_message_moves_through_the_figures_as_it_is_handled() {
    let mut settings = test_settings();
    let clock = Clock::manual(crate::handling::local("2026-11-02T09:00"));
    settings.clock = clock.clone();
    let app = TestApp::spawn_with(settings).await;
    let analyst = app.token(Demo::Analyst).await;
    let liaison = lanzhou_liaison(&app).await;
    let period = "from=2026-11-01&to=2026-11-30";
    let transport = unit(TRANSPORT_BUREAU);
    let scope = format!("{period}&unit_id={transport}");
    let before = summary(&app, &analyst, period).await;

    // Accepted, assigned to the transport bureau, signed for.
    let (id, _) = accepted(&app, "routine", Some(&liaison)).await;
    let after_accept = summary(&app, &analyst, period).await;
    assert_eq!(
        after_accept["received"],
        before["received"].as_i64().unwrap() + 1
    );
    assert_eq!(
        after_accept["accepted"],
        before["accepted"].as_i64().unwrap() + 1
    );
    assert_eq!(
        after_accept["pending"],
        before["pending"].as_i64().unwrap() + 1
    );
    let r = assign(&app, &liaison, &id, TRANSPORT_BUREAU, &[]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let unit_fig = summary(&app, &analyst, &scope).await;
    assert_eq!(unit_fig["received"], 1, "{unit_fig}");
    assert_eq!(unit_fig["assigned"], 1);
    sign_for(&app, &app.token(Demo::Handler).await, &id).await;

    // The reply deadline passes: the scheduler declares it overdue.
    clock.advance(Duration::days(30));
    let mut conn = app.db.connect();
    let raised = liuyan::scheduler::run_once(&mut conn, clock.now()).unwrap();
    assert!(raised.overdue >= 1, "{raised:?}");
    let overdue = summary(&app, &analyst, &scope).await;
    assert_eq!(overdue["overdue"], 1, "{overdue}");
    assert_copies_match_sources(&mut conn);

    // Published late: replied, judged missed, handling time in working days.
    publish(
        &app,
        &id,
        "final",
        "您反映的路口信号灯问题已于本周修复，感谢您的监督。",
    )
    .await;
    let replied = summary(&app, &analyst, &scope).await;
    assert_eq!(replied["overdue"], 0);
    assert_eq!(replied["pending"], 0);
    assert_eq!(replied["replied"], 1);
    assert_eq!(replied["judged"], 1);
    assert_eq!(replied["on_time"], 0, "{replied}");
    assert_eq!(replied["reply_rate"]["value"], 1.0);
    // 2 Nov 2026 (Monday) to 2 Dec: 22 working days (no overrides in the demo calendar there).
    assert_eq!(replied["handling_days"]["median"], 22, "{replied}");

    // Rated unsatisfied, then changed to basically satisfied.
    let citizen = app.token(Demo::Citizen).await;
    let fb = format!("/api/v1/messages/{id}/feedback");
    let r = app
        .send(
            Method::PUT,
            &fb,
            Some(&citizen),
            Some(json!({"rating": "unsatisfied", "comment": "还是坏的"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rated = summary(&app, &analyst, &scope).await;
    assert_eq!(
        (rated["rated"].as_i64(), rated["unsatisfied"].as_i64()),
        (Some(1), Some(1))
    );
    let r = app
        .send(
            Method::PUT,
            &fb,
            Some(&citizen),
            Some(json!({"rating": "basically_satisfied"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rated = summary(&app, &analyst, &scope).await;
    assert_eq!(rated["unsatisfied"], 0);
    assert_eq!(rated["satisfaction_rate"]["value"], 1.0);
    assert_copies_match_sources(&mut conn);

    // Breakdown by unit shows the bureau; the timeseries puts it on 2 November.
    let b = app
        .get(
            &format!("/api/v1/statistics/breakdown?by=unit&{period}&min_sample=1"),
            &analyst,
        )
        .await;
    assert_eq!(b.status, 200, "{}", b.body);
    let g = b.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == transport.as_str())
        .unwrap_or_else(|| panic!("{}", b.body));
    assert_eq!(g["name"], TRANSPORT_BUREAU);
    assert_eq!(g["figures"]["replied"], 1);
    let t = app
        .get(
            &format!("/api/v1/statistics/timeseries?interval=day&{scope}"),
            &analyst,
        )
        .await;
    assert_eq!(t.status, 200, "{}", t.body);
    let points = t.body["points"].as_array().unwrap();
    assert_eq!(points.len(), 30);
    assert_eq!(points[1]["start"], "2026-11-02");
    assert_eq!(points[1]["figures"]["received"], 1);
    assert_eq!(points[0]["figures"]["received"], 0);

    // Folding changes nothing.
    liuyan::store::statistics::fold_all(&mut conn, 1_000, 100).unwrap();
    assert_eq!(summary(&app, &analyst, &scope).await, rated);
}

#[actix_web::test]
async fn scopes_roles_and_validation() {
    let app = TestApp::spawn().await;
    let transport = unit(TRANSPORT_BUREAU);
    let other = unit(crate::handling::CHENGGUAN);
    let s = "/api/v1/statistics/summary";
    // Who may read.
    for who in Demo::ALL {
        let t = app.token(who).await;
        let r = app.get(s, &t).await;
        match who {
            Demo::Citizen => {
                r.assert_problem(403, "forbidden");
            }
            _ => assert_eq!(r.status, 200, "{who:?}: {}", r.body),
        }
    }
    // Unit staff: their own unit only.
    let handler = app.token(Demo::Handler).await;
    let r = app.get(s, &handler).await;
    assert_eq!(r.body["scope"]["unit_id"], transport.as_str());
    let r = app.get(&format!("{s}?unit_id={other}"), &handler).await;
    r.assert_problem(403, "forbidden");
    let r = app
        .get("/api/v1/statistics/breakdown?by=unit", &handler)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["key"] == transport.as_str()),
        "{}",
        r.body
    );
    // The provincial liaison office reads its territory, the province.
    let liaison = app.token(Demo::Liaison).await;
    let r = app.get(s, &liaison).await;
    assert_eq!(r.body["scope"]["unit_id"], Value::Null, "{}", r.body);
    assert_eq!(r.body["scope"]["region_code"], "620000");
    // Leaders: their region subtree (the demo leader's is Lanzhou).
    let leader = app.token(Demo::Leader).await;
    let r = app.get(s, &leader).await;
    assert_eq!(r.body["scope"]["region_code"], "620100");
    app.get(&format!("{s}?region_code=620900"), &leader)
        .await
        .assert_problem(403, "forbidden");
    let r = app.get(&format!("{s}?region_code=620102"), &leader).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The scoped figures are the subtree's: the admin sees the same with the filter.
    let admin = app.token(Demo::Admin).await;
    let a = app.get(&format!("{s}?region_code=620100"), &admin).await;
    let l = app.get(s, &leader).await;
    assert_eq!(a.body["figures"], l.body["figures"]);

    // Validation.
    let bad = [
        "/api/v1/statistics/summary?from=2026-05-01&to=2026-04-01",
        "/api/v1/statistics/summary?from=2010-01-01&to=2026-04-01",
        "/api/v1/statistics/summary?region_code=999999",
        "/api/v1/statistics/summary?region_code=abc",
        "/api/v1/statistics/summary?unit_id=00000000-0000-0000-0000-000000000000",
        "/api/v1/statistics/summary?kind=gossip",
        "/api/v1/statistics/summary?colour=red",
        "/api/v1/statistics/breakdown?by=colour",
        "/api/v1/statistics/breakdown?by=unit&sort=-nonsense",
        "/api/v1/statistics/breakdown?by=unit&min_sample=0",
        "/api/v1/statistics/timeseries?interval=day&from=2020-01-01&to=2026-01-01",
        "/api/v1/statistics/timeseries",
    ];
    for path in bad {
        let r = app.get(path, &admin).await;
        assert_eq!(r.status, 422, "{path}: {}", r.body);
        assert!(!r.failing_fields().is_empty(), "{path}: {}", r.body);
    }

    // The settings: read by readers, changed by admins with If-Match.
    let p = app.get("/api/v1/statistics/policy", &handler).await;
    assert_eq!(p.status, 200);
    let etag = p.header("etag").unwrap().to_owned();
    let r = put_with(
        &app,
        "/api/v1/statistics/policy",
        &handler,
        json!({"min_sample": 5}),
        &etag,
    )
    .await;
    r.assert_problem(403, "forbidden");
    let r = app
        .send(
            Method::PUT,
            "/api/v1/statistics/policy",
            Some(&admin),
            Some(json!({"min_sample": 5})),
        )
        .await;
    assert_eq!(r.status, 428, "{}", r.body);
    let r = put_with(
        &app,
        "/api/v1/statistics/policy",
        &admin,
        json!({"min_sample": 5}),
        &etag,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["min_sample"], 5);
    let r = put_with(
        &app,
        "/api/v1/statistics/policy",
        &admin,
        json!({"min_sample": 6}),
        &etag,
    )
    .await;
    assert_eq!(r.status, 412, "{}", r.body);
    let b = app
        .get("/api/v1/statistics/breakdown?by=region", &admin)
        .await;
    assert_eq!(b.body["min_sample"], 5);
}

#[actix_web::test]
async fn rankings_leave_small_samples_unranked() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let mut conn = app.db.connect();
    let mut rng = StdRng::seed_from_u64(7);
    let p = pools(&mut conn);
    insert_random(&mut conn, &mut rng, &p, 600, 0);
    let path =
        "/api/v1/statistics/breakdown?by=unit&sort=-reply_rate&from=2025-01-01&to=2026-12-31";
    // A minimum between the groups' samples, so some groups fall under it.
    let all = app.get(&format!("{path}&min_sample=1"), &admin).await;
    let mut samples: Vec<i64> = all.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["figures"]["reply_rate"]["denominator"].as_i64().unwrap())
        .collect();
    samples.sort();
    let min = samples[samples.len() / 2] + 1;
    let r = app.get(&format!("{path}&min_sample={min}"), &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let groups = r.body["groups"].as_array().unwrap();
    let mut seen_unranked = false;
    let mut last = f64::INFINITY;
    for g in groups {
        let den = g["figures"]["reply_rate"]["denominator"].as_i64().unwrap();
        if g["ranked"] == true {
            assert!(!seen_unranked, "ranked groups come first");
            assert!(den >= min, "{g}");
            let v = g["figures"]["reply_rate"]["value"].as_f64().unwrap();
            assert!(v <= last, "descending");
            last = v;
            assert!(g["rank"].as_u64().is_some());
        } else {
            seen_unranked = true;
            assert_eq!(g["rank"], Value::Null);
            assert!(den < min, "{g}");
        }
    }
    assert!(
        seen_unranked && groups.iter().any(|g| g["ranked"] == true),
        "{}",
        r.body
    );
    let names: HashMap<&str, &str> = groups
        .iter()
        .map(|g| (g["key"].as_str().unwrap(), g["name"].as_str().unwrap()))
        .collect();
    assert!(names.values().all(|n| !n.is_empty()));
}

fn csv_rows(r: &crate::helpers::Resp) -> Vec<Vec<String>> {
    let text = r
        .body
        .as_str()
        .unwrap_or_else(|| panic!("not CSV: {}", r.body));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    reader
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[actix_web::test]
async fn statistics_and_the_ledger_download_as_csv_and_xlsx() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let mut conn = app.db.connect();
    let mut rng = StdRng::seed_from_u64(11);
    let p = pools(&mut conn);
    // More than one ledger page (5,000 rows).
    insert_random(&mut conn, &mut rng, &p, 5_300, 0);
    let year = "from=2025-01-01&to=2026-12-31";

    // The summary as CSV holds the JSON's figures.
    let json = app
        .get(&format!("/api/v1/statistics/summary?{year}"), &admin)
        .await;
    let csv = app
        .get(
            &format!("/api/v1/statistics/summary?{year}&format=csv"),
            &admin,
        )
        .await;
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert!(
        csv.header("content-disposition")
            .unwrap()
            .contains("statistics-summary.csv")
    );
    let rows = csv_rows(&csv);
    assert_eq!(rows.len(), 2);
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    assert_eq!(
        rows[1][col("received")],
        json.body["figures"]["received"].to_string()
    );
    assert_eq!(
        rows[1][col("reply_rate")].parse::<f64>().unwrap(),
        json.body["figures"]["reply_rate"]["value"]
            .as_f64()
            .unwrap()
    );

    // A breakdown by Accept header, Chinese headers: one row per group, with a BOM.
    let r = app
        .send_with(
            Method::GET,
            &format!("/api/v1/statistics/breakdown?by=category&{year}&headers=zh"),
            Some(&admin),
            None,
            &[("accept", "text/csv")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.as_str().unwrap().starts_with('\u{feff}'));
    let rows = csv_rows(&r);
    assert_eq!(&rows[0][..3], ["代码", "名称", "排名"]);
    let groups = app
        .get(
            &format!("/api/v1/statistics/breakdown?by=category&{year}"),
            &admin,
        )
        .await;
    assert_eq!(
        rows.len() - 1,
        groups.body["groups"].as_array().unwrap().len()
    );

    // A timeseries as XLSX: a zip container.
    let x = app
        .client
        .get(app.url(&format!(
            "/api/v1/statistics/timeseries?interval=month&{year}&format=xlsx"
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(x.status(), 200);
    assert_eq!(
        x.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let bytes = x.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK\x03\x04") && bytes.len() > 1_000);

    // The ledger: every message of the period in scope, once, oldest first, across pages.
    let r = app.get(&format!("/api/v1/ledger?{year}"), &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rows = csv_rows(&r);
    let expected: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM messages WHERE submitted_at >= '2024-12-31T16:00:00Z' AND submitted_at < '2026-12-31T16:00:00Z'",
    )
    .get_result::<Count>(&mut conn)
    .unwrap()
    .n;
    assert_eq!(rows.len() as i64 - 1, expected);
    assert!(expected > 5_000);
    let numbers: std::collections::HashSet<&String> = rows[1..].iter().map(|r| &r[0]).collect();
    assert_eq!(numbers.len() as i64, expected, "no row twice");
    let times: Vec<&String> = rows[1..].iter().map(|r| &r[1]).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    assert!(
        rows[0]
            .iter()
            .all(|h| !h.contains("contact") && !h.contains("author"))
    );
    // A unit's staff get their unit's messages only; citizens none.
    let handler = app.token(Demo::Handler).await;
    let r = app.get(&format!("/api/v1/ledger?{year}"), &handler).await;
    assert_eq!(r.status, 200);
    let own: i64 = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM messages WHERE unit_id = '{}' AND submitted_at >= '2024-12-31T16:00:00Z' AND submitted_at < '2026-12-31T16:00:00Z'",
        unit(TRANSPORT_BUREAU)
    ))
    .get_result::<Count>(&mut conn)
    .unwrap()
    .n;
    assert_eq!(csv_rows(&r).len() as i64 - 1, own);
    assert!(
        csv_rows(&r)[1..]
            .iter()
            .all(|row| row[9] == TRANSPORT_BUREAU),
        "only the bureau's"
    );
    let citizen = app.token(Demo::Citizen).await;
    app.get("/api/v1/ledger", &citizen)
        .await
        .assert_problem(403, "forbidden");
    // Bad filters are refused before anything streams.
    let r = app.get("/api/v1/ledger?region_code=999999", &admin).await;
    assert_eq!(r.status, 422, "{}", r.body);
    // XLSX of the ledger.
    let x = app
        .client
        .get(app.url(&format!("/api/v1/ledger?{year}&region_code=620100")))
        .bearer_auth(&admin)
        .header(
            "accept",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(x.status(), 200);
    assert!(x.bytes().await.unwrap().starts_with(b"PK\x03\x04"));
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Downloads are capped: with every slot taken (slow clients, say) the next one is 503 at once
/// while the rest of the API answers; a finished download gives its slot back.
#[actix_web::test]
async fn downloads_beyond_the_cap_are_503_at_once_and_finished_ones_free_their_slot() {
    let mut settings = test_settings();
    settings.export_concurrency = 1;
    let app = TestApp::spawn_with(settings).await;
    assert_eq!(app.exports.size(), 1);
    let admin = app.token(Demo::Admin).await;
    let slot_freed = || async {
        let start = std::time::Instant::now();
        while app.exports.in_use() > 0 {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(5),
                "the slot is given back"
            );
            actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    for format in ["csv", "xlsx"] {
        let r = app
            .get(&format!("/api/v1/ledger?format={format}"), &admin)
            .await;
        assert_eq!(r.status, 200, "{format}");
        slot_freed().await;
    }

    let held = app.exports.take().expect("a free slot");
    for path in [
        "/api/v1/ledger",
        "/api/v1/ledger?format=xlsx",
        "/api/v1/statistics/summary?format=csv",
    ] {
        let start = std::time::Instant::now();
        let r = app.get(path, &admin).await;
        r.assert_problem(503, "service-unavailable");
        assert_eq!(r.header("retry-after"), Some("1"), "{path}");
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "refused at once, not queued: {path}"
        );
    }
    let r = app.get("/api/v1/statistics/summary", &admin).await;
    assert_eq!(r.status, 200, "JSON is no download: {}", r.body);
    let r = app.get("/api/v1/units", &admin).await;
    assert_eq!(r.status, 200, "the API answers: {}", r.body);
    drop(held);
    let r = app.get("/api/v1/ledger", &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    slot_freed().await;
}
