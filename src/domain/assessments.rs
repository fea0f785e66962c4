//! Unit assessments (考核): a scorecard per unit for a calendar month or year, combining the
//! statistics' rates into one score with the administrators' weights, ranked.
//!
//! Pure rules only: which period a key names, how a score is combined, how units are ranked and
//! which figures differ between two versions of a period (restatements).

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::domain::statistics::Figures;

/// A month (`2026-10`) or a year (`2026`) of assessment, in Asia/Shanghai calendar days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssessmentPeriod {
    Month { year: i32, month: u32 },
    Year { year: i32 },
}

/// Years an assessment may name (the platform's records start well after 2000).
const YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

impl AssessmentPeriod {
    /// `YYYY-MM` or `YYYY`.
    pub fn parse(key: &str) -> Option<AssessmentPeriod> {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        match key.split_once('-') {
            None if key.len() == 4 && digits(key) => {
                let year: i32 = key.parse().ok()?;
                YEARS
                    .contains(&year)
                    .then_some(AssessmentPeriod::Year { year })
            }
            Some((y, m)) if y.len() == 4 && m.len() == 2 && digits(y) && digits(m) => {
                let year: i32 = y.parse().ok()?;
                let month: u32 = m.parse().ok()?;
                (YEARS.contains(&year) && (1..=12).contains(&month))
                    .then_some(AssessmentPeriod::Month { year, month })
            }
            _ => None,
        }
    }

    pub fn key(self) -> String {
        match self {
            AssessmentPeriod::Month { year, month } => format!("{year:04}-{month:02}"),
            AssessmentPeriod::Year { year } => format!("{year:04}"),
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            AssessmentPeriod::Month { .. } => "month",
            AssessmentPeriod::Year { .. } => "year",
        }
    }

    /// First day.
    pub fn from(self) -> NaiveDate {
        let (year, month) = match self {
            AssessmentPeriod::Month { year, month } => (year, month),
            AssessmentPeriod::Year { year } => (year, 1),
        };
        NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// Last day (inclusive).
    pub fn to(self) -> NaiveDate {
        let next = match self {
            AssessmentPeriod::Month { year, month: 12 } => NaiveDate::from_ymd_opt(year + 1, 1, 1),
            AssessmentPeriod::Month { year, month } => NaiveDate::from_ymd_opt(year, month + 1, 1),
            AssessmentPeriod::Year { year } => NaiveDate::from_ymd_opt(year + 1, 1, 1),
        };
        next.and_then(|d| d.pred_opt()).unwrap_or(NaiveDate::MAX)
    }

    /// Whether the period is over on `today` (only an ended period can be closed).
    pub fn ended(self, today: NaiveDate) -> bool {
        self.to() < today
    }

    /// Whether `date` lies in the period.
    pub fn contains(self, date: NaiveDate) -> bool {
        match self {
            AssessmentPeriod::Month { year, month } => date.year() == year && date.month() == month,
            AssessmentPeriod::Year { year } => date.year() == year,
        }
    }
}

/// How much each component counts in the score (0–100 each, at least one above 0). Only the
/// ratios matter: the score divides by the sum of the weights of the components it could use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    pub reply_rate: i32,
    pub on_time_rate: i32,
    pub satisfaction_rate: i32,
    /// Counts `1 − overdue / assigned`.
    pub overdue: i32,
    pub verification_rate: i32,
    /// Counts `1 − reopen rate`.
    pub reopen: i32,
}

impl Weights {
    pub const DEFAULT: Weights = Weights {
        reply_rate: 25,
        on_time_rate: 25,
        satisfaction_rate: 25,
        overdue: 10,
        verification_rate: 10,
        reopen: 5,
    };

    fn all(&self) -> [i32; 6] {
        [
            self.reply_rate,
            self.on_time_rate,
            self.satisfaction_rate,
            self.overdue,
            self.verification_rate,
            self.reopen,
        ]
    }

    /// A message for the first rule broken, if any.
    pub fn problem(&self) -> Option<&'static str> {
        if self.all().iter().any(|w| !(0..=100).contains(w)) {
            return Some("every weight must be between 0 and 100");
        }
        if self.all().iter().all(|&w| w == 0) {
            return Some("at least one weight must be above 0");
        }
        None
    }
}

/// The components of a unit's score, each a share in 0..=1 where more is better; `None` when
/// its denominator is 0 (nothing to judge).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Components {
    pub reply_rate: Option<f64>,
    pub on_time_rate: Option<f64>,
    pub satisfaction_rate: Option<f64>,
    /// 1 − overdue / assigned.
    pub not_overdue: Option<f64>,
    pub verification_rate: Option<f64>,
    /// 1 − reopened / replied.
    pub not_reopened: Option<f64>,
}

impl Components {
    pub fn of(f: &Figures) -> Components {
        let c = &f.counts;
        Components {
            reply_rate: f.reply_rate.value,
            on_time_rate: f.on_time_rate.value,
            satisfaction_rate: f.satisfaction_rate.value,
            not_overdue: (c.assigned > 0).then(|| 1.0 - c.overdue as f64 / c.assigned as f64),
            verification_rate: f.verification_rate.value,
            not_reopened: f.reopen_rate.value.map(|r| 1.0 - r),
        }
    }
}

