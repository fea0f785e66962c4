//! Unit and property tests of the working-day calendar.

use super::*;
use chrono::{NaiveDateTime, TimeDelta, Timelike};
use proptest::prelude::*;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn ds(list: &[&str]) -> Vec<NaiveDate> {
    list.iter().map(|s| d(s)).collect()
}

/// An RFC 3339 instant, e.g. "2026-03-05T15:30:00Z".
fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A Shanghai wall-clock time, e.g. "2026-03-02 10:00".
fn sh(s: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .unwrap()
        .and_local_timezone(SHANGHAI)
        .unwrap()
        .with_timezone(&Utc)
}

/// Either form: UTC if it ends in `Z`, else Shanghai wall-clock.
fn instant(s: &str) -> DateTime<Utc> {
    if s.ends_with('Z') { utc(s) } else { sh(s) }
}

fn plain() -> Calendar {
    Calendar::default()
}

fn demo() -> Calendar {
    Calendar::new(china_2026_demo())
}

fn input(started_at: DateTime<Utc>, limit_days: u32) -> DeadlineInput {
    DeadlineInput {
        started_at,
        limit_days,
        extension_days: 0,
        pauses: vec![],
        due_soon_days: 1,
    }
}

fn due(cal: &Calendar, input: &DeadlineInput) -> DueComputation {
    compute_due(cal, input).expect("a due date")
}

fn pause(from: &str, until: &str) -> Pause {
    Pause {
        from: instant(from),
        until: Some(instant(until)),
    }
}

/// Days d with from < d <= to, by walking.
fn days_in(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    from.iter_days().skip(1).take_while(|&x| x <= to).collect()
}

fn naive_between(cal: &Calendar, from: NaiveDate, to: NaiveDate) -> u32 {
    days_in(from, to)
        .into_iter()
        .filter(|&x| cal.is_working_day(x))
        .count() as u32
}

// ----- time zone -----

#[test]
fn local_date_shifts_both_ways() {
    // 23:30 Shanghai on Thu Mar 5 is 15:30 UTC the same day.
    assert_eq!(local_date(utc("2026-03-05T15:30:00Z")), d("2026-03-05"));
    // 00:30 Shanghai on Fri Mar 6 is 16:30 UTC on the *previous* UTC day.
    assert_eq!(local_date(utc("2026-03-05T16:30:00Z")), d("2026-03-06"));
    assert_eq!(local_date(utc("2026-03-05T15:59:59Z")), d("2026-03-05"));
    assert_eq!(local_date(utc("2026-03-05T16:00:00Z")), d("2026-03-06"));
    // Early UTC morning is already afternoon in Shanghai: same date.
    assert_eq!(local_date(utc("2026-03-05T00:00:00Z")), d("2026-03-05"));
    // New Year's Eve 20:00 UTC is already Jan 1 in Shanghai.
    assert_eq!(local_date(utc("2025-12-31T20:00:00Z")), d("2026-01-01"));
    // The test helper agrees with the literal.
    assert_eq!(sh("2026-03-06 00:30"), utc("2026-03-05T16:30:00Z"));
}

#[test]
fn local_day_bounds_are_shanghai_midnights() {
    assert_eq!(
        end_of_local_day(d("2026-03-05")),
        utc("2026-03-05T16:00:00Z")
    );
    assert_eq!(
        end_of_local_day(d("2026-12-31")),
        utc("2026-12-31T16:00:00Z")
    );
    assert_eq!(
        start_of_local_day(d("2026-03-05")),
        utc("2026-03-04T16:00:00Z")
    );
    assert_eq!(
        start_of_local_day(d("2026-01-01")),
        utc("2025-12-31T16:00:00Z")
    );
    // The extremes saturate instead of panicking.
    let _ = end_of_local_day(NaiveDate::MAX);
    assert_eq!(start_of_local_day(NaiveDate::MIN), DateTime::<Utc>::MIN_UTC);
}

// ----- calendar -----

#[test]
fn kinds() {
    let cal = Calendar::new([
        DayOverride {
            date: d("2026-03-07"),
            working: false,
        }, // Sat marked rest
        DayOverride {
            date: d("2026-03-10"),
            working: true,
        }, // Tue marked working
    ]);
    assert_eq!(cal.kind(d("2026-03-02")), DayKind::Working); // Mon
    assert_eq!(cal.kind(d("2026-03-08")), DayKind::Weekend); // Sun
    assert_eq!(cal.kind(d("2026-03-07")), DayKind::Holiday); // rest override on Sat
    assert_eq!(cal.kind(d("2026-03-10")), DayKind::Working); // redundant working override
    assert!(!cal.is_working_day(d("2026-03-07")));
    assert!(cal.is_working_day(d("2026-03-10")));

    let demo = demo();
    assert_eq!(demo.kind(d("2026-01-01")), DayKind::Holiday); // Thu, New Year
    assert_eq!(demo.kind(d("2026-01-03")), DayKind::Holiday); // Sat inside the block
    assert_eq!(demo.kind(d("2026-01-04")), DayKind::MakeUpWorkday); // Sun
    assert_eq!(demo.kind(d("2026-02-14")), DayKind::MakeUpWorkday); // Sat
    assert_eq!(demo.kind(d("2026-10-10")), DayKind::MakeUpWorkday); // Sat
    assert_eq!(demo.kind(d("2026-10-11")), DayKind::Weekend); // Sun, no override
    assert_eq!(demo.kind(d("2026-10-08")), DayKind::Working); // Thu
    assert!(demo.is_working_day(d("2026-09-20")));
    assert!(!demo.is_working_day(d("2026-10-05")));
}

