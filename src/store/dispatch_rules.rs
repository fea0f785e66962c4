//! The dispatch catalogue: which unit is responsible for what (category, keywords), where
//! (a region and everything below it), and on what legal basis; and the routing suggestions
//! computed from it for a message.

use std::cmp::{Ordering, Reverse};
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::domain::ids::{CategoryId, UnitId};
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::http::preconditions::IfMatchCondition;
use crate::schema::{assignments, dispatch_rules as dr, messages, regions, units};
use crate::store::messages::Message;
use crate::store::units::Unit;

pub type DispatchRuleId = Uuid;

/// Read model.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = dr)]
pub struct DispatchRule {
    pub id: DispatchRuleId,
    pub region_code: String,
    /// Copied from the region (`620000/620100/`) when the rule is written.
    pub region_path: String,
    pub category_id: Option<CategoryId>,
    pub keywords: Vec<String>,
    pub unit_id: UnitId,
    pub basis: String,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Insert form (the store adds the region's path).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = dr)]
pub struct NewDispatchRule {
    pub id: DispatchRuleId,
    pub region_code: String,
    pub category_id: Option<CategoryId>,
    /// Trimmed and deduplicated by the caller.
    pub keywords: Vec<String>,
    pub unit_id: UnitId,
    pub basis: String,
}

/// Update form: `None` leaves a column alone; `category_id: Some(None)` makes the rule generic.
/// The store sets `region_path` when `region_code` changes.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = dr)]
pub struct DispatchRuleChanges {
    pub region_code: Option<String>,
    pub region_path: Option<String>,
    pub category_id: Option<Option<CategoryId>>,
    pub keywords: Option<Vec<String>>,
    pub unit_id: Option<UnitId>,
    pub basis: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Default, Clone)]
pub struct DispatchRuleFilter {
    /// Rules of this region and every region below it.
    pub region_code: Option<String>,
    pub unit_id: Option<UnitId>,
    pub category_id: Option<CategoryId>,
    pub active: Option<bool>,
}

/// Sort key: region path (so a region's rules stand together, the province's first), then id.
pub type DispatchRuleCursor = (String, DispatchRuleId);

pub fn list(
    conn: &mut PgConnection,
    filter: &DispatchRuleFilter,
    page: &PageRequest<DispatchRuleCursor>,
) -> Result<Vec<DispatchRule>, ApiError> {
    let mut q = dr::table.select(DispatchRule::as_select()).into_boxed();
    if let Some(code) = &filter.region_code {
        let path = super::regions::path_of(conn, code)?;
        q = q.filter(dr::region_path.like(super::like_prefix(&path)));
    }
    if let Some(unit) = filter.unit_id {
        q = q.filter(dr::unit_id.eq(unit));
    }
    if let Some(category) = filter.category_id {
        q = q.filter(dr::category_id.eq(category));
    }
    if let Some(active) = filter.active {
        q = q.filter(dr::active.eq(active));
    }
    if let Some((path, id)) = &page.after {
        q = q.filter(
            dr::region_path
                .gt(path)
                .or(dr::region_path.eq(path).and(dr::id.gt(*id))),
        );
    }
    Ok(q.order((dr::region_path.asc(), dr::id.asc()))
        .limit(page.fetch_limit())
        .load(conn)?)
}

pub fn get(conn: &mut PgConnection, id: DispatchRuleId) -> Result<DispatchRule, ApiError> {
    dr::table
        .find(id)
        .select(DispatchRule::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("dispatch rule"))
}

/// The path of an active region, or 422 naming `field`.
fn active_region_path(
    conn: &mut PgConnection,
    code: &str,
    field: &str,
) -> Result<String, ApiError> {
    super::regions::require_active(conn, code, field)?;
    Ok(regions::table
        .find(code)
        .select(regions::path)
        .first(conn)?)
}

/// Create a rule: region, unit and category (if any) must exist and be active (422 otherwise).
pub fn insert(conn: &mut PgConnection, new: &NewDispatchRule) -> Result<DispatchRule, ApiError> {
    conn.transaction(|conn| {
        let path = active_region_path(conn, &new.region_code, "region_code")?;
        super::units::require_active(conn, new.unit_id, "unit_id")?;
        if let Some(category) = new.category_id {
            super::categories::require_active(conn, category, "category_id")?;
        }
        Ok(diesel::insert_into(dr::table)
            .values((new, dr::region_path.eq(path)))
            .returning(DispatchRule::as_returning())
            .get_result(conn)?)
    })
}

/// Change a rule. New references (region, unit, category) must exist and be active.
pub fn update(
    conn: &mut PgConnection,
    id: DispatchRuleId,
    cond: &IfMatchCondition,
    changes: &DispatchRuleChanges,
) -> Result<DispatchRule, ApiError> {
    conn.transaction(|conn| {
        let version: i32 = dr::table
            .find(id)
            .for_update()
            .select(dr::version)
            .first(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("dispatch rule"))?;
        cond.check(version)?;
        let mut changes = changes.clone();
        if let Some(code) = &changes.region_code {
            changes.region_path = Some(active_region_path(conn, code, "region_code")?);
        }
        if let Some(unit) = changes.unit_id {
            super::units::require_active(conn, unit, "unit_id")?;
        }
        if let Some(Some(category)) = changes.category_id {
            super::categories::require_active(conn, category, "category_id")?;
        }
        Ok(diesel::update(dr::table.find(id))
            .set((
                &changes,
                dr::version.eq(dr::version + 1),
                dr::updated_at.eq(Utc::now()),
            ))
            .returning(DispatchRule::as_returning())
            .get_result(conn)?)
    })
}

// ---------------------------------------------------------------------------------------------
// Routing suggestions

/// How often a unit has handled messages of a category before.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UnitHistory {
    /// Assignments of messages of the category to the unit, in any status.
    pub assigned: i64,
    /// Of those, the ones the unit returned.
    pub returned: i64,
}

