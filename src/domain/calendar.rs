//! Working-day calendar and deadline arithmetic.
//!
//! Time limits for handling messages are set in *working days* of the Asia/Shanghai calendar:
//! weekends and public holidays are rest days, and some weekend days are make-up working days
//! (调休). Timestamps are stored in UTC; every date here is a local (Shanghai) date.
//!
//! Counting follows Civil Code art. 201: the day a period starts is not counted, so a limit of N
//! working days ends at local midnight after the N-th working day strictly after the start date.
//!
//! Everything is bounded: no scan looks further than [`SCAN_HORIZON_DAYS`] days, so absurd
//! limits or a calendar with no working days give `None` (or a saturated date) instead of a
//! runaway loop.

use std::collections::BTreeMap;
use std::ops::Bound::{Excluded, Included};

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Utc, Weekday};

/// Asia/Shanghai is UTC+8 all year: China has observed no daylight saving since 1991, so a
/// fixed offset is exact for every timestamp we store and no tz database (chrono-tz) is needed.
const SHANGHAI_OFFSET_SECS: i32 = 8 * 3600;

const SHANGHAI: FixedOffset = match FixedOffset::east_opt(SHANGHAI_OFFSET_SECS) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

/// The UTC time of day at which a local day ends (local midnight = 16:00 UTC).
const LOCAL_MIDNIGHT_AS_UTC: NaiveTime = match NaiveTime::from_num_seconds_from_midnight_opt(
    (86_400 - SHANGHAI_OFFSET_SECS) as u32,
    0,
) {
    Some(t) => t,
    None => panic!("16:00 is a valid time"),
};

/// How far (in calendar days, about 20 years) any scan for working days looks before giving
/// up. Real limits are weeks; this only stops absurd inputs from looping for ever.
pub const SCAN_HORIZON_DAYS: usize = 20 * 366;

/// A day that differs from the weekday/weekend default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayOverride {
    pub date: NaiveDate,
    pub working: bool,
}

/// What a day is, for display and for explaining a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// An ordinary Monday–Friday (or a Monday–Friday explicitly marked working).
    Working,
    /// A Saturday or Sunday with no override.
    Weekend,
    /// Any day overridden to rest (a weekend day inside a holiday block included).
    Holiday,
    /// A Saturday or Sunday overridden to working (调休).
    MakeUpWorkday,
}

/// The working-day calendar: weekday/weekend defaults plus the admins' overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    /// date → working?; only days whose status was set explicitly.
    overrides: BTreeMap<NaiveDate, bool>,
}

impl Calendar {
    /// Builds a calendar from overrides; for a date given twice the later entry wins, so a
    /// correction can simply be appended.
    pub fn new(overrides: impl IntoIterator<Item = DayOverride>) -> Self {
        let mut map = BTreeMap::new();
        for o in overrides {
            map.insert(o.date, o.working);
        }
        Self { overrides: map }
    }