#[test]
fn later_duplicates_win() {
    let date = d("2026-03-04");
    let cal = Calendar::new([
        DayOverride {
            date,
            working: false,
        },
        DayOverride {
            date,
            working: true,
        },
    ]);
    assert!(cal.is_working_day(date));
    let cal = Calendar::new([
        DayOverride {
            date,
            working: true,
        },
        DayOverride {
            date,
            working: false,
        },
    ]);
    assert_eq!(cal.kind(date), DayKind::Holiday);
    assert_eq!(cal.overrides().count(), 1);
}

#[test]
fn day_kind_wire_names() {
    let json = serde_json::to_value([
        DayKind::Working,
        DayKind::Weekend,
        DayKind::Holiday,
        DayKind::MakeUpWorkday,
    ])
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!(["working", "weekend", "holiday", "make_up_workday"])
    );
}

#[test]
fn demo_2026_data() {
    let days = china_2026_demo();
    assert_eq!(days.len(), 39); // 33 rest days + 6 make-up days
    assert!(days.iter().all(|o| o.date.year() == 2026));
    let make_up: Vec<NaiveDate> = days.iter().filter(|o| o.working).map(|o| o.date).collect();
    assert_eq!(
        make_up,
        ds(&[
            "2026-01-04",
            "2026-02-14",
            "2026-02-28",
            "2026-05-09",
            "2026-09-20",
            "2026-10-10"
        ])
    );
    assert!(make_up.iter().all(|&x| is_weekend(x)));
    // 261 weekdays in 2026, minus 19 weekday holidays, plus 6 make-up days.
    assert_eq!(
        demo().working_days_between(d("2025-12-31"), d("2026-12-31")),
        248
    );
    assert_eq!(
        plain().working_days_between(d("2025-12-31"), d("2026-12-31")),
        261
    );
}

#[test]
fn nth_working_day_examples() {
    let (p, c) = (plain(), demo());
    assert_eq!(p.nth_working_day_after(d("2026-03-06"), 0), d("2026-03-06"));
    assert_eq!(p.nth_working_day_after(d("2026-03-07"), 0), d("2026-03-07")); // n = 0 on a rest day
    assert_eq!(p.nth_working_day_after(d("2026-03-06"), 1), d("2026-03-09")); // Fri → Mon
    assert_eq!(
        p.nth_working_day_before(d("2026-03-09"), 1),
        d("2026-03-06")
    ); // Mon → Fri
    assert_eq!(
        p.nth_working_day_before(d("2026-03-08"), 0),
        d("2026-03-08")
    );
    assert_eq!(c.nth_working_day_after(d("2026-09-30"), 1), d("2026-10-08"));
    assert_eq!(
        c.nth_working_day_before(d("2026-10-08"), 1),
        d("2026-09-30")
    );
    assert_eq!(
        c.nth_working_day_before(d("2026-02-24"), 1),
        d("2026-02-14")
    ); // make-up Sat
    assert_eq!(
        c.nth_working_day_before(d("2026-02-24"), 2),
        d("2026-02-13")
    );
    assert_eq!(
        c.nth_working_day_before(d("2026-01-04"), 1),
        d("2025-12-31")
    );
    assert_eq!(
        c.nth_working_day_before(d("2026-01-05"), 1),
        d("2026-01-04")
    ); // make-up Sun
}

#[test]
fn working_days_between_examples() {
    let (p, c) = (plain(), demo());
    assert_eq!(p.working_days_between(d("2026-03-06"), d("2026-03-09")), 1); // Fri → Mon
    assert_eq!(p.working_days_between(d("2026-03-06"), d("2026-03-08")), 0); // weekend only
    assert_eq!(p.working_days_between(d("2026-03-04"), d("2026-03-04")), 0);
    assert_eq!(p.working_days_between(d("2026-03-09"), d("2026-03-02")), 0); // reversed
    assert_eq!(c.working_days_between(d("2026-09-18"), d("2026-10-12")), 12);
    assert_eq!(c.working_days_between(d("2026-09-30"), d("2026-10-07")), 0); // National Day
    assert_eq!(c.working_days_between(d("2026-02-13"), d("2026-02-28")), 6);
    // Closed form over centuries agrees with walking.
    let (a, b) = (d("1899-12-31"), d("2100-01-01"));
    assert_eq!(c.working_days_between(a, b), naive_between(&c, a, b));
}

// ----- compute_due: the table -----

#[derive(Clone, Copy, Debug)]
enum Cal {
    P,
    D,
}
use Cal::{D, P};

type Case = (
    Cal,
    &'static str, // started_at: Shanghai wall-clock, or UTC if it ends in Z
    u32,          // limit
    u32,          // extensions
    &'static [(&'static str, &'static str)], // pauses
    u32,          // expected paused working days
    &'static str, // expected due date
    &'static str, // why
);

