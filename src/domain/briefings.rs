//! Weekly briefings (摘报): the period rules and how candidates are chosen and ranked.
//!
//! The selection follows the province's steps for a briefing:
//! 1. **Importance** — messages marked `important` (by intake, a keyword hit or an instruction).
//! 2. **Report class** — what the supervision office reports on: messages with a supervision case
//!    open during the period (`supervised`), an unsatisfied rating given in the period or still
//!    undecided (`unsatisfied`), an open deadline overdue for at least [`LONG_OVERDUE_DAYS`]
//!    days at the end of the period (`long_overdue`).
//! 3. **Weekly extraction** — only what the period reaches: important messages submitted by its
//!    end and active (last activity) since its start, cases and ratings of the period; messages
//!    submitted in the period weigh a little more ([`NEW_IN_PERIOD`]).
//! 4. **Main and emergency first** — a keyword-rule hit (集体上访, 安全事故, …) is an emergency
//!    (`keyword_alert`); important and emergency weigh most, so they lead the list.
//! 5. **Clusters** — the most reported category × region pairs of the period (at least
//!    [`MIN_CLUSTER_SIZE`] messages, the top [`TOP_CLUSTERS`]): their members get a bonus and a
//!    label (`cluster`).
//! 6. **As many excerpts as possible** — every message with at least one reason is a candidate,
//!    ranked (up to [`MAX_CANDIDATES`]); the editors pick.
//!
//! The score is the sum of the weights of the reasons (see [`score`]); equal scores rank newer
//! submissions first, then by id.

use chrono::{Datelike, NaiveDate};
use std::cmp::Reverse;

use crate::error::FieldError;

crate::text_enum! {
    /// Where a briefing stands.
    pub enum BriefingStatus {
        /// Being compiled: editors pick items and write summaries.
        Draft => "draft",
        /// Handed to the leaders: they record instructions per item.
        Submitted => "submitted",
        /// Read by a leader; closed.
        Reviewed => "reviewed",
    }
}

crate::text_enum! {
    /// Why a message is proposed for a briefing.
    pub enum BriefingReason {
        /// Priority `important`.
        Important => "important",
        /// An early-warning keyword rule hit it (an emergency).
        KeywordAlert => "keyword_alert",
        /// A supervision case (督办) was open during the period.
        Supervised => "supervised",
        /// Its author rated the final reply unsatisfied in the period, or the rating is still
        /// undecided.
        Unsatisfied => "unsatisfied",
        /// An open deadline overdue for at least ten days at the end of the period.
        LongOverdue => "long_overdue",
        /// A member of one of the period's most reported category × region clusters.
        Cluster => "cluster",
    }
}

/// Longest period of a briefing, days (both ends included).
pub const MAX_PERIOD_DAYS: i64 = 31;
/// An open deadline overdue for this many calendar days (or more) is long overdue.
pub const LONG_OVERDUE_DAYS: i64 = 10;
/// A cluster needs at least this many messages.
pub const MIN_CLUSTER_SIZE: i64 = 3;
/// How many clusters earn a bonus.
pub const TOP_CLUSTERS: usize = 3;
/// Most candidates kept per briefing (the best ranked).
pub const MAX_CANDIDATES: usize = 500;
/// Most drafts one editor may hold for one period and region: each costs a candidate search
/// and 500 stored rows, and repeating the call must not pile them up (issue 26, item 5).
pub const MAX_DRAFTS_PER_PERIOD: i64 = 3;

/// Weight of `important`.
pub const IMPORTANT: i32 = 100;
/// Weight of `keyword_alert` (emergencies come first).
pub const KEYWORD_ALERT: i32 = 60;
/// Weight of `supervised`.
pub const SUPERVISED: i32 = 50;
/// Weight of `unsatisfied`.
pub const UNSATISFIED: i32 = 40;
/// Weight of `long_overdue`, plus one point per further day late (at most [`OVERDUE_EXTRA_MAX`]).
pub const LONG_OVERDUE: i32 = 30;
/// Most extra points for lateness.
pub const OVERDUE_EXTRA_MAX: i32 = 30;
/// Weight of `cluster` for the most reported cluster; each next cluster 10 less.
pub const CLUSTER_TOP: i32 = 30;
/// Bonus for a message submitted in the period (not a reason by itself).
pub const NEW_IN_PERIOD: i32 = 10;

/// What the candidate search found out about a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub important: bool,
    pub keyword_alert: bool,
    pub supervised: bool,
    pub unsatisfied: bool,
    /// Days past due of its oldest open deadline at the end of the period (or now).
    pub overdue_days: Option<i64>,
    /// Place (0 = most reported) of its cluster among the top clusters.
    pub cluster: Option<usize>,
    pub submitted_in_period: bool,
}

