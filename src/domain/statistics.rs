//! Statistics: the dimensions, the cubes of maintained aggregates, the counted measures and the
//! formulas of every derived figure (rates with Wilson intervals, handling-time percentiles,
//! rankings). Pure: the storage layer hands in counts, this module does the arithmetic.
//!
//! Every figure is a cohort figure: it counts the messages *submitted* on the days of the
//! period (local Shanghai days) by their state now. The per-message vector of counts is defined
//! once, in SQL (`stat_measures` in the statistics migration); the documentation of each field
//! below repeats it.

use chrono::{Datelike, Days, Months, NaiveDate};

crate::text_enum! {
    /// A dimension to filter or group by.
    pub enum Dimension {
        /// The message's region (filters take a region and its whole subtree; groups are the
        /// direct children of the filter region, or of the province).
        Region => "region",
        /// The lead unit (messages without one yet are grouped as "unassigned").
        Unit => "unit",
        /// The leader the message is addressed to.
        Leader => "leader",
        /// The message's category.
        Category => "category",
        /// The kind of message (consultation, suggestion, complaint, help request).
        Kind => "kind",
        /// Important or routine (unclassified messages are grouped as "unclassified").
        Priority => "priority",
    }
}

crate::text_enum! {
    /// The width of a timeseries bucket.
    pub enum Interval {
        /// Calendar days.
        Day => "day",
        /// ISO weeks, Monday to Sunday.
        Week => "week",
        /// Calendar months.
        Month => "month",
    }
}

impl Dimension {
    /// The dimension's bit in a cube's set.
    pub fn bit(self) -> i16 {
        match self {
            Dimension::Region => 1,
            Dimension::Unit => 2,
            Dimension::Leader => 4,
            Dimension::Category => 8,
            Dimension::Kind => 16,
            Dimension::Priority => 32,
        }
    }
}

/// Cubes keep every combination of at most this many dimensions: enough for any single filter
/// with a breakdown, or two filters, while the whole set stays small (a year of the widest cube
/// holds a few hundred thousand cells at most for a province).
pub const MAX_CUBE_DIMENSIONS: u32 = 2;

/// The set of dimensions a cube keeps, as stored in `stat_cells.cube`.
pub fn cube_of(dims: impl IntoIterator<Item = Dimension>) -> i16 {
    dims.into_iter().fold(0, |acc, d| acc | d.bit())
}

/// Whether a cube is maintained.
pub fn is_materialized(cube: i16) -> bool {
    (0..64).contains(&cube) && cube.count_ones() <= MAX_CUBE_DIMENSIONS
}

/// Every maintained cube (22 of them).
pub fn materialized_cubes() -> impl Iterator<Item = i16> {
    (0..64i16).filter(|&c| is_materialized(c))
}

/// The value a cell holds for a dimension its cube does not keep.
pub const ALL_TEXT: &str = "*";
/// The same for UUID dimensions (the max UUID; no entity has it).
pub const ALL_UUID: uuid::Uuid = uuid::Uuid::max();
/// The unit of a message without a lead unit.
pub const NO_UNIT: uuid::Uuid = uuid::Uuid::nil();
/// The priority of an unclassified message.
pub const NO_PRIORITY: &str = "";

/// Histograms stop here: a message answered after more working days counts in the last bucket.
pub const HISTOGRAM_CAP: usize = 366;