#[rustfmt::skip]
const CASES: &[Case] = &[
    // March 2026: Mon 2 … Fri 6, Sat 7, Sun 8, Mon 9.
    (P, "2026-03-02 10:00", 1, 0, &[], 0, "2026-03-03", "Mon + 1 → Tue: the start day is not counted"),
    (P, "2026-03-02 10:00", 4, 0, &[], 0, "2026-03-06", "Mon + 4 → Fri of the same week"),
    (P, "2026-03-02 10:00", 5, 0, &[], 0, "2026-03-09", "Mon + 5 → next Mon, skipping the weekend"),
    (P, "2026-03-02 10:00", 10, 0, &[], 0, "2026-03-16", "two full weeks"),
    (P, "2026-03-04 10:00", 15, 0, &[], 0, "2026-03-25", "Wed + 15 → Wed three weeks on"),
    (P, "2026-03-02 10:00", 0, 0, &[], 0, "2026-03-02", "N = 0: end of the start date"),
    (P, "2026-03-06 19:00", 1, 0, &[], 0, "2026-03-09", "Friday evening + 1 → Monday"),
    (P, "2026-03-06 19:00", 3, 0, &[], 0, "2026-03-11", "Friday evening + 3 → Wednesday"),
    (P, "2026-03-07 10:00", 1, 0, &[], 0, "2026-03-09", "Saturday start: Monday is day 1"),
    (P, "2026-03-08 10:00", 1, 0, &[], 0, "2026-03-09", "Sunday start: Monday is day 1"),
    (P, "2026-03-07 10:00", 5, 0, &[], 0, "2026-03-13", "Saturday + 5 → Friday"),
    (P, "2026-03-08 10:00", 0, 0, &[], 0, "2026-03-08", "N = 0 on a rest day is still the start date"),
    // UTC instants whose Shanghai date differs.
    (P, "2026-03-05T15:30:00Z", 1, 0, &[], 0, "2026-03-06", "15:30Z = Thu 23:30 Shanghai → Fri"),
    (P, "2026-03-05T16:30:00Z", 1, 0, &[], 0, "2026-03-09", "16:30Z Thu = Fri 00:30 Shanghai → Mon"),
    (P, "2026-03-06T15:59:59Z", 0, 0, &[], 0, "2026-03-06", "last second of Friday in Shanghai"),
    (P, "2026-03-06T16:00:00Z", 0, 0, &[], 0, "2026-03-07", "first second of Saturday in Shanghai"),
    (P, "2026-03-01T16:00:00Z", 1, 0, &[], 0, "2026-03-03", "Sun 16:00Z = Mon 00:00 Shanghai → Tue"),
    (P, "2026-03-01T15:59:59Z", 1, 0, &[], 0, "2026-03-02", "Sun 23:59:59 Shanghai → Mon"),
    // National Day 2026: Oct 1–7 off, Sun Sep 20 and Sat Oct 10 work; Mid-Autumn Sep 25–27 off.
    (D, "2026-10-03 10:00", 1, 0, &[], 0, "2026-10-08", "start on a holiday (Sat Oct 3): Thu Oct 8 is day 1"),
    (D, "2026-10-03 10:00", 3, 0, &[], 0, "2026-10-10", "Oct 8, 9, then make-up Sat Oct 10"),
    (D, "2026-10-03 10:00", 4, 0, &[], 0, "2026-10-12", "Sun Oct 11 rests → Mon Oct 12"),
    (D, "2026-09-30 10:00", 1, 0, &[], 0, "2026-10-08", "Wed Sep 30 + 1 jumps the whole holiday"),
    (D, "2026-09-18 10:00", 1, 0, &[], 0, "2026-09-20", "Fri + 1 → make-up Sun Sep 20"),
    (D, "2026-09-18 10:00", 10, 0, &[], 0, "2026-10-09", "Sep 20–24 (5), Sep 28–30 (8), Oct 8–9 (10)"),
    (D, "2026-09-18 10:00", 11, 0, &[], 0, "2026-10-10", "… 11: make-up Sat Oct 10"),
    (D, "2026-09-18 10:00", 12, 0, &[], 0, "2026-10-12", "… 12: Mon Oct 12"),
    (P, "2026-09-18 10:00", 12, 0, &[], 0, "2026-10-06", "same span, plain: Sep 21–25, Sep 28–Oct 2, Oct 5–6"),
    (D, "2026-09-24 10:00", 1, 0, &[], 0, "2026-09-28", "Mid-Autumn Sep 25–27 → Mon Sep 28"),
    // Spring Festival: Feb 15–23 off, Sat Feb 14 and Sat Feb 28 work.
    (D, "2026-02-12 10:00", 1, 0, &[], 0, "2026-02-13", "Thu + 1 → Fri"),
    (D, "2026-02-12 10:00", 2, 0, &[], 0, "2026-02-14", "make-up Sat Feb 14"),
    (D, "2026-02-12 10:00", 3, 0, &[], 0, "2026-02-24", "Feb 15–23 off → Tue Feb 24"),
    (D, "2026-02-12 10:00", 7, 0, &[], 0, "2026-02-28", "Feb 24–27, then make-up Sat Feb 28"),
    (D, "2026-02-12 10:00", 8, 0, &[], 0, "2026-03-02", "Sun Mar 1 rests → Mon Mar 2"),
    (D, "2026-02-13 20:00", 1, 0, &[], 0, "2026-02-14", "Friday evening + 1 → make-up Saturday"),
    (D, "2026-02-15 10:00", 1, 0, &[], 0, "2026-02-24", "start on the first holiday (Sun)"),
    // Year boundaries.
    (D, "2025-12-31 10:00", 1, 0, &[], 0, "2026-01-04", "Jan 1–3 off → make-up Sun Jan 4"),
    (D, "2025-12-31 10:00", 2, 0, &[], 0, "2026-01-05", "… then Mon Jan 5"),
    (P, "2025-12-31 10:00", 1, 0, &[], 0, "2026-01-01", "plain calendar: Thu Jan 1"),
    (D, "2026-12-30 10:00", 5, 0, &[], 0, "2027-01-06", "no 2027 data: Dec 31, Fri Jan 1, Jan 4, 5, 6"),
    // The other 2026 holidays.
    (D, "2026-04-03 10:00", 1, 0, &[], 0, "2026-04-07", "Qingming Apr 4–6 → Tue Apr 7"),
    (D, "2026-04-30 10:00", 1, 0, &[], 0, "2026-05-06", "Labour Day May 1–5 → Wed May 6"),
    (D, "2026-04-30 10:00", 4, 0, &[], 0, "2026-05-09", "May 6, 7, 8, make-up Sat May 9"),
    (D, "2026-04-30 10:00", 5, 0, &[], 0, "2026-05-11", "Sun May 10 rests → Mon May 11"),
    (D, "2026-06-18 10:00", 1, 0, &[], 0, "2026-06-22", "Dragon Boat Jun 19–21 → Mon Jun 22"),
    // Extensions.
    (D, "2026-06-18 10:00", 1, 2, &[], 0, "2026-06-24", "1 + 2 extension: Jun 22, 23, 24"),
    (P, "2026-03-02 10:00", 10, 5, &[], 0, "2026-03-23", "10 + 5 extension = three weeks"),
    (P, "2026-03-02 10:00", 0, 1, &[], 0, "2026-03-03", "an extension alone counts like a limit"),
    // Pauses.
    (P, "2026-03-02 10:00", 5, 0, &[("2026-03-02 11:00", "2026-03-02 15:00")], 0, "2026-03-09",
     "same-day pause adds 0"),
    (P, "2026-03-02 10:00", 5, 0, &[("2026-03-06 10:00", "2026-03-09 10:00")], 1, "2026-03-10",
     "Fri → Mon pause adds Monday only"),
    (P, "2026-03-02 10:00", 5, 0, &[("2026-03-06 10:00", "2026-03-08 22:00")], 0, "2026-03-09",
     "Fri → Sun pause adds nothing"),
    (P, "2026-03-02 10:00", 5, 0, &[("2026-03-03 10:00", "2026-03-04 10:00"), ("2026-03-05 10:00", "2026-03-06 10:00")],
     2, "2026-03-11", "two pauses add Wed and Fri"),
    (P, "2026-03-02 10:00", 5, 0, &[("2026-03-03 10:00", "2026-03-05 10:00"), ("2026-03-04 10:00", "2026-03-06 10:00")],
     3, "2026-03-12", "overlapping pauses count Wed, Thu, Fri once each"),
    (P, "2026-03-02 10:00", 5, 0, &[("2026-03-04 10:00", "2026-03-03 10:00")], 0, "2026-03-09",
     "a pause that ends before it begins adds 0"),
    (P, "2026-03-05 10:00", 1, 0, &[("2026-03-05T15:30:00Z", "2026-03-05T16:30:00Z")], 1, "2026-03-09",
     "one hour over local midnight Thu → Fri adds Fri"),
    (D, "2026-09-28 10:00", 3, 0, &[("2026-09-30 10:00", "2026-10-09 10:00")], 2, "2026-10-10",
     "pause over National Day adds Oct 8, 9; due on make-up Sat Oct 10"),
];