    /// The overrides, in date order (for showing or storing the calendar).
    pub fn overrides(&self) -> impl Iterator<Item = DayOverride> + '_ {
        self.overrides
            .iter()
            .map(|(&date, &working)| DayOverride { date, working })
    }

    /// Classifies a day for display and for the deadline trace. A rest override is a holiday
    /// even on a weekend day: admins only list weekend days that belong to a holiday block.
    pub fn kind(&self, d: NaiveDate) -> DayKind {
        match (self.overrides.get(&d), is_weekend(d)) {
            (Some(false), _) => DayKind::Holiday,
            (Some(true), true) => DayKind::MakeUpWorkday,
            (Some(true), false) | (None, false) => DayKind::Working,
            (None, true) => DayKind::Weekend,
        }
    }

    /// Whether the clock runs on `d`: the override if there is one, else Monday–Friday.
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        self.overrides.get(&d).copied().unwrap_or(!is_weekend(d))
    }

    /// The n-th working day strictly after `d` (n >= 1); `d` itself when n == 0.
    ///
    /// Saturates to `NaiveDate::MAX` ("never") when that day lies beyond
    /// [`SCAN_HORIZON_DAYS`]; use [`Calendar::checked_nth_working_day_after`] to tell.
    pub fn nth_working_day_after(&self, d: NaiveDate, n: u32) -> NaiveDate {
        self.checked_nth_working_day_after(d, n)
            .unwrap_or(NaiveDate::MAX)
    }

    /// The n-th working day strictly before `d` (n >= 1); `d` itself when n == 0.
    ///
    /// Saturates to `NaiveDate::MIN` when that day lies beyond [`SCAN_HORIZON_DAYS`].
    pub fn nth_working_day_before(&self, d: NaiveDate, n: u32) -> NaiveDate {
        self.checked_nth_working_day_before(d, n)
            .unwrap_or(NaiveDate::MIN)
    }

    /// Like [`Calendar::nth_working_day_after`], but `None` instead of saturating.
    pub fn checked_nth_working_day_after(&self, d: NaiveDate, n: u32) -> Option<NaiveDate> {
        match n.checked_sub(1) {
            None => Some(d),
            Some(skip) => days_after(d)
                .filter(|&x| self.is_working_day(x))
                .nth(usize::try_from(skip).ok()?),
        }
    }

    /// Like [`Calendar::nth_working_day_before`], but `None` instead of saturating.
    pub fn checked_nth_working_day_before(&self, d: NaiveDate, n: u32) -> Option<NaiveDate> {
        match n.checked_sub(1) {
            None => Some(d),
            Some(skip) => days_before(d)
                .filter(|&x| self.is_working_day(x))
                .nth(usize::try_from(skip).ok()?),
        }
    }

    /// Working days d with from < d <= to (0 when to <= from).
    ///
    /// Computed in closed form (weekdays by arithmetic, then corrected by the overrides in
    /// range), so it is exact and cheap for any span, even one of centuries.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        if to <= from {
            return 0;
        }
        let weekdays = weekdays_through(to) - weekdays_through(from);
        let correction: i64 = self
            .overrides
            .range((Excluded(from), Included(to)))
            .map(|(&d, &working)| match (working, is_weekend(d)) {
                (true, true) => 1,
                (false, false) => -1,
                _ => 0,
            })
            .sum();
        u32::try_from(weekdays + correction).unwrap_or(u32::MAX)
    }

    /// The first `n` working days strictly after `d`; `None` if they do not all fit within
    /// [`SCAN_HORIZON_DAYS`].
    fn first_working_days_after(&self, d: NaiveDate, n: u32) -> Option<Vec<NaiveDate>> {
        let n = usize::try_from(n).ok()?;
        if n > SCAN_HORIZON_DAYS {
            return None;
        }
        let days: Vec<NaiveDate> = days_after(d)
            .filter(|&x| self.is_working_day(x))
            .take(n)
            .collect();
        (days.len() == n).then_some(days)
    }
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The days after `d`, at most [`SCAN_HORIZON_DAYS`] of them (fewer at the end of chrono's range).
fn days_after(d: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    std::iter::successors(d.succ_opt(), NaiveDate::succ_opt).take(SCAN_HORIZON_DAYS)
}

/// The days before `d`, latest first, at most [`SCAN_HORIZON_DAYS`] of them.
fn days_before(d: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    std::iter::successors(d.pred_opt(), NaiveDate::pred_opt).take(SCAN_HORIZON_DAYS)
}

/// Monday-to-Friday days from a fixed Monday up to and including `d` (negative before it); only
/// differences are meaningful. Day 1 of the common era, 0001-01-01, is a Monday (proleptic
/// Gregorian), so day number k is a weekday iff k mod 7 is in 1..=5.
fn weekdays_through(d: NaiveDate) -> i64 {
    let k = i64::from(d.num_days_from_ce());
    5 * k.div_euclid(7) + k.rem_euclid(7).min(5)
}

/// The local (Shanghai) time zone.
pub fn shanghai() -> FixedOffset {
    SHANGHAI
}

/// The local (Shanghai) calendar date of an instant.
pub fn local_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&SHANGHAI).date_naive()
}