impl UnitHistory {
    /// `returned / assigned`, 0 without assignments.
    pub fn return_rate(&self) -> f64 {
        if self.assigned > 0 {
            self.returned as f64 / self.assigned as f64
        } else {
            0.0
        }
    }
}

/// A unit proposed for a message, with the rule that proposes it.
#[derive(Debug, Clone)]
pub struct Suggestion {
    pub unit: Unit,
    pub rule: DispatchRule,
    /// The rule's keywords found in the message's title or body.
    pub matched_keywords: Vec<String>,
    /// Levels of the rule's region: 1 province, 2 city, 3 county.
    pub depth: usize,
    pub history: UnitHistory,
    pub score: f64,
}

impl Suggestion {
    fn category_specific(&self) -> bool {
        self.rule.category_id.is_some()
    }
}

/// At most this many suggestions are returned.
pub const MAX_SUGGESTIONS: usize = 10;

/// The region paths a rule may have to cover `path`: `620000/`, `620000/620100/`, ….
pub fn path_prefixes(path: &str) -> Vec<String> {
    path.match_indices('/')
        .map(|(i, _)| path[..=i].to_owned())
        .collect()
}

/// How many levels a region path has.
pub fn depth(path: &str) -> usize {
    path.split('/').filter(|s| !s.is_empty()).count()
}

/// The keywords (in the rule's order) that occur in the title or the body; letters compared
/// case-insensitively.
pub fn matched_keywords(keywords: &[String], title: &str, body: &str) -> Vec<String> {
    let title = title.to_lowercase();
    let body = body.to_lowercase();
    keywords
        .iter()
        .filter(|k| {
            let k = k.to_lowercase();
            !k.is_empty() && (title.contains(&k) || body.contains(&k))
        })
        .cloned()
        .collect()
}

/// The score of a suggestion: higher is better, and ordering by it is exactly the ranking
/// (deeper region, then category-specific, then more keyword hits, then lower return rate):
/// `100 × depth + 50 × category-specific + 2 × keyword hits − return rate`. Each term outweighs
/// everything after it (hits are at most 20, the return rate lies in 0..1).
pub fn score(depth: usize, category_specific: bool, hits: usize, return_rate: f64) -> f64 {
    100.0 * depth as f64 + if category_specific { 50.0 } else { 0.0 } + 2.0 * hits.min(20) as f64
        - return_rate
}