/// A message's score and reasons; `None` when it has no reason to be in a briefing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scored {
    pub score: i32,
    pub reasons: Vec<BriefingReason>,
    /// Set when `long_overdue` is a reason.
    pub overdue_days: Option<i32>,
}

/// The documented score: the sum of the weights of the message's reasons, plus
/// [`NEW_IN_PERIOD`] when it was submitted in the period.
///
/// | reason | weight |
/// |---|---|
/// | important | 100 |
/// | keyword_alert | 60 |
/// | supervised | 50 |
/// | unsatisfied | 40 |
/// | long_overdue | 30 + one per day beyond ten (at most 30 more) |
/// | cluster | 30, 20, 10 for the first, second and third cluster |
/// | (submitted in the period) | 10 |
pub fn score(f: &Facts) -> Option<Scored> {
    let mut reasons = Vec::new();
    let mut score = 0;
    if f.important {
        reasons.push(BriefingReason::Important);
        score += IMPORTANT;
    }
    if f.keyword_alert {
        reasons.push(BriefingReason::KeywordAlert);
        score += KEYWORD_ALERT;
    }
    if f.supervised {
        reasons.push(BriefingReason::Supervised);
        score += SUPERVISED;
    }
    if f.unsatisfied {
        reasons.push(BriefingReason::Unsatisfied);
        score += UNSATISFIED;
    }
    let mut overdue_days = None;
    if let Some(days) = f.overdue_days.filter(|d| *d >= LONG_OVERDUE_DAYS) {
        reasons.push(BriefingReason::LongOverdue);
        let extra = (days - LONG_OVERDUE_DAYS).min(i64::from(OVERDUE_EXTRA_MAX));
        score += LONG_OVERDUE + i32::try_from(extra).unwrap_or(OVERDUE_EXTRA_MAX);
        overdue_days = Some(i32::try_from(days).unwrap_or(i32::MAX));
    }
    if let Some(place) = f.cluster.filter(|p| *p < TOP_CLUSTERS) {
        reasons.push(BriefingReason::Cluster);
        score += CLUSTER_TOP - 10 * i32::try_from(place).unwrap_or(0);
    }
    if reasons.is_empty() {
        return None;
    }
    if f.submitted_in_period {
        score += NEW_IN_PERIOD;
    }
    Some(Scored {
        score,
        reasons,
        overdue_days,
    })
}

/// A scored candidate, with what ranks equal scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked<T> {
    pub item: T,
    pub scored: Scored,
    /// Submission time (newer first among equal scores).
    pub submitted_at: chrono::DateTime<chrono::Utc>,
    pub id: uuid::Uuid,
}

/// Rank candidates: score descending, then newer submissions first, then id. Keeps the best
/// [`MAX_CANDIDATES`]; returns them and how many there were.
pub fn rank<T>(mut list: Vec<Ranked<T>>) -> (Vec<Ranked<T>>, usize) {
    let found = list.len();
    list.sort_by_key(|r| (Reverse(r.scored.score), Reverse(r.submitted_at), r.id));
    list.truncate(MAX_CANDIDATES);
    (list, found)
}

/// Count of messages of one category in one region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterCount<C> {
    pub category: C,
    pub region_code: String,
    pub count: i64,
}

/// The top clusters of the period: at least [`MIN_CLUSTER_SIZE`] messages, most reported first
/// (ties by region code and category, so the choice is stable), at most [`TOP_CLUSTERS`].
pub fn top_clusters<C: Ord + Clone>(mut counts: Vec<ClusterCount<C>>) -> Vec<ClusterCount<C>> {
    counts.retain(|c| c.count >= MIN_CLUSTER_SIZE);
    counts.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.region_code.cmp(&b.region_code))
            .then_with(|| a.category.cmp(&b.category))
    });
    counts.truncate(TOP_CLUSTERS);
    counts
}

/// The label of a cluster: 「category · region」.
pub fn cluster_label(category: &str, region: &str) -> String {
    format!("{category} · {region}")
}

/// The week before the one `today` falls in: Monday to Sunday.
pub fn previous_week(today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let monday = today - chrono::Duration::days(i64::from(today.weekday().num_days_from_monday()));
    (
        monday - chrono::Duration::days(7),
        monday - chrono::Duration::days(1),
    )
}