/// The local date a due instant ends (due instants are local midnight, the end of that day).
pub fn due_date(due_at: DateTime<Utc>) -> NaiveDate {
    local_date(due_at - chrono::Duration::microseconds(1))
}

/// The instant (UTC) at which local day `d` ends, i.e. local midnight starting d+1.
pub fn end_of_local_day(d: NaiveDate) -> DateTime<Utc> {
    // Local 24:00 on d is 16:00 UTC on the same date: no date arithmetic, so no overflow.
    d.and_time(LOCAL_MIDNIGHT_AS_UTC).and_utc()
}

/// The instant (UTC) at which local day `d` begins (local midnight starting d).
///
/// Saturates to the earliest representable instant for `NaiveDate::MIN`.
pub fn start_of_local_day(d: NaiveDate) -> DateTime<Utc> {
    d.pred_opt()
        .map_or(DateTime::<Utc>::MIN_UTC, end_of_local_day)
}

/// A pause of the clock; `until: None` while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

/// The inputs of a deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlineInput {
    pub started_at: DateTime<Utc>,
    /// The policy's limit.
    pub limit_days: u32,
    /// Approved extensions, in working days, added to the limit.
    pub extension_days: u32,
    pub pauses: Vec<Pause>,
    /// "Due soon" once at most this many working days are left (1: from the end of the last
    /// working day before the due date; 0: never before it is due).
    pub due_soon_days: u32,
}

/// The computed deadline and the trace that defends it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DueComputation {
    pub start_date: NaiveDate,
    /// limit + extensions + paused working days
    pub total_days: u32,
    pub paused_days: u32,
    pub due_date: NaiveDate,
    pub due_at: DateTime<Utc>,
    /// From this instant the deadline is due soon (never before started_at).
    pub due_soon_at: DateTime<Utc>,
    /// The working days counted, in order (len == total_days).
    pub counted: Vec<NaiveDate>,
    /// Rest days that are not ordinary weekends (holidays) strictly after the start date up to
    /// the due date.
    pub holidays_crossed: Vec<NaiveDate>,
    /// Make-up working days in the same span.
    pub make_up_days_crossed: Vec<NaiveDate>,
}

/// Computes the due date of a time limit, with the trace that explains it.
///
/// `None` while a pause is open (the clock is stopped, so there is no due time yet), and also
/// when the due date would lie beyond [`SCAN_HORIZON_DAYS`] after the start date (an absurd
/// limit or pause, or a calendar without working days): no deadline is better than a wrong one.
///
/// Pauses are merged before counting, so a working day covered by two overlapping pauses is
/// added once; for pauses that do not overlap this equals summing them one by one.
pub fn compute_due(cal: &Calendar, input: &DeadlineInput) -> Option<DueComputation> {
    let paused_days = paused_working_days(cal, &input.pauses)?;
    let total_days = input
        .limit_days
        .checked_add(input.extension_days)?
        .checked_add(paused_days)?;
    let start_date = local_date(input.started_at);
    let counted = cal.first_working_days_after(start_date, total_days)?;
    let due_date = counted.last().copied().unwrap_or(start_date);
    let due_at = end_of_local_day(due_date);

    // Due soon once no more than k working days are left (as `working_days_left` counts them):
    // from the end of the k-th working day before the due date. With k = 1 and a Monday due
    // date that is Friday midnight, so the weekend already shows "due soon, 1 day left";
    // k = 0 means only once it is due.
    let due_soon_at = match input.due_soon_days {
        0 => due_at,
        k => cal
            .checked_nth_working_day_before(due_date, k)
            .map_or(input.started_at, end_of_local_day),
    }
    .max(input.started_at);

    let mut holidays_crossed = Vec::new();
    let mut make_up_days_crossed = Vec::new();
    for (&d, _) in cal
        .overrides
        .range((Excluded(start_date), Included(due_date)))
    {
        match cal.kind(d) {
            DayKind::Holiday => holidays_crossed.push(d),
            DayKind::MakeUpWorkday => make_up_days_crossed.push(d),
            DayKind::Working | DayKind::Weekend => {}
        }
    }

    Some(DueComputation {
        start_date,
        total_days,
        paused_days,
        due_date,
        due_at,
        due_soon_at,
        counted,
        holidays_crossed,
        make_up_days_crossed,
    })
}