/// Is `a` a better rule for its unit than `b`? (More specific region, category-specific, more
/// hits; then the older rule, so the choice is stable.)
fn rule_order(a: &Suggestion, b: &Suggestion) -> Ordering {
    (
        Reverse(a.depth),
        Reverse(a.category_specific()),
        Reverse(a.matched_keywords.len()),
        a.rule.id,
    )
        .cmp(&(
            Reverse(b.depth),
            Reverse(b.category_specific()),
            Reverse(b.matched_keywords.len()),
            b.rule.id,
        ))
}

/// The ranking of suggestions: see [`score`]; ties by unit name, then unit id.
fn rank_order(a: &Suggestion, b: &Suggestion) -> Ordering {
    (
        Reverse(a.depth),
        Reverse(a.category_specific()),
        Reverse(a.matched_keywords.len()),
    )
        .cmp(&(
            Reverse(b.depth),
            Reverse(b.category_specific()),
            Reverse(b.matched_keywords.len()),
        ))
        .then_with(|| a.history.return_rate().total_cmp(&b.history.return_rate()))
        .then_with(|| a.unit.name.cmp(&b.unit.name))
        .then_with(|| a.unit.id.cmp(&b.unit.id))
}

/// Keep the best rule per unit, attach the history, rank, and cut to `limit`.
pub fn rank(
    candidates: Vec<Suggestion>,
    history: &HashMap<UnitId, UnitHistory>,
    limit: usize,
) -> Vec<Suggestion> {
    let mut best: HashMap<UnitId, Suggestion> = HashMap::new();
    for c in candidates {
        match best.get(&c.unit.id) {
            Some(kept) if rule_order(kept, &c) != Ordering::Greater => {}
            _ => {
                best.insert(c.unit.id, c);
            }
        }
    }
    let mut out: Vec<Suggestion> = best
        .into_values()
        .map(|mut s| {
            s.history = history.get(&s.unit.id).copied().unwrap_or_default();
            s.score = score(
                s.depth,
                s.category_specific(),
                s.matched_keywords.len(),
                s.history.return_rate(),
            );
            s
        })
        .collect();
    out.sort_by(rank_order);
    out.truncate(limit);
    out
}

/// Units the catalogue proposes for a message, best first (at most [`MAX_SUGGESTIONS`]).
///
/// A rule matches when it is active, its unit is active, its region is the message's region or
/// lies above it, it has no category or the message's, and, if it has keywords, at least one
/// of them occurs in the title or the body. Each unit appears once, with its best rule. Ranking:
/// [`score`]. A unit's history counts its assignments of messages of the same category (in any
/// status) and those it returned.
pub fn suggestions(
    conn: &mut PgConnection,
    message: &Message,
) -> Result<Vec<Suggestion>, ApiError> {
    let prefixes = path_prefixes(&message.region_path);
    let rows: Vec<(DispatchRule, Unit)> = dr::table
        .inner_join(units::table.on(units::id.eq(dr::unit_id)))
        .filter(dr::active.eq(true))
        .filter(units::active.eq(true))
        .filter(dr::region_path.eq_any(&prefixes))
        .filter(
            dr::category_id
                .is_null()
                .or(dr::category_id.eq(message.category_id)),
        )
        .select((DispatchRule::as_select(), Unit::as_select()))
        .load(conn)?;
    let candidates: Vec<Suggestion> = rows
        .into_iter()
        .filter_map(|(rule, unit)| {
            let matched = matched_keywords(&rule.keywords, &message.title, &message.body);
            if !rule.keywords.is_empty() && matched.is_empty() {
                return None;
            }
            Some(Suggestion {
                depth: depth(&rule.region_path),
                unit,
                rule,
                matched_keywords: matched,
                history: UnitHistory::default(),
                score: 0.0,
            })
        })
        .collect();
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let mut unit_ids: Vec<UnitId> = candidates.iter().map(|c| c.unit.id).collect();
    unit_ids.sort();
    unit_ids.dedup();
    let history = history(conn, message.category_id, &unit_ids)?;
    Ok(rank(candidates, &history, MAX_SUGGESTIONS))
}