/// The period asked for, completed: both given as they are; one end alone makes a week with it;
/// neither is the previous week. 422 (`period_from` / `period_to`) when `to` is before `from`,
/// the period is longer than [`MAX_PERIOD_DAYS`], or it starts after `today`.
pub fn resolve_period(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate), Vec<FieldError>> {
    let week = chrono::Duration::days(6);
    let (from, to) = match (from, to) {
        (Some(f), Some(t)) => (f, t),
        (Some(f), None) => (f, f.checked_add_signed(week).unwrap_or(f)),
        (None, Some(t)) => (t.checked_sub_signed(week).unwrap_or(t), t),
        (None, None) => previous_week(today),
    };
    let mut errors = Vec::new();
    if to < from {
        errors.push(FieldError::new(
            "period_to",
            "range",
            "must not be before `period_from`",
        ));
    } else if (to - from).num_days() + 1 > MAX_PERIOD_DAYS {
        errors.push(FieldError::new(
            "period_to",
            "range",
            format!("a briefing covers at most {MAX_PERIOD_DAYS} days"),
        ));
    }
    if from > today {
        errors.push(FieldError::new(
            "period_from",
            "range",
            "must not be in the future (Asia/Shanghai)",
        ));
    }
    if errors.is_empty() {
        Ok((from, to))
    } else {
        Err(errors)
    }
}

/// The default title: 「领导留言摘报（2026-11-16至2026-11-22）」.
pub fn default_title(from: NaiveDate, to: NaiveDate) -> String {
    format!("领导留言摘报（{from}至{to}）")
}

/// One selected item as an editor sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub message_id: uuid::Uuid,
    pub position: i32,
}

/// Checks a full selection: no message twice, no position twice (422 naming `items[i].…`).
pub fn check_picks(picks: &[Pick]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut messages = std::collections::HashSet::new();
    let mut positions = std::collections::HashSet::new();
    for (i, p) in picks.iter().enumerate() {
        if !messages.insert(p.message_id) {
            errors.push(FieldError::new(
                format!("items[{i}].message_id"),
                "duplicate",
                "names a message twice",
            ));
        }
        if !positions.insert(p.position) {
            errors.push(FieldError::new(
                format!("items[{i}].position"),
                "duplicate",
                "uses a position twice",
            ));
        }
    }
    errors
}