/// Counts of messages of a cohort. Adding and subtracting them is exact, which is what lets
/// cells and deltas be folded in any order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Every message submitted in the period.
    pub received: i64,
    /// Accepted for handling: any status but submitted, rejected and withdrawn.
    pub accepted: i64,
    /// Not accepted (rejected).
    pub rejected: i64,
    /// Withdrawn by the author.
    pub withdrawn: i64,
    /// Handed to a lead unit: assigned, in progress, awaiting clarification, replied, closed.
    pub assigned: i64,
    /// Answered with a published final reply: replied or closed.
    pub replied: i64,
    /// Accepted and not answered yet: accepted, assigned, in progress, awaiting clarification.
    pub pending: i64,
    /// Pending with at least one open deadline the scheduler has declared overdue.
    pub overdue: i64,
    /// Answered and the reply deadline judged (met or missed).
    pub judged: i64,
    /// Answered within the reply deadline (met).
    pub on_time: i64,
    /// With a rating of the latest final reply.
    pub rated: i64,
    pub satisfied: i64,
    pub basically_satisfied: i64,
    pub unsatisfied: i64,
    /// Answered, and reopened at least once on the way (a final reply was not the end).
    pub reopened: i64,
    /// With a recorded return visit that reached the citizen (latest finding resolved, partly
    /// resolved or not resolved).
    pub visited: i64,
    /// Whose latest return visit found the problem resolved.
    pub verified: i64,
    /// `hist[d]` = answered messages that took `d` working days from submission to the final
    /// reply (the last bucket holds longer ones).
    pub hist: Vec<i64>,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.received += o.received;
        self.accepted += o.accepted;
        self.rejected += o.rejected;
        self.withdrawn += o.withdrawn;
        self.assigned += o.assigned;
        self.replied += o.replied;
        self.pending += o.pending;
        self.overdue += o.overdue;
        self.judged += o.judged;
        self.on_time += o.on_time;
        self.rated += o.rated;
        self.satisfied += o.satisfied;
        self.basically_satisfied += o.basically_satisfied;
        self.unsatisfied += o.unsatisfied;
        self.reopened += o.reopened;
        self.visited += o.visited;
        self.verified += o.verified;
        self.add_hist(&o.hist);
    }

    /// Adds `n` (negative to remove) messages of `days` working days to the histogram.
    pub fn add_days(&mut self, days: i32, n: i64) {
        let i = usize::try_from(days.max(0)).unwrap_or(0).min(HISTOGRAM_CAP);
        if self.hist.len() <= i {
            self.hist.resize(i + 1, 0);
        }
        self.hist[i] += n;
    }

    pub fn add_hist(&mut self, hist: &[i64]) {
        if self.hist.len() < hist.len() {
            self.hist.resize(hist.len(), 0);
        }
        for (a, b) in self.hist.iter_mut().zip(hist) {
            *a += b;
        }
    }

    /// Whether every count is zero (a cell whose messages all moved elsewhere).
    pub fn is_zero(&self) -> bool {
        *self
            == Counts {
                hist: self.hist.clone(),
                ..Default::default()
            }
            && self.hist.iter().all(|&n| n == 0)
    }

    /// Answered messages in the histogram.
    pub fn timed(&self) -> i64 {
        self.hist.iter().sum()
    }
}

/// A proportion with its numerator and denominator and the 95% Wilson score interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub numerator: i64,
    pub denominator: i64,
    /// numerator / denominator; `None` when the denominator is 0.
    pub value: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

impl Rate {
    pub fn new(numerator: i64, denominator: i64) -> Rate {
        if denominator <= 0 {
            return Rate {
                numerator,
                denominator,
                value: None,
                low: None,
                high: None,
            };
        }
        let n = denominator as f64;
        let p = numerator as f64 / n;
        let z2 = Z95 * Z95;
        let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
        let half = Z95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
        Rate {
            numerator,
            denominator,
            value: Some(p),
            low: Some((centre - half).max(0.0)),
            high: Some((centre + half).min(1.0)),
        }
    }
}

/// The nearest-rank percentile (0 < p <= 1) of a histogram: the smallest d such that at least
/// ⌈p·N⌉ messages took d days or fewer. `None` for an empty histogram.
pub fn percentile(hist: &[i64], p: f64) -> Option<i32> {
    let total: i64 = hist.iter().sum();
    if total <= 0 {
        return None;
    }
    let rank = ((p * total as f64).ceil() as i64).max(1);
    let mut seen = 0;
    for (d, &n) in hist.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return i32::try_from(d).ok();
        }
    }
    None
}

/// Every derived figure of a set of counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub counts: Counts,
    /// replied / accepted.
    pub reply_rate: Rate,
    /// on_time / judged.
    pub on_time_rate: Rate,
    /// (satisfied + basically_satisfied) / rated.
    pub satisfaction_rate: Rate,
    /// verified / visited.
    pub verification_rate: Rate,
    /// reopened / replied.
    pub reopen_rate: Rate,
    pub median_days: Option<i32>,
    pub p90_days: Option<i32>,
}

impl Figures {
    pub fn of(counts: Counts) -> Figures {
        Figures {
            reply_rate: Rate::new(counts.replied, counts.accepted),
            on_time_rate: Rate::new(counts.on_time, counts.judged),
            satisfaction_rate: Rate::new(
                counts.satisfied + counts.basically_satisfied,
                counts.rated,
            ),
            verification_rate: Rate::new(counts.verified, counts.visited),
            reopen_rate: Rate::new(counts.reopened, counts.replied),
            median_days: percentile(&counts.hist, 0.5),
            p90_days: percentile(&counts.hist, 0.9),
            counts,
        }
    }
}