#[test]
fn compute_due_table() {
    assert!(CASES.len() >= 30);
    for &(cal, start, limit, ext, pauses, paused, expected, why) in CASES {
        let cal = match cal {
            P => plain(),
            D => demo(),
        };
        let input = DeadlineInput {
            extension_days: ext,
            pauses: pauses.iter().map(|&(a, b)| pause(a, b)).collect(),
            ..input(instant(start), limit)
        };
        let c = due(&cal, &input);
        assert_eq!(c.due_date, d(expected), "{why}");
        assert_eq!(c.paused_days, paused, "{why}");
        assert_eq!(c.total_days, limit + ext + paused, "{why}");
        assert_eq!(c.start_date, local_date(input.started_at), "{why}");
        assert_eq!(c.due_at, end_of_local_day(d(expected)), "{why}");
        assert_eq!(c.counted.len() as u32, c.total_days, "{why}");
    }
}

// ----- compute_due: traces -----

#[test]
fn trace_across_national_day() {
    let c = due(&demo(), &input(sh("2026-09-18 10:00"), 12));
    assert_eq!(c.start_date, d("2026-09-18"));
    assert_eq!(
        c.counted,
        ds(&[
            "2026-09-20",
            "2026-09-21",
            "2026-09-22",
            "2026-09-23",
            "2026-09-24",
            "2026-09-28",
            "2026-09-29",
            "2026-09-30",
            "2026-10-08",
            "2026-10-09",
            "2026-10-10",
            "2026-10-12",
        ])
    );
    assert_eq!(
        c.holidays_crossed,
        ds(&[
            "2026-09-25",
            "2026-09-26",
            "2026-09-27",
            "2026-10-01",
            "2026-10-02",
            "2026-10-03",
            "2026-10-04",
            "2026-10-05",
            "2026-10-06",
            "2026-10-07",
        ])
    );
    assert_eq!(c.make_up_days_crossed, ds(&["2026-09-20", "2026-10-10"]));
    assert_eq!(c.due_at, utc("2026-10-12T16:00:00Z"));
}

#[test]
fn trace_across_spring_festival() {
    let c = due(&demo(), &input(sh("2026-02-12 10:00"), 8));
    assert_eq!(
        c.counted,
        ds(&[
            "2026-02-13",
            "2026-02-14",
            "2026-02-24",
            "2026-02-25",
            "2026-02-26",
            "2026-02-27",
            "2026-02-28",
            "2026-03-02",
        ])
    );
    assert_eq!(
        c.holidays_crossed,
        ds(&[
            "2026-02-15",
            "2026-02-16",
            "2026-02-17",
            "2026-02-18",
            "2026-02-19",
            "2026-02-20",
            "2026-02-21",
            "2026-02-22",
            "2026-02-23",
        ])
    );
    assert_eq!(c.make_up_days_crossed, ds(&["2026-02-14", "2026-02-28"]));
}

#[test]
fn trace_across_new_year_2026() {
    let c = due(&demo(), &input(sh("2025-12-31 10:00"), 1));
    assert_eq!(c.start_date, d("2025-12-31"));
    assert_eq!(c.counted, ds(&["2026-01-04"]));
    assert_eq!(
        c.holidays_crossed,
        ds(&["2026-01-01", "2026-01-02", "2026-01-03"])
    );
    assert_eq!(c.make_up_days_crossed, ds(&["2026-01-04"]));
    assert_eq!(c.due_at, utc("2026-01-04T16:00:00Z"));
}