/// Working days added by the pauses: d with local_date(from) < d <= local_date(until), over the
/// union of the pauses. `None` if a pause is still open.
fn paused_working_days(cal: &Calendar, pauses: &[Pause]) -> Option<u32> {
    let mut spans = Vec::with_capacity(pauses.len());
    for p in pauses {
        let (from, until) = (local_date(p.from), local_date(p.until?));
        if from < until {
            spans.push((from, until));
        }
    }
    spans.sort_unstable();
    // Merge the half-open spans (from, until]; touching spans merge harmlessly.
    let mut merged: Vec<(NaiveDate, NaiveDate)> = Vec::with_capacity(spans.len());
    for (from, until) in spans {
        match merged.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(until),
            _ => merged.push((from, until)),
        }
    }
    Some(
        merged
            .into_iter()
            .map(|(from, until)| cal.working_days_between(from, until))
            .fold(0u32, u32::saturating_add),
    )
}

/// Working days left (>= 0) until the due date as seen at `now`: working days d with
/// local_date(now) < d <= due_date, plus 1 if local_date(now) itself is a working day and
/// now < due_at (today still counts while it lasts).
///
/// Returns a negative number when now >= due_at: minus the working days d with
/// due_date < d <= local_date(now), so a weekend right after the due date still shows 0.
/// Saturates at `i32::MAX` / `-i32::MAX`.
pub fn working_days_left(cal: &Calendar, now: DateTime<Utc>, due_date: NaiveDate) -> i32 {
    let today = local_date(now);
    if now < end_of_local_day(due_date) {
        let ahead = cal.working_days_between(today, due_date);
        let today_counts = u32::from(cal.is_working_day(today));
        i32::try_from(ahead.saturating_add(today_counts)).unwrap_or(i32::MAX)
    } else {
        -i32::try_from(cal.working_days_between(due_date, today)).unwrap_or(i32::MAX)
    }
}

/// The 2026 public holidays and make-up working days of mainland China, per the State Council
/// notice as best known when written.
///
/// Demo data for development and tests only: admins maintain the real calendar each year.
pub fn china_2026_demo() -> Vec<DayOverride> {
    china_2026_demo_named()
        .into_iter()
        .map(|(o, _)| o)
        .collect()
}

/// [`china_2026_demo`] with each day's name (the holiday, or the holiday a make-up day serves).
pub fn china_2026_demo_named() -> Vec<(DayOverride, &'static str)> {
    // (month, first day, last day, working, name)
    const SPANS: &[(u32, u32, u32, bool, &str)] = &[
        (1, 1, 3, false, "元旦"),
        (1, 4, 4, true, "元旦调休上班"),   // Sun
        (2, 14, 14, true, "春节调休上班"), // Sat
        (2, 15, 23, false, "春节"),
        (2, 28, 28, true, "春节调休上班"), // Sat
        (4, 4, 6, false, "清明节"),
        (5, 1, 5, false, "劳动节"),
        (5, 9, 9, true, "劳动节调休上班"), // Sat
        (6, 19, 21, false, "端午节"),
        (9, 20, 20, true, "国庆节调休上班"), // Sun
        (9, 25, 27, false, "中秋节"),
        (10, 1, 7, false, "国庆节"),
        (10, 10, 10, true, "国庆节调休上班"), // Sat
    ];
    SPANS
        .iter()
        .flat_map(|&(month, first, last, working, name)| {
            (first..=last).filter_map(move |day| {
                NaiveDate::from_ymd_opt(2026, month, day)
                    .map(|date| (DayOverride { date, working }, name))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