/// Per unit: assignments of messages of `category`, and how many of them it returned.
pub fn history(
    conn: &mut PgConnection,
    category: CategoryId,
    units: &[UnitId],
) -> Result<HashMap<UnitId, UnitHistory>, ApiError> {
    use diesel::dsl::count_star;
    let base = || {
        assignments::table
            .inner_join(messages::table)
            .filter(messages::category_id.eq(category))
            .filter(assignments::unit_id.eq_any(units))
            .group_by(assignments::unit_id)
            .select((assignments::unit_id, count_star()))
    };
    let assigned: Vec<(UnitId, i64)> = base().load(conn)?;
    let returned: Vec<(UnitId, i64)> = base()
        .filter(assignments::status.eq("returned"))
        .load(conn)?;
    let mut out: HashMap<UnitId, UnitHistory> = HashMap::new();
    for (unit, n) in assigned {
        out.entry(unit).or_default().assigned = n;
    }
    for (unit, n) in returned {
        out.entry(unit).or_default().returned = n;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reference::UnitKind;

    #[test]
    fn prefixes_and_depth_of_a_path() {
        assert_eq!(
            path_prefixes("620000/620100/620102/"),
            vec!["620000/", "620000/620100/", "620000/620100/620102/"]
        );
        assert_eq!(depth("620000/620100/620102/"), 3);
        assert_eq!(depth("620000/"), 1);
    }

    #[test]
    fn keywords_match_title_or_body_ignoring_case() {
        let kw = vec!["红绿灯".to_owned(), "BRT".to_owned(), "地铁".to_owned()];
        assert_eq!(
            matched_keywords(&kw, "庆阳路红绿灯坏了", "建议开通brt线路"),
            vec!["红绿灯", "BRT"]
        );
        assert!(matched_keywords(&kw, "供暖", "温度低").is_empty());
    }

    #[test]
    fn each_term_of_the_score_outweighs_the_later_ones() {
        assert!(score(3, false, 0, 0.0) > score(2, true, 20, 0.0));
        assert!(score(2, true, 0, 1.0) > score(2, false, 20, 0.0));
        assert!(score(2, false, 1, 1.0) > score(2, false, 0, 0.0));
        assert!(score(2, false, 1, 0.0) > score(2, false, 1, 0.5));
    }

    fn suggestion(unit: &str, depth: usize, category: bool, hits: usize) -> Suggestion {
        let now = Utc::now();
        let unit_id = crate::seed::unit_id(unit);
        Suggestion {
            unit: Unit {
                id: unit_id,
                name: unit.to_owned(),
                kind: UnitKind::Department,
                region_code: "620100".into(),
                parent_id: None,
                active: true,
                version: 1,
                created_at: now,
                updated_at: now,
            },
            rule: DispatchRule {
                id: Uuid::now_v7(),
                region_code: "620100".into(),
                region_path: "620000/620100/".into(),
                category_id: category.then(CategoryId::new),
                keywords: vec![],
                unit_id,
                basis: "basis".into(),
                active: true,
                version: 1,
                created_at: now,
                updated_at: now,
            },
            matched_keywords: vec!["k".to_owned(); hits],
            depth,
            history: UnitHistory::default(),
            score: 0.0,
        }
    }

    #[test]
    fn ranking_keeps_the_best_rule_per_unit_and_orders_by_specificity_then_returns() {
        let candidates = vec![
            suggestion("乙", 1, false, 0),
            suggestion("乙", 3, false, 0),
            suggestion("甲", 2, true, 1),
            suggestion("丙", 3, false, 0),
            suggestion("丁", 3, true, 0),
        ];
        let mut history = HashMap::new();
        history.insert(
            crate::seed::unit_id("乙"),
            UnitHistory {
                assigned: 2,
                returned: 1,
            },
        );
        let ranked = rank(candidates, &history, 10);
        let names: Vec<&str> = ranked.iter().map(|s| s.unit.name.as_str()).collect();
        // 丁: county + category; 丙 and 乙: county, 乙 returned half; 甲: city.
        assert_eq!(names, vec!["丁", "丙", "乙", "甲"]);
        assert_eq!(ranked[2].depth, 3, "乙 keeps its county rule");
        assert_eq!(ranked[2].history.return_rate(), 0.5);
        assert!(ranked.windows(2).all(|w| w[0].score > w[1].score));
        assert_eq!(rank(ranked, &history, 2).len(), 2);
    }
}