#[test]
fn year_boundary_into_2027() {
    // Without 2027 data, Fri Jan 1 2027 is an ordinary working day.
    let c = due(&demo(), &input(sh("2026-12-30 10:00"), 5));
    assert_eq!(
        c.counted,
        ds(&[
            "2026-12-31",
            "2027-01-01",
            "2027-01-04",
            "2027-01-05",
            "2027-01-06"
        ])
    );
    assert!(c.holidays_crossed.is_empty());
    // Once admins add New Year 2027, the due date moves a day.
    let mut days = china_2026_demo();
    days.push(DayOverride {
        date: d("2027-01-01"),
        working: false,
    });
    let c = due(&Calendar::new(days), &input(sh("2026-12-30 10:00"), 5));
    assert_eq!(c.due_date, d("2027-01-07"));
    assert_eq!(c.holidays_crossed, ds(&["2027-01-01"]));
}

#[test]
fn zero_limit_is_due_at_end_of_start_date() {
    let c = due(&demo(), &input(sh("2026-10-03 10:00"), 0));
    assert_eq!(c.due_date, d("2026-10-03"));
    assert_eq!(c.due_at, utc("2026-10-03T16:00:00Z"));
    assert!(c.counted.is_empty());
    assert!(c.holidays_crossed.is_empty()); // the start date itself is not "crossed"
    assert!(c.make_up_days_crossed.is_empty());
}

#[test]
fn open_pause_means_no_due_time() {
    let mut i = input(sh("2026-03-02 10:00"), 5);
    i.pauses = vec![Pause {
        from: sh("2026-03-03 10:00"),
        until: None,
    }];
    assert_eq!(compute_due(&plain(), &i), None);
    // Even with closed pauses around it.
    i.pauses
        .insert(0, pause("2026-03-02 11:00", "2026-03-02 12:00"));
    i.pauses.push(pause("2026-03-04 11:00", "2026-03-05 12:00"));
    assert_eq!(compute_due(&plain(), &i), None);
    // Closing it yields a due date again.
    i.pauses[1].until = Some(sh("2026-03-04 09:00"));
    assert_eq!(due(&plain(), &i).paused_days, 2); // Wed, then Thu
}

#[test]
fn due_soon_at() {
    let start = sh("2026-03-02 10:00"); // = 2026-03-02T02:00:00Z; Mon + 5 → due Mon Mar 9
    let soon = |cal: &Calendar, start, limit, k| {
        due(
            cal,
            &DeadlineInput {
                due_soon_days: k,
                ..input(start, limit)
            },
        )
        .due_soon_at
    };
    let p = plain();
    assert_eq!(soon(&p, start, 5, 0), utc("2026-03-09T16:00:00Z")); // only once due
    assert_eq!(soon(&p, start, 5, 1), utc("2026-03-06T16:00:00Z")); // Sat 00:00: only Mon is left
    assert_eq!(soon(&p, start, 5, 2), utc("2026-03-05T16:00:00Z")); // Fri 00:00: weekend skipped
    assert_eq!(soon(&p, start, 5, 3), utc("2026-03-04T16:00:00Z")); // Thu 00:00
    assert_eq!(soon(&p, start, 5, 5), utc("2026-03-02T16:00:00Z")); // Tue 00:00
    assert_eq!(soon(&p, start, 5, 6), start); // Mon 00:00 is before the start: clamped
    assert_eq!(soon(&p, start, 5, 50), start);
    assert_eq!(soon(&p, start, 0, 1), start); // N = 0: due soon at once
    assert_eq!(soon(&p, start, 0, 0), utc("2026-03-02T16:00:00Z"));

    // Due Mon Oct 12 after National Day.
    let c = demo();
    let start = sh("2026-09-18 10:00");
    assert_eq!(soon(&c, start, 12, 2), utc("2026-10-09T16:00:00Z")); // make-up Sat Oct 10
    assert_eq!(soon(&c, start, 12, 3), utc("2026-10-08T16:00:00Z")); // Fri Oct 9
    assert_eq!(soon(&c, start, 12, 4), utc("2026-09-30T16:00:00Z")); // after Wed Sep 30: the holiday week shows 4 left
    assert_eq!(soon(&c, start, 12, 5), utc("2026-09-29T16:00:00Z")); // Wed Sep 30
}