/// The score, 0–100: `100 × Σ wᵢ·cᵢ / Σ wᵢ` over the components that have a value (a unit is
/// neither rewarded nor punished for what it had no case of). `None` when no weighted component
/// has a value. Rounded to two decimals, so stored and recomputed scores compare exactly.
pub fn score(c: &Components, w: &Weights) -> Option<f64> {
    let pairs = [
        (c.reply_rate, w.reply_rate),
        (c.on_time_rate, w.on_time_rate),
        (c.satisfaction_rate, w.satisfaction_rate),
        (c.not_overdue, w.overdue),
        (c.verification_rate, w.verification_rate),
        (c.not_reopened, w.reopen),
    ];
    let (mut sum, mut weight) = (0.0, 0.0);
    for (value, w) in pairs {
        if let (Some(v), true) = (value, w > 0) {
            sum += v * f64::from(w);
            weight += f64::from(w);
        }
    }
    (weight > 0.0).then(|| round2(100.0 * sum / weight))
}

pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// What a ranking needs of a unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Stable tie-breaker (the unit's name, then its id).
    pub tie: String,
    pub score: Option<f64>,
    /// Messages assigned to the unit in the period: the sample the score rests on.
    pub sample: i64,
}

/// Places units: those with a score and at least `min_sample` assigned messages are ranked by
/// score (higher first; equal scores share a rank), ties listed by larger sample then `tie`;
/// the others follow unranked, by sample. Returns indexes into `units` in display order with
/// their rank.
pub fn rank(units: &[Candidate], min_sample: i64) -> Vec<(usize, Option<u32>)> {
    let eligible = |c: &Candidate| c.score.is_some() && c.sample >= min_sample;
    let mut order: Vec<usize> = (0..units.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&units[a], &units[b]);
        eligible(y)
            .cmp(&eligible(x))
            .then_with(|| {
                if eligible(x) {
                    let (sx, sy) = (x.score.unwrap_or(0.0), y.score.unwrap_or(0.0));
                    sy.partial_cmp(&sx).unwrap_or(std::cmp::Ordering::Equal)
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .then_with(|| y.sample.cmp(&x.sample))
            .then_with(|| x.tie.cmp(&y.tie))
    });
    let mut out = Vec::with_capacity(order.len());
    let (mut last, mut last_rank) = (None, 0u32);
    for (position, i) in order.into_iter().enumerate() {
        let c = &units[i];
        if !eligible(c) {
            out.push((i, None));
            continue;
        }
        if last != c.score {
            last_rank = u32::try_from(position + 1).unwrap_or(u32::MAX);
            last = c.score;
        }
        out.push((i, Some(last_rank)));
    }
    out
}

/// A unit's figures by measure name (a flat JSON object).
pub type UnitFigures = (uuid::Uuid, serde_json::Map<String, serde_json::Value>);

/// One changed figure of a unit between the frozen and the recomputed version of a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureChange {
    pub unit_id: uuid::Uuid,
    pub measure: String,
    pub old: serde_json::Value,
    pub new: serde_json::Value,
}