/// Why a briefing cannot be submitted, if it cannot: at least one item, each with a summary.
pub fn submit_refusal(selected: usize, without_summary: usize) -> Option<String> {
    if selected == 0 {
        return Some("pick at least one item before submitting".into());
    }
    if without_summary > 0 {
        return Some(format!(
            "{without_summary} selected item(s) have no summary yet"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn wire_names() {
        BriefingStatus::assert_wire_names();
        BriefingReason::assert_wire_names();
    }

    #[test]
    fn no_reason_no_candidate() {
        assert_eq!(score(&Facts::default()), None);
        // Being new in the period is not a reason by itself.
        assert_eq!(
            score(&Facts {
                submitted_in_period: true,
                ..Facts::default()
            }),
            None
        );
        // Overdue, but not for long; a cluster below the top three.
        assert_eq!(
            score(&Facts {
                overdue_days: Some(LONG_OVERDUE_DAYS - 1),
                cluster: Some(TOP_CLUSTERS),
                ..Facts::default()
            }),
            None
        );
    }

    #[test]
    fn weights_add_up_in_the_documented_order() {
        let all = score(&Facts {
            important: true,
            keyword_alert: true,
            supervised: true,
            unsatisfied: true,
            overdue_days: Some(12),
            cluster: Some(1),
            submitted_in_period: true,
        })
        .unwrap();
        assert_eq!(
            all.reasons,
            vec![
                BriefingReason::Important,
                BriefingReason::KeywordAlert,
                BriefingReason::Supervised,
                BriefingReason::Unsatisfied,
                BriefingReason::LongOverdue,
                BriefingReason::Cluster
            ]
        );
        assert_eq!(all.score, 100 + 60 + 50 + 40 + (30 + 2) + 20 + 10);
        assert_eq!(all.overdue_days, Some(12));

        let one = |f: Facts| score(&f).unwrap().score;
        let important = one(Facts {
            important: true,
            ..Facts::default()
        });
        let supervised = one(Facts {
            supervised: true,
            ..Facts::default()
        });
        let unsatisfied = one(Facts {
            unsatisfied: true,
            ..Facts::default()
        });
        let overdue = one(Facts {
            overdue_days: Some(LONG_OVERDUE_DAYS),
            ..Facts::default()
        });
        let cluster = one(Facts {
            cluster: Some(0),
            ..Facts::default()
        });
        // Importance first, then the report classes, then clusters.
        assert!(important > supervised);
        assert!(supervised > unsatisfied);
        assert!(unsatisfied > overdue);
        assert_eq!(overdue, LONG_OVERDUE);
        assert_eq!(cluster, CLUSTER_TOP);
        // Lateness adds a point a day, capped.
        assert_eq!(
            one(Facts {
                overdue_days: Some(1000),
                ..Facts::default()
            }),
            LONG_OVERDUE + OVERDUE_EXTRA_MAX
        );
        // The third cluster still counts, less.
        assert_eq!(
            one(Facts {
                cluster: Some(2),
                ..Facts::default()
            }),
            10
        );
        // An emergency that is also important leads an important one.
        assert!(
            one(Facts {
                important: true,
                keyword_alert: true,
                ..Facts::default()
            }) > important
        );
    }

    fn ranked(id: u128, score: i32, minute: u32) -> Ranked<()> {
        Ranked {
            item: (),
            scored: Scored {
                score,
                reasons: vec![BriefingReason::Important],
                overdue_days: None,
            },
            submitted_at: Utc.with_ymd_and_hms(2026, 11, 2, 8, minute, 0).unwrap(),
            id: uuid::Uuid::from_u128(id),
        }
    }

    #[test]
    fn ranking_is_by_score_then_newest_then_id_and_capped() {
        let (list, found) = rank(vec![
            ranked(1, 40, 0),
            ranked(2, 100, 0),
            ranked(3, 40, 5),
            ranked(4, 40, 5),
        ]);
        assert_eq!(found, 4);
        let ids: Vec<u128> = list.iter().map(|r| r.id.as_u128()).collect();
        assert_eq!(ids, vec![2, 3, 4, 1]);

        let many: Vec<_> = (0..(MAX_CANDIDATES as u128 + 7))
            .map(|i| ranked(i, (i % 50) as i32, 0))
            .collect();
        let (list, found) = rank(many);
        assert_eq!(found, MAX_CANDIDATES + 7);
        assert_eq!(list.len(), MAX_CANDIDATES);
        assert_eq!(list[0].scored.score, 49);
    }

    #[test]
    fn clusters_need_a_minimum_and_the_top_three_win() {
        let c = |cat: u8, region: &str, count: i64| ClusterCount {
            category: cat,
            region_code: region.to_owned(),
            count,
        };
        let top = top_clusters(vec![
            c(1, "620102", 2),
            c(2, "620103", 5),
            c(3, "620104", 3),
            c(4, "620105", 9),
            c(5, "620102", 3),
            c(6, "620111", 3),
        ]);
        assert_eq!(
            top,
            vec![c(4, "620105", 9), c(2, "620103", 5), c(5, "620102", 3)]
        );
        assert!(top_clusters(vec![c(1, "620102", MIN_CLUSTER_SIZE - 1)]).is_empty());
        assert_eq!(cluster_label("教育", "红古区"), "教育 · 红古区");
    }

    #[test]
    fn the_default_period_is_the_previous_monday_to_sunday() {
        // Thursday 26 November 2026.
        assert_eq!(
            previous_week(d("2026-11-26")),
            (d("2026-11-16"), d("2026-11-22"))
        );
        // On a Monday, the week that just ended; on a Sunday, the one before the current week.
        assert_eq!(
            previous_week(d("2026-11-23")),
            (d("2026-11-16"), d("2026-11-22"))
        );
        assert_eq!(
            previous_week(d("2026-11-29")),
            (d("2026-11-16"), d("2026-11-22"))
        );
        assert_eq!(
            resolve_period(None, None, d("2026-11-26")),
            Ok((d("2026-11-16"), d("2026-11-22")))
        );
    }

    #[test]
    fn periods_are_checked() {
        let today = d("2026-11-26");
        assert_eq!(
            resolve_period(Some(d("2026-11-02")), None, today),
            Ok((d("2026-11-02"), d("2026-11-08")))
        );
        assert_eq!(
            resolve_period(None, Some(d("2026-11-08")), today),
            Ok((d("2026-11-02"), d("2026-11-08")))
        );
        // 31 days is the most.
        assert!(resolve_period(Some(d("2026-10-01")), Some(d("2026-10-31")), today).is_ok());
        let fields = |r: Result<_, Vec<FieldError>>| -> Vec<String> {
            r.unwrap_err().into_iter().map(|e| e.field).collect()
        };
        assert_eq!(
            fields(resolve_period(
                Some(d("2026-10-01")),
                Some(d("2026-11-01")),
                today
            )),
            ["period_to"]
        );
        assert_eq!(
            fields(resolve_period(
                Some(d("2026-11-09")),
                Some(d("2026-11-02")),
                today
            )),
            ["period_to"]
        );
        assert_eq!(
            fields(resolve_period(Some(d("2026-11-27")), None, today)),
            ["period_from"]
        );
    }

    #[test]
    fn picks_and_submission_rules() {
        let m = |n: u128, pos: i32| Pick {
            message_id: uuid::Uuid::from_u128(n),
            position: pos,
        };
        assert!(check_picks(&[m(1, 1), m(2, 2)]).is_empty());
        let fields: Vec<String> = check_picks(&[m(1, 1), m(1, 2), m(3, 2)])
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["items[1].message_id", "items[2].position"]);
        assert!(submit_refusal(0, 0).is_some());
        assert!(submit_refusal(2, 1).is_some());
        assert_eq!(submit_refusal(2, 0), None);
    }
}
