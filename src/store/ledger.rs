//! The ledger (台账): every message of a period with its handling state, for downloads. Read in
//! keyset pages in submission order, so a year of a city streams without holding it in memory.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz};
use uuid::Uuid;

use crate::error::ApiError;

/// Which messages a reader's ledger holds.
#[derive(Debug, Clone)]
pub enum LedgerScope {
    All,
    /// A region subtree (materialised path prefix).
    RegionPath(String),
    /// Messages a unit handles (lead) or runs intake for.
    Unit(Uuid),
}

/// Filters of a ledger download.
#[derive(Debug, Clone, Default)]
pub struct LedgerFilter {
    /// Submitted at or after.
    pub from: Option<DateTime<Utc>>,
    /// Submitted before.
    pub to: Option<DateTime<Utc>>,
    pub region_path: Option<String>,
    pub unit: Option<Uuid>,
    pub leader: Option<Uuid>,
    pub category: Option<Uuid>,
    pub kind: Option<String>,
    pub priority: Option<String>,
    pub statuses: Option<Vec<String>>,
}

/// One ledger line.
#[derive(Debug, Clone, QueryableByName)]
pub struct LedgerRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub tracking_no: String,
    #[diesel(sql_type = Timestamptz)]
    pub submitted_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub category_id: Uuid,
    #[diesel(sql_type = Text)]
    pub region_code: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub leader_id: Uuid,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub priority: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    pub unit_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub accepted_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub replied_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub handling_days: Option<i32>,
    #[diesel(sql_type = Nullable<Bool>)]
    pub reply_on_time: Option<bool>,
    #[diesel(sql_type = Nullable<Text>)]
    pub rating: Option<String>,
    #[diesel(sql_type = Integer)]
    pub reopen_count: i32,
    #[diesel(sql_type = Text)]
    pub visibility: String,
}

/// The next page after `after` (submission time, id), oldest first.
pub fn page(
    conn: &mut PgConnection,
    scope: &LedgerScope,
    f: &LedgerFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<LedgerRow>, ApiError> {
    let mut sql = String::from(
        "SELECT id, tracking_no, submitted_at, title, kind, category_id, region_code::text AS region_code, \
                leader_id, status, priority, unit_id, accepted_at, replied_at, handling_days, \
                reply_on_time, rating, reopen_count, visibility \
         FROM messages WHERE true",
    );
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    // Placeholders are numbered in the order the binds are applied below.
    let scope_sql = match scope {
        LedgerScope::All => String::new(),
        LedgerScope::RegionPath(_) => format!(" AND region_path LIKE {}", next()),
        LedgerScope::Unit(_) => {
            let p = next();
            format!(" AND (unit_id = {p} OR intake_unit_id = {p})")
        }
    };
    sql.push_str(&scope_sql);
    let mut conds = Vec::new();
    if f.from.is_some() {
        conds.push(format!("submitted_at >= {}", next()));
    }
    if f.to.is_some() {
        conds.push(format!("submitted_at < {}", next()));
    }
    if f.region_path.is_some() {
        conds.push(format!("region_path LIKE {}", next()));
    }
    for (col, v) in [
        ("unit_id", f.unit),
        ("leader_id", f.leader),
        ("category_id", f.category),
    ] {
        if v.is_some() {
            conds.push(format!("{col} = {}", next()));
        }
    }
    if f.kind.is_some() {
        conds.push(format!("kind = {}", next()));
    }
    if f.priority.is_some() {
        conds.push(format!("priority = {}", next()));
    }
    if f.statuses.is_some() {
        conds.push(format!("status = ANY({})", next()));
    }
    if after.is_some() {
        let (a, b) = (next(), next());
        conds.push(format!("(submitted_at, id) > ({a}, {b})"));
    }
    for c in conds {
        sql.push_str(" AND ");
        sql.push_str(&c);
    }
    sql.push_str(&format!(" ORDER BY submitted_at, id LIMIT {}", next()));
    let mut q = diesel::sql_query(sql).into_boxed::<diesel::pg::Pg>();
    match scope {
        LedgerScope::All => {}
        LedgerScope::RegionPath(p) => q = q.bind::<Text, _>(super::like_prefix(p)),
        LedgerScope::Unit(u) => q = q.bind::<diesel::sql_types::Uuid, _>(*u),
    }
    if let Some(t) = f.from {
        q = q.bind::<Timestamptz, _>(t);
    }
    if let Some(t) = f.to {
        q = q.bind::<Timestamptz, _>(t);
    }
    if let Some(p) = &f.region_path {
        q = q.bind::<Text, _>(super::like_prefix(p));
    }
    for v in [f.unit, f.leader, f.category].into_iter().flatten() {
        q = q.bind::<diesel::sql_types::Uuid, _>(v);
    }
    if let Some(k) = &f.kind {
        q = q.bind::<Text, _>(k.clone());
    }
    if let Some(p) = &f.priority {
        q = q.bind::<Text, _>(p.clone());
    }
    if let Some(s) = &f.statuses {
        q = q.bind::<Array<Text>, _>(s.clone());
    }
    if let Some((t, id)) = after {
        q = q
            .bind::<Timestamptz, _>(t)
            .bind::<diesel::sql_types::Uuid, _>(id);
    }
    Ok(q.bind::<BigInt, _>(limit).load(conn)?)
}