/// The figures that differ between two versions, unit by unit and measure by measure (a unit
/// only in one version changes every measure from or to null). Both sides are flat JSON objects
/// per unit, keyed by measure name.
pub fn changes(old: &[UnitFigures], new: &[UnitFigures]) -> Vec<FigureChange> {
    use std::collections::BTreeMap;
    let index = |v: &[UnitFigures]| {
        v.iter()
            .map(|(id, m)| (*id, m.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    let (old, new) = (index(old), index(new));
    let empty = serde_json::Map::new();
    let mut units: Vec<uuid::Uuid> = old.keys().chain(new.keys()).copied().collect();
    units.sort();
    units.dedup();
    let mut out = Vec::new();
    for unit in units {
        let (a, b) = (
            old.get(&unit).unwrap_or(&empty),
            new.get(&unit).unwrap_or(&empty),
        );
        let mut measures: Vec<&String> = a.keys().chain(b.keys()).collect();
        measures.sort();
        measures.dedup();
        for m in measures {
            let (x, y) = (
                a.get(m).cloned().unwrap_or(serde_json::Value::Null),
                b.get(m).cloned().unwrap_or(serde_json::Value::Null),
            );
            if x != y {
                out.push(FigureChange {
                    unit_id: unit,
                    measure: m.clone(),
                    old: x,
                    new: y,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::statistics::Counts;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn periods_parse_and_span_their_days() {
        let oct = AssessmentPeriod::parse("2026-10").unwrap();
        assert_eq!((oct.from(), oct.to()), (d(2026, 10, 1), d(2026, 10, 31)));
        assert_eq!(oct.key(), "2026-10");
        let dec = AssessmentPeriod::parse("2026-12").unwrap();
        assert_eq!(dec.to(), d(2026, 12, 31));
        let feb = AssessmentPeriod::parse("2028-02").unwrap();
        assert_eq!(feb.to(), d(2028, 2, 29));
        let year = AssessmentPeriod::parse("2026").unwrap();
        assert_eq!((year.from(), year.to()), (d(2026, 1, 1), d(2026, 12, 31)));
        assert_eq!(year.kind(), "year");
        for bad in [
            "",
            "26",
            "2026-1",
            "2026-13",
            "2026-00",
            "1999",
            "2026-10-01",
            "abcd",
            "2026-1a",
            "+2026",
            "２０２６",
        ] {
            assert_eq!(AssessmentPeriod::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_period_ends_after_its_last_day() {
        let oct = AssessmentPeriod::parse("2026-10").unwrap();
        assert!(!oct.ended(d(2026, 10, 31)));
        assert!(oct.ended(d(2026, 11, 1)));
        assert!(oct.contains(d(2026, 10, 31)) && !oct.contains(d(2026, 11, 1)));
        let year = AssessmentPeriod::parse("2026").unwrap();
        assert!(!year.ended(d(2026, 12, 31)) && year.ended(d(2027, 1, 1)));
    }

    fn figures(accepted: i64, replied: i64, judged: i64, on_time: i64) -> Figures {
        Figures::of(Counts {
            received: accepted,
            accepted,
            assigned: accepted,
            replied,
            judged,
            on_time,
            ..Default::default()
        })
    }

    #[test]
    fn the_score_weights_the_components_that_have_a_value() {
        // reply 8/10, on time 3/4; nothing rated, visited; no overdue, nothing reopened.
        let c = Components::of(&figures(10, 8, 4, 3));
        assert_eq!(c.reply_rate, Some(0.8));
        assert_eq!(c.on_time_rate, Some(0.75));
        assert_eq!(c.satisfaction_rate, None);
        assert_eq!(c.not_overdue, Some(1.0));
        assert_eq!(c.not_reopened, Some(1.0));
        // (25·0.8 + 25·0.75 + 10·1 + 5·1) / 65 = 53.75 / 65.
        assert_eq!(score(&c, &Weights::DEFAULT), Some(82.69));
        let only_reply = Weights {
            reply_rate: 1,
            on_time_rate: 0,
            satisfaction_rate: 0,
            overdue: 0,
            verification_rate: 0,
            reopen: 0,
        };
        assert_eq!(score(&c, &only_reply), Some(80.0));
        let only_satisfaction = Weights {
            satisfaction_rate: 1,
            ..only_reply
        };
        let only_satisfaction = Weights {
            reply_rate: 0,
            ..only_satisfaction
        };
        assert_eq!(score(&c, &only_satisfaction), None);
        assert_eq!(
            score(&Components::of(&figures(0, 0, 0, 0)), &Weights::DEFAULT),
            None
        );
    }

    #[test]
    fn weights_must_be_in_range_and_not_all_zero() {
        assert_eq!(Weights::DEFAULT.problem(), None);
        let zero = Weights {
            reply_rate: 0,
            on_time_rate: 0,
            satisfaction_rate: 0,
            overdue: 0,
            verification_rate: 0,
            reopen: 0,
        };
        assert!(zero.problem().is_some());
        assert!(
            Weights {
                reopen: 101,
                ..Weights::DEFAULT
            }
            .problem()
            .is_some()
        );
        assert!(
            Weights {
                overdue: -1,
                ..Weights::DEFAULT
            }
            .problem()
            .is_some()
        );
    }

    #[test]
    fn ranking_shares_ranks_and_leaves_small_samples_unranked() {
        let c = |tie: &str, score: Option<f64>, sample: i64| Candidate {
            tie: tie.into(),
            score,
            sample,
        };
        let units = vec![
            c("a", Some(80.0), 30),
            c("b", Some(95.0), 3),
            c("c", Some(90.0), 25),
            c("d", Some(80.0), 40),
            c("e", None, 50),
            c("f", Some(70.0), 20),
        ];
        let placed = rank(&units, 20);
        let names: Vec<(&str, Option<u32>)> = placed
            .iter()
            .map(|&(i, r)| (units[i].tie.as_str(), r))
            .collect();
        assert_eq!(
            names,
            vec![
                ("c", Some(1)),
                ("d", Some(2)),
                ("a", Some(2)),
                ("f", Some(4)),
                ("e", None),
                ("b", None),
            ]
        );
    }

    #[test]
    fn changes_list_each_differing_measure() {
        let u1 = uuid::Uuid::from_u128(1);
        let u2 = uuid::Uuid::from_u128(2);
        let map = |pairs: &[(&str, serde_json::Value)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect::<serde_json::Map<_, _>>()
        };
        let old = vec![
            (u1, map(&[("score", 80.0.into()), ("replied", 8.into())])),
            (u2, map(&[("score", 70.0.into())])),
        ];
        let new = vec![(u1, map(&[("score", 82.5.into()), ("replied", 8.into())]))];
        let c = changes(&old, &new);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].unit_id, c[0].measure.as_str(), &c[0].new),
            (u1, "score", &serde_json::json!(82.5))
        );
        assert_eq!(
            (c[1].unit_id, c[1].measure.as_str(), &c[1].new),
            (u2, "score", &serde_json::Value::Null)
        );
        assert!(changes(&old, &old).is_empty());
    }
}