/// What a ranking can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Received,
    Accepted,
    Replied,
    Pending,
    Overdue,
    ReplyRate,
    OnTimeRate,
    SatisfactionRate,
    VerificationRate,
    ReopenRate,
    MedianDays,
}

impl SortKey {
    pub const NAMES: &'static [&'static str] = &[
        "received",
        "accepted",
        "replied",
        "pending",
        "overdue",
        "reply_rate",
        "on_time_rate",
        "satisfaction_rate",
        "verification_rate",
        "reopen_rate",
        "median_handling_days",
    ];

    pub fn parse(s: &str) -> Option<SortKey> {
        Some(match s {
            "received" => SortKey::Received,
            "accepted" => SortKey::Accepted,
            "replied" => SortKey::Replied,
            "pending" => SortKey::Pending,
            "overdue" => SortKey::Overdue,
            "reply_rate" => SortKey::ReplyRate,
            "on_time_rate" => SortKey::OnTimeRate,
            "satisfaction_rate" => SortKey::SatisfactionRate,
            "verification_rate" => SortKey::VerificationRate,
            "reopen_rate" => SortKey::ReopenRate,
            "median_handling_days" => SortKey::MedianDays,
            _ => return None,
        })
    }

    /// The value sorted on and the sample it rests on (a count is its own sample).
    fn value_and_sample(self, f: &Figures) -> (Option<f64>, i64) {
        let count = |n: i64| (Some(n as f64), n);
        let rate = |r: &Rate| (r.value, r.denominator);
        match self {
            SortKey::Received => count(f.counts.received),
            SortKey::Accepted => count(f.counts.accepted),
            SortKey::Replied => count(f.counts.replied),
            SortKey::Pending => count(f.counts.pending),
            SortKey::Overdue => count(f.counts.overdue),
            SortKey::ReplyRate => rate(&f.reply_rate),
            SortKey::OnTimeRate => rate(&f.on_time_rate),
            SortKey::SatisfactionRate => rate(&f.satisfaction_rate),
            SortKey::VerificationRate => rate(&f.verification_rate),
            SortKey::ReopenRate => rate(&f.reopen_rate),
            SortKey::MedianDays => (f.median_days.map(f64::from), f.counts.timed()),
        }
    }

    /// Whether the minimum sample applies (it does to rates and the median, not to counts).
    pub fn needs_sample(self) -> bool {
        !matches!(
            self,
            SortKey::Received
                | SortKey::Accepted
                | SortKey::Replied
                | SortKey::Pending
                | SortKey::Overdue
        )
    }
}

/// A group's place in a ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// 1-based rank (equal values share a rank); `None` when the group is not ranked.
    pub rank: Option<u32>,
    /// False when the group's sample is below the minimum or the value is undefined.
    pub ranked: bool,
}

/// Orders groups for a ranking and places them: ranked groups first by the key (descending
/// unless `ascending`), ties by larger sample then by `tie` (the caller's stable key); groups
/// under `min_sample` (or without a value) follow, unranked, by sample size.
pub fn rank<T>(
    groups: &mut [(T, Figures)],
    key: SortKey,
    ascending: bool,
    min_sample: i64,
    tie: impl Fn(&T) -> String,
) -> Vec<Placement> {
    let eligible = |f: &Figures| {
        let (v, n) = key.value_and_sample(f);
        v.is_some() && (!key.needs_sample() || n >= min_sample)
    };
    groups.sort_by(|(ta, a), (tb, b)| {
        let (va, na) = key.value_and_sample(a);
        let (vb, nb) = key.value_and_sample(b);
        eligible(b)
            .cmp(&eligible(a))
            .then_with(|| {
                if !eligible(a) {
                    return std::cmp::Ordering::Equal;
                }
                let (x, y) = (va.unwrap_or(0.0), vb.unwrap_or(0.0));
                let o = x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal);
                if ascending { o } else { o.reverse() }
            })
            .then_with(|| nb.cmp(&na))
            .then_with(|| tie(ta).cmp(&tie(tb)))
    });
    let mut out = Vec::with_capacity(groups.len());
    let mut last: Option<f64> = None;
    let mut last_rank = 0u32;
    for (i, (_, f)) in groups.iter().enumerate() {
        if !eligible(f) {
            out.push(Placement {
                rank: None,
                ranked: false,
            });
            continue;
        }
        let v = key.value_and_sample(f).0;
        let position = u32::try_from(i + 1).unwrap_or(u32::MAX);
        if last != v {
            last_rank = position;
            last = v;
        }
        out.push(Placement {
            rank: Some(last_rank),
            ranked: true,
        });
    }
    out
}