#[test]
fn working_days_left_examples() {
    let p = plain();
    let due_mon = d("2026-03-09");
    // At the start (Mon 10:00, N = 5): Tue–Fri, Mon, plus what is left of today.
    assert_eq!(
        working_days_left(&p, utc("2026-03-02T02:00:00Z"), due_mon),
        6
    );
    assert_eq!(working_days_left(&p, sh("2026-03-06 12:00"), due_mon), 2); // Fri: Fri + Mon
    assert_eq!(working_days_left(&p, sh("2026-03-07 12:00"), due_mon), 1); // Sat: Mon
    assert_eq!(working_days_left(&p, sh("2026-03-09 09:00"), due_mon), 1); // the due day itself
    assert_eq!(
        working_days_left(&p, utc("2026-03-09T15:59:59Z"), due_mon),
        1
    ); // its last second
    assert_eq!(
        working_days_left(&p, utc("2026-03-09T16:00:00Z"), due_mon),
        -1
    ); // Tue 00:00
    assert_eq!(working_days_left(&p, sh("2026-03-12 10:00"), due_mon), -3); // Tue, Wed, Thu

    let due_fri = d("2026-03-06");
    assert_eq!(
        working_days_left(&p, utc("2026-03-05T15:30:00Z"), due_fri),
        2
    ); // Thu 23:30
    assert_eq!(
        working_days_left(&p, utc("2026-03-05T16:30:00Z"), due_fri),
        1
    ); // Fri 00:30
    assert_eq!(working_days_left(&p, sh("2026-03-06 23:59"), due_fri), 1);
    assert_eq!(working_days_left(&p, sh("2026-03-07 00:00"), due_fri), 0); // overdue, but Sat
    assert_eq!(working_days_left(&p, sh("2026-03-08 18:00"), due_fri), 0); // Sun
    assert_eq!(working_days_left(&p, sh("2026-03-09 08:00"), due_fri), -1); // Mon

    // Due on a rest day (N = 0 from Sunday): nothing left, yet not overdue.
    assert_eq!(
        working_days_left(&p, sh("2026-03-08 10:00"), d("2026-03-08")),
        0
    );

    let c = demo();
    let due_sep30 = d("2026-09-30");
    assert_eq!(working_days_left(&c, sh("2026-09-24 10:00"), due_sep30), 4); // Thu + Sep 28–30
    assert_eq!(working_days_left(&c, sh("2026-09-25 10:00"), due_sep30), 3); // holiday today
    assert_eq!(working_days_left(&c, sh("2026-10-05 10:00"), due_sep30), 0); // only holidays since
    assert_eq!(working_days_left(&c, sh("2026-10-08 10:00"), due_sep30), -1);
    assert_eq!(working_days_left(&c, sh("2026-10-10 10:00"), due_sep30), -3); // make-up Sat counts
    assert_eq!(working_days_left(&c, sh("2026-10-11 10:00"), due_sep30), -3);
}

// ----- absurd inputs stay bounded -----

/// Every day from 2020 through 2050 is a rest day.
fn all_rest() -> Calendar {
    Calendar::new(
        d("2020-01-01")
            .iter_days()
            .take_while(|&x| x <= d("2050-12-31"))
            .map(|date| DayOverride {
                date,
                working: false,
            }),
    )
}

#[test]
fn absurd_inputs_are_bounded() {
    let start = sh("2026-03-02 10:00");
    let p = plain();
    // 3650 working days (~14 years) still fit in the horizon.
    assert_eq!(due(&p, &input(start, 3650)).counted.len(), 3650);
    assert_eq!(compute_due(&p, &input(start, 10_000)), None);
    assert_eq!(compute_due(&p, &input(start, u32::MAX)), None);
    let overflow = DeadlineInput {
        extension_days: u32::MAX,
        ..input(start, 1)
    };
    assert_eq!(compute_due(&p, &overflow), None);
    // A century-long pause pushes the due date out of reach.
    let long = DeadlineInput {
        pauses: vec![pause("2026-03-02 11:00", "2126-03-02 11:00")],
        ..input(start, 1)
    };
    assert_eq!(compute_due(&p, &long), None);

    let rest = all_rest();
    assert_eq!(compute_due(&rest, &input(start, 1)), None);
    assert_eq!(due(&rest, &input(start, 0)).due_date, d("2026-03-02")); // N = 0 needs no scan
    assert_eq!(
        rest.nth_working_day_after(d("2026-03-02"), 1),
        NaiveDate::MAX
    );
    assert_eq!(
        rest.nth_working_day_before(d("2046-03-02"), 1),
        NaiveDate::MIN
    );
    assert_eq!(rest.checked_nth_working_day_after(d("2026-03-02"), 1), None);
    assert_eq!(p.checked_nth_working_day_after(NaiveDate::MAX, 1), None);
    assert_eq!(p.checked_nth_working_day_before(NaiveDate::MIN, 1), None);
    assert_eq!(
        p.nth_working_day_after(d("2026-03-02"), u32::MAX),
        NaiveDate::MAX
    );
    // Days left saturate instead of overflowing.
    let far = NaiveDate::MAX;
    assert!(working_days_left(&p, start, far) > 0);
    assert!(working_days_left(&p, start, NaiveDate::MIN) < 0);
}

#[test]
fn due_computation_serializes() {
    let c = due(&demo(), &input(sh("2025-12-31 10:00"), 1));
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["due_date"], "2026-01-04");
    assert_eq!(json["due_at"], "2026-01-04T16:00:00Z");
    assert_eq!(
        json["holidays_crossed"],
        serde_json::json!(["2026-01-01", "2026-01-02", "2026-01-03"])
    );
}

// ----- properties -----

/// A date around 2026 (where the demo data is) or anywhere in 1990–2100.
fn date() -> impl Strategy<Value = NaiveDate> {
    prop_oneof![
        3 => (0u64..500).prop_map(|n| d("2025-10-01") + chrono::Days::new(n)),
        1 => (0u64..40_000).prop_map(|n| d("1990-01-01") + chrono::Days::new(n)),
    ]
}

fn instant_strategy() -> impl Strategy<Value = DateTime<Utc>> {
    (date(), 0i64..86_400)
        .prop_map(|(day, secs)| day.and_time(NaiveTime::MIN).and_utc() + TimeDelta::seconds(secs))
}

/// Random overrides around 2026, so holiday blocks and make-up days of any shape occur.
fn random_calendar() -> impl Strategy<Value = Calendar> {
    proptest::collection::vec((0u64..900, any::<bool>()), 0..150).prop_map(|v| {
        Calendar::new(v.into_iter().map(|(n, working)| DayOverride {
            date: d("2025-09-01") + chrono::Days::new(n),
            working,
        }))
    })
}