/// The first day of `d`'s month.
pub fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// The first day of the bucket `d` falls in.
pub fn bucket_start(interval: Interval, d: NaiveDate) -> NaiveDate {
    match interval {
        Interval::Day => d,
        Interval::Week => d - Days::new(u64::from(d.weekday().num_days_from_monday())),
        Interval::Month => month_start(d),
    }
}

/// The last day of the bucket starting at `start`.
pub fn bucket_end(interval: Interval, start: NaiveDate) -> NaiveDate {
    match interval {
        Interval::Day => start,
        Interval::Week => start + Days::new(6),
        Interval::Month => (start + Months::new(1)).pred_opt().unwrap_or(start),
    }
}

/// Where the cells of a period come from: day cells for the partial months at either end,
/// month cells for the whole months between (so a year reads 12 month cells and at most two
/// partial months of day cells per group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodPlan {
    /// Inclusive day ranges read from day cells.
    pub day_ranges: Vec<(NaiveDate, NaiveDate)>,
    /// Inclusive range of month starts read from month cells.
    pub months: Option<(NaiveDate, NaiveDate)>,
}

pub fn plan_period(from: NaiveDate, to: NaiveDate, use_months: bool) -> PeriodPlan {
    if to < from {
        return PeriodPlan {
            day_ranges: Vec::new(),
            months: None,
        };
    }
    if !use_months {
        return PeriodPlan {
            day_ranges: vec![(from, to)],
            months: None,
        };
    }
    // The first whole month starts at `from` when `from` is a first, else the next month.
    let first_whole = if from.day() == 1 {
        from
    } else {
        month_start(from) + Months::new(1)
    };
    // The last whole month ends at `to` when `to` is a month's last day.
    let last_whole_end = if (to + Days::new(1)).day() == 1 {
        to
    } else {
        month_start(to).pred_opt().unwrap_or(to)
    };
    if first_whole > last_whole_end {
        return PeriodPlan {
            day_ranges: vec![(from, to)],
            months: None,
        };
    }
    let mut day_ranges = Vec::new();
    if from < first_whole {
        day_ranges.push((from, first_whole.pred_opt().unwrap_or(from)));
    }
    if to > last_whole_end {
        day_ranges.push((last_whole_end.succ_opt().unwrap_or(to), to));
    }
    PeriodPlan {
        day_ranges,
        months: Some((first_whole, month_start(last_whole_end))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn twenty_two_cubes_of_at_most_two_dimensions() {
        let cubes: Vec<i16> = materialized_cubes().collect();
        assert_eq!(cubes.len(), 1 + 6 + 15);
        assert!(is_materialized(cube_of([
            Dimension::Unit,
            Dimension::Category
        ])));
        assert!(!is_materialized(cube_of([
            Dimension::Unit,
            Dimension::Category,
            Dimension::Kind
        ])));
        let bits: i16 = Dimension::ALL.iter().map(|d| d.bit()).sum();
        assert_eq!(bits, 63, "one distinct bit per dimension");
    }

    #[test]
    fn wilson_interval_matches_the_textbook() {
        // 8 of 10: Wilson 95% ≈ [0.490, 0.943].
        let r = Rate::new(8, 10);
        assert_eq!(r.value, Some(0.8));
        assert!((r.low.unwrap() - 0.4902).abs() < 1e-3, "{r:?}");
        assert!((r.high.unwrap() - 0.9433).abs() < 1e-3, "{r:?}");
        let all = Rate::new(5, 5);
        assert!(all.high.unwrap() <= 1.0 && all.low.unwrap() > 0.5);
        let none = Rate::new(0, 0);
        assert_eq!((none.value, none.low, none.high), (None, None, None));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        // Days 1, 2, 2, 3, 10.
        let mut c = Counts::default();
        for days in [1, 2, 2, 3, 10] {
            c.add_days(days, 1);
        }
        assert_eq!(percentile(&c.hist, 0.5), Some(2));
        assert_eq!(percentile(&c.hist, 0.9), Some(10));
        assert_eq!(percentile(&c.hist, 0.2), Some(1));
        assert_eq!(percentile(&[], 0.5), None);
        c.add_days(10, -1);
        assert_eq!(percentile(&c.hist, 0.9), Some(3), "removal is exact");
        c.add_days(9_999, 1);
        assert_eq!(
            c.hist.len(),
            HISTOGRAM_CAP + 1,
            "long ones share the last bucket"
        );
    }

    #[test]
    fn counts_add_and_cancel() {
        let mut a = Counts {
            received: 3,
            replied: 1,
            ..Default::default()
        };
        a.add_days(4, 1);
        let mut minus = Counts {
            received: -3,
            replied: -1,
            ..Default::default()
        };
        minus.add_days(4, -1);
        assert!(!a.is_zero());
        a.add(&minus);
        assert!(a.is_zero(), "{a:?}");
    }

    #[test]
    fn a_year_reads_twelve_months_and_edges_read_days() {
        let p = plan_period(d("2026-01-01"), d("2026-12-31"), true);
        assert_eq!(p.day_ranges, vec![]);
        assert_eq!(p.months, Some((d("2026-01-01"), d("2026-12-01"))));
        let p = plan_period(d("2026-01-15"), d("2026-03-10"), true);
        assert_eq!(
            p.day_ranges,
            vec![
                (d("2026-01-15"), d("2026-01-31")),
                (d("2026-03-01"), d("2026-03-10"))
            ]
        );
        assert_eq!(p.months, Some((d("2026-02-01"), d("2026-02-01"))));
        let p = plan_period(d("2026-02-03"), d("2026-02-20"), true);
        assert_eq!(p.day_ranges, vec![(d("2026-02-03"), d("2026-02-20"))]);
        assert_eq!(p.months, None);
        let p = plan_period(d("2026-02-03"), d("2026-02-20"), false);
        assert_eq!(p.day_ranges, vec![(d("2026-02-03"), d("2026-02-20"))]);
        assert!(
            plan_period(d("2026-02-03"), d("2026-02-01"), true)
                .day_ranges
                .is_empty()
        );
    }

    #[test]
    fn buckets_are_days_iso_weeks_and_months() {
        // 2026-11-26 is a Thursday.
        assert_eq!(
            bucket_start(Interval::Week, d("2026-11-26")),
            d("2026-11-23")
        );
        assert_eq!(bucket_end(Interval::Week, d("2026-11-23")), d("2026-11-29"));
        assert_eq!(
            bucket_start(Interval::Month, d("2026-11-26")),
            d("2026-11-01")
        );
        assert_eq!(
            bucket_end(Interval::Month, d("2026-02-01")),
            d("2026-02-28")
        );
        assert_eq!(bucket_end(Interval::Day, d("2026-02-01")), d("2026-02-01"));
    }

    fn figures(replied: i64, accepted: i64) -> Figures {
        Figures::of(Counts {
            received: accepted,
            accepted,
            replied,
            ..Default::default()
        })
    }

    #[test]
    fn rankings_leave_small_samples_unranked() {
        let mut groups = vec![
            ("tiny", figures(1, 1)),
            ("good", figures(45, 50)),
            ("poor", figures(20, 40)),
            ("tie", figures(36, 40)),
            ("empty", figures(0, 0)),
        ];
        let placed = rank(&mut groups, SortKey::ReplyRate, false, 20, |t| {
            t.to_string()
        });
        let names: Vec<&str> = groups.iter().map(|(t, _)| *t).collect();
        assert_eq!(names, ["good", "tie", "poor", "tiny", "empty"]);
        assert_eq!(placed[0].rank, Some(1));
        assert_eq!(placed[1].rank, Some(1), "0.9 = 0.9: shared rank");
        assert_eq!(placed[2].rank, Some(3));
        assert_eq!(
            placed[3],
            Placement {
                rank: None,
                ranked: false
            }
        );
        assert!(!placed[4].ranked);
        // Counts rank everyone.
        let placed = rank(&mut groups, SortKey::Received, false, 20, |t| t.to_string());
        assert!(placed.iter().all(|p| p.ranked));
        assert_eq!(groups[0].0, "good");
    }
}