/// Each property runs against the plain, the demo and a random calendar.
fn calendars(random: Calendar) -> [Calendar; 3] {
    [plain(), demo(), random]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn prop_due_computation_invariants(
        random in random_calendar(),
        started_at in instant_strategy(),
        limit in 0u32..60,
        ext in 0u32..10,
        k in 0u32..8,
    ) {
        for cal in calendars(random) {
            let i = DeadlineInput { extension_days: ext, due_soon_days: k, ..input(started_at, limit) };
            let c = compute_due(&cal, &i).unwrap();
            let start = local_date(started_at);
            prop_assert_eq!(c.start_date, start);
            prop_assert_eq!(c.total_days, limit + ext);
            prop_assert_eq!(c.paused_days, 0);

            // counted: exactly the working days in (start, due].
            prop_assert_eq!(c.counted.len() as u32, c.total_days);
            prop_assert!(c.counted.iter().all(|&x| cal.is_working_day(x) && x > start && x <= c.due_date));
            prop_assert!(c.counted.windows(2).all(|w| w[0] < w[1]));
            let walked: Vec<NaiveDate> =
                days_in(start, c.due_date).into_iter().filter(|&x| cal.is_working_day(x)).collect();
            prop_assert_eq!(&c.counted, &walked);
            if c.total_days >= 1 {
                prop_assert!(cal.is_working_day(c.due_date));
                prop_assert_eq!(c.counted.last(), Some(&c.due_date));
            } else {
                prop_assert_eq!(c.due_date, start);
            }
            prop_assert_eq!(cal.working_days_between(start, c.due_date), c.total_days);

            // due_at is the Shanghai midnight ending the due date.
            prop_assert_eq!(c.due_at, end_of_local_day(c.due_date));
            prop_assert_eq!((c.due_at.hour(), c.due_at.minute(), c.due_at.second()), (16, 0, 0));
            prop_assert_eq!(c.due_at.date_naive(), c.due_date);
            prop_assert_eq!(local_date(c.due_at), c.due_date.succ_opt().unwrap());
            prop_assert_eq!(local_date(c.due_at - TimeDelta::seconds(1)), c.due_date);
            prop_assert!(c.due_at > started_at);

            // due_soon_at lies in [started_at, due_at].
            prop_assert!(started_at <= c.due_soon_at && c.due_soon_at <= c.due_at);
            if k == 0 {
                prop_assert_eq!(c.due_soon_at, c.due_at);
            }

            // Holidays and make-up days crossed, by walking the span.
            let span = days_in(start, c.due_date);
            let hol: Vec<NaiveDate> =
                span.iter().copied().filter(|&x| cal.kind(x) == DayKind::Holiday).collect();
            let mu: Vec<NaiveDate> =
                span.iter().copied().filter(|&x| cal.kind(x) == DayKind::MakeUpWorkday).collect();
            prop_assert_eq!(&c.holidays_crossed, &hol);
            prop_assert_eq!(&c.make_up_days_crossed, &mu);

            // Days left at the start: the whole limit, plus today if it is a working day.
            let today = i32::from(cal.is_working_day(start));
            prop_assert_eq!(working_days_left(&cal, started_at, c.due_date), c.total_days as i32 + today);
            // In the last second, only the due date itself is left (if it is a working day).
            let last = i32::from(cal.is_working_day(c.due_date));
            prop_assert_eq!(working_days_left(&cal, c.due_at - TimeDelta::seconds(1), c.due_date), last);
            prop_assert!(working_days_left(&cal, c.due_at, c.due_date) <= 0);
        }
    }

    #[test]
    fn prop_more_days_never_earlier(
        random in random_calendar(),
        started_at in instant_strategy(),
        limit in 0u32..60,
        ext in 0u32..5,
        k in 0u32..8,
    ) {
        for cal in calendars(random) {
            let base = DeadlineInput { extension_days: ext, due_soon_days: k, ..input(started_at, limit) };
            let c = compute_due(&cal, &base).unwrap();
            let more = compute_due(&cal, &DeadlineInput { limit_days: limit + 1, ..base.clone() }).unwrap();
            prop_assert!(more.due_date > c.due_date);
            prop_assert!(more.due_at > c.due_at);
            // An extension day is worth exactly a limit day.
            let extended = compute_due(&cal, &DeadlineInput { extension_days: ext + 1, ..base.clone() }).unwrap();
            prop_assert_eq!(&extended, &more);
            // A wider "due soon" window never starts later.
            let wider = compute_due(&cal, &DeadlineInput { due_soon_days: k + 1, ..base.clone() }).unwrap();
            prop_assert!(wider.due_soon_at <= c.due_soon_at);
            prop_assert_eq!(wider.due_date, c.due_date);
        }
    }

    #[test]
    fn prop_due_soon_starts_k_working_days_out(
        random in random_calendar(),
        started_at in instant_strategy(),
        limit in 1u32..40,
        k in 1u32..8,
    ) {
        for cal in calendars(random) {
            let c = compute_due(&cal, &DeadlineInput { due_soon_days: k, ..input(started_at, limit) }).unwrap();
            if c.due_soon_at > started_at {
                // Unclamped: a Shanghai midnight at which exactly k working days are left.
                prop_assert_eq!(c.due_soon_at.time(), LOCAL_MIDNIGHT_AS_UTC);
                prop_assert_eq!(working_days_left(&cal, c.due_soon_at, c.due_date), k as i32);
                // A second earlier the working day before still counts: one more left.
                prop_assert_eq!(working_days_left(&cal, c.due_soon_at - TimeDelta::seconds(1), c.due_date), k as i32 + 1);
            } else {
                // Clamped: already within k working days at the start.
                prop_assert!(working_days_left(&cal, started_at, c.due_date) <= k as i32);
            }
        }
    }

    #[test]
    fn prop_nth_and_between_are_inverse(
        random in random_calendar(),
        day in date(),
        n in 0u32..400,
        m in 0u32..100,
    ) {
        for cal in calendars(random) {
            let after = cal.nth_working_day_after(day, n);
            prop_assert_eq!(cal.working_days_between(day, after), n);
            prop_assert_eq!(cal.nth_working_day_after(day, n + m), cal.nth_working_day_after(after, m));
            let before = cal.nth_working_day_before(day, n);
            prop_assert_eq!(cal.working_days_between(before, day), n - u32::from(n > 0 && !cal.is_working_day(day)));
            if n > 0 {
                prop_assert!(after > day && cal.is_working_day(after));
                prop_assert!(before < day && cal.is_working_day(before));
            }
            if cal.is_working_day(day) {
                prop_assert_eq!(cal.nth_working_day_before(after, n), day);
                prop_assert_eq!(cal.nth_working_day_after(before, n), day);
            }
        }
    }

    #[test]
    fn prop_between_matches_walking(
        random in random_calendar(),
        a in date(),
        b in date(),
        c in date(),
    ) {
        let mut v = [a, b, c];
        v.sort();
        let [a, b, c] = v;
        for cal in calendars(random) {
            prop_assert_eq!(cal.working_days_between(a, c), naive_between(&cal, a, c));
            prop_assert_eq!(cal.working_days_between(a, b) + cal.working_days_between(b, c), cal.working_days_between(a, c));
            prop_assert_eq!(cal.working_days_between(c, a), 0);
        }
    }

    #[test]
    fn prop_weekday_arithmetic_matches_chrono(k in -90_000_000i32..90_000_000) {
        if let (Some(day), Some(prev)) = (
            NaiveDate::from_num_days_from_ce_opt(k),
            NaiveDate::from_num_days_from_ce_opt(k - 1),
        ) {
            prop_assert_eq!(weekdays_through(day) - weekdays_through(prev), i64::from(!is_weekend(day)));
            prop_assert_eq!(plain().working_days_between(prev, day), u32::from(!is_weekend(day)));
        }
    }

    #[test]
    fn prop_pauses_add_their_working_days(
        random in random_calendar(),
        started_at in instant_strategy(),
        limit in 0u32..30,
        offsets in proptest::collection::vec((0i64..40 * 86_400, 0i64..15 * 86_400), 1..4),
    ) {
        for cal in calendars(random) {
            let pauses: Vec<Pause> = offsets
                .iter()
                .map(|&(from, len)| Pause {
                    from: started_at + TimeDelta::seconds(from),
                    until: Some(started_at + TimeDelta::seconds(from + len)),
                })
                .collect();
            let paused = compute_due(&cal, &DeadlineInput { pauses: pauses.clone(), ..input(started_at, limit) }).unwrap();
            // The paused working days are those of the union of the pauses' (from, until] spans.
            let mut union: Vec<NaiveDate> = pauses
                .iter()
                .flat_map(|p| days_in(local_date(p.from), local_date(p.until.unwrap())))
                .filter(|&x| cal.is_working_day(x))
                .collect();
            union.sort();
            union.dedup();
            prop_assert_eq!(paused.paused_days as usize, union.len());
            // A pause is worth exactly as many limit days.
            let plain_limit = compute_due(&cal, &input(started_at, limit + paused.paused_days)).unwrap();
            prop_assert_eq!(paused.due_date, plain_limit.due_date);
            prop_assert_eq!(paused.total_days, limit + paused.paused_days);
            // Order does not matter.
            let mut reversed = pauses.clone();
            reversed.reverse();
            let r = compute_due(&cal, &DeadlineInput { pauses: reversed, ..input(started_at, limit) }).unwrap();
            prop_assert_eq!(&r, &paused);
            // A single pause adds exactly working_days_between.
            let p0 = pauses[0];
            let one = compute_due(&cal, &DeadlineInput { pauses: vec![p0], ..input(started_at, limit) }).unwrap();
            prop_assert_eq!(one.paused_days, cal.working_days_between(local_date(p0.from), local_date(p0.until.unwrap())));
            // Leaving any pause open means no due time.
            let mut open = pauses.clone();
            open.last_mut().unwrap().until = None;
            prop_assert_eq!(compute_due(&cal, &DeadlineInput { pauses: open, ..input(started_at, limit) }), None);
        }
    }

    #[test]
    fn prop_working_days_left_never_increases(
        random in random_calendar(),
        t in instant_strategy(),
        dt in 0i64..30 * 86_400,
        due_day in date(),
    ) {
        for cal in calendars(random) {
            let earlier = working_days_left(&cal, t, due_day);
            let later = working_days_left(&cal, t + TimeDelta::seconds(dt), due_day);
            prop_assert!(later <= earlier);
            prop_assert_eq!(earlier > 0, t < end_of_local_day(due_day) && (cal.is_working_day(local_date(t)) || cal.working_days_between(local_date(t), due_day) > 0));
        }
    }

    #[test]
    fn prop_local_day_bounds(t in instant_strategy(), day in date()) {
        prop_assert_eq!(local_date(t), (t.naive_utc() + TimeDelta::hours(8)).date());
        prop_assert!(start_of_local_day(local_date(t)) <= t && t < end_of_local_day(local_date(t)));
        prop_assert_eq!(end_of_local_day(day) - start_of_local_day(day), TimeDelta::days(1));
        prop_assert_eq!(local_date(start_of_local_day(day)), day);
        prop_assert_eq!(local_date(end_of_local_day(day) - TimeDelta::seconds(1)), day);
    }

    #[test]
    fn prop_kind_agrees_with_is_working_day(random in random_calendar(), day in date()) {
        for cal in calendars(random) {
            let kind = cal.kind(day);
            prop_assert_eq!(cal.is_working_day(day), matches!(kind, DayKind::Working | DayKind::MakeUpWorkday));
            if kind == DayKind::Weekend || kind == DayKind::MakeUpWorkday {
                prop_assert!(is_weekend(day));
            }
        }
    }
}
