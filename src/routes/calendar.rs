//! The working-day calendar: overrides of the Monday–Friday week (public holidays, make-up
//! working days). Staff read it; admins change it.

use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::auth::Principal;
use crate::db::Db;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::store::calendar::{self, CalendarDay, DayOverride};

/// Dates the calendar accepts.
const FIRST_YEAR: i32 = 2000;
const LAST_YEAR: i32 = 2100;
/// The longest range one list request may cover.
const MAX_SPAN_MONTHS: u32 = 36;
/// Asia/Shanghai is UTC+8 all year (no daylight saving since 1991).
const SHANGHAI_OFFSET_HOURS: i64 = 8;

/// What an overridden day is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CalendarDayKind {
    /// A Monday–Friday made a rest day (a public holiday).
    Holiday,
    /// A Saturday or Sunday made a working day (调休).
    MakeUpWorkday,
    /// A Monday–Friday explicitly marked working (same as the default week).
    Working,
    /// A Saturday or Sunday explicitly marked rest (same as the default week).
    Weekend,
}

impl CalendarDayKind {
    pub fn of(day: NaiveDate, working: bool) -> Self {
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        match (working, weekend) {
            (false, false) => CalendarDayKind::Holiday,
            (false, true) => CalendarDayKind::Weekend,
            (true, true) => CalendarDayKind::MakeUpWorkday,
            (true, false) => CalendarDayKind::Working,
        }
    }
}

/// A day that differs from the Monday–Friday week (Asia/Shanghai).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "day": "2026-10-01", "working": false, "kind": "holiday", "note": "国庆节",
    "updated_at": "2026-11-26T08:00:00Z"
}))]
pub struct CalendarDayDto {
    /// The local date (Asia/Shanghai).
    pub day: NaiveDate,
    /// Whether the day is a working day.
    pub working: bool,
    pub kind: CalendarDayKind,
    #[schema(max_length = 100)]
    pub note: String,
    pub updated_at: DateTime<Utc>,
}

impl From<CalendarDay> for CalendarDayDto {
    fn from(d: CalendarDay) -> Self {
        CalendarDayDto {
            kind: CalendarDayKind::of(d.day, d.working),
            day: d.day,
            working: d.working,
            note: d.note,
            updated_at: d.updated_at,
        }
    }
}

/// The overrides in a range of dates. Days not listed follow the week: Monday–Friday working,
/// Saturday and Sunday rest.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "from": "2026-01-01", "to": "2026-12-31",
    "items": [
        {"day": "2026-01-01", "working": false, "kind": "holiday", "note": "元旦", "updated_at": "2026-11-26T08:00:00Z"},
        {"day": "2026-01-04", "working": true, "kind": "make_up_workday", "note": "元旦调休上班", "updated_at": "2026-11-26T08:00:00Z"}
    ]
}))]
pub struct CalendarDays {
    /// First day of the range (included).
    pub from: NaiveDate,
    /// Last day of the range (included).
    pub to: NaiveDate,
    /// Every override in the range, by day.
    #[schema(max_items = 1100)]
    pub items: Vec<CalendarDayDto>,
}

/// A day's override.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"working": false, "note": "国庆节"}))]
pub struct PutCalendarDay {
    /// `false`: a rest day; `true`: a working day.
    pub working: bool,
    /// Why (e.g. the holiday's name).
    #[schema(max_length = 100, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    #[validate(length(max = 100), custom(function = "crate::domain::validate_line"))]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListCalendarDaysQuery {
    /// First day (YYYY-MM-DD, included); default: 1 January of `to`'s year, or of the current
    /// year (Asia/Shanghai) without `to`.
    #[param(format = Date, min_length = 10, max_length = 10, pattern = r"^((20[0-9]{2}|2100)-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))|20([02468][048]|[13579][26])-02-29)$")]
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD, included), at most three years after `from`; default: 31 December
    /// of `from`'s year, or of the current year without `from`.
    #[param(format = Date, min_length = 10, max_length = 10, pattern = r"^((20[0-9]{2}|2100)-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))|20([02468][048]|[13579][26])-02-29)$")]
    pub to: Option<String>,
}

/// A calendar date `YYYY-MM-DD` from 2000 to 2100; 422 naming `field` otherwise.
pub fn parse_day(raw: &str, field: &str) -> Result<NaiveDate, ApiError> {
    let shaped = raw.len() == 10
        && raw.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let day = shaped
        .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| ApiError::field(field, "format", "must be a date YYYY-MM-DD"))?;
    if !(FIRST_YEAR..=LAST_YEAR).contains(&day.year()) {
        return Err(ApiError::field(
            field,
            "range",
            format!("must lie in the years {FIRST_YEAR} to {LAST_YEAR}"),
        ));
    }
    Ok(day)
}

fn first_day(year: i32) -> Result<NaiveDate, ApiError> {
    NaiveDate::from_ymd_opt(year, 1, 1)
        .ok_or_else(|| ApiError::Internal(format!("the year {year} has no calendar")))
}

fn last_day(year: i32) -> Result<NaiveDate, ApiError> {
    NaiveDate::from_ymd_opt(year, 12, 31)
        .ok_or_else(|| ApiError::Internal(format!("the year {year} has no calendar")))
}

/// The range a list covers. A missing end is the other end's year's first or last day; with
/// neither, the current year (Asia/Shanghai).
fn list_range(
    q: &ListCalendarDaysQuery,
    now: DateTime<Utc>,
) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let from = q
        .from
        .as_deref()
        .map(|f| parse_day(f, "from"))
        .transpose()?;
    let to = q.to.as_deref().map(|t| parse_day(t, "to")).transpose()?;
    let year_of = |end: Option<NaiveDate>| match end {
        Some(d) => d.year(),
        None => (now + chrono::Duration::hours(SHANGHAI_OFFSET_HOURS)).year(),
    };
    let from = match from {
        Some(d) => d,
        None => first_day(year_of(to))?,
    };
    let to = match to {
        Some(d) => d,
        None => last_day(year_of(Some(from)))?,
    };
    if to < from {
        return Err(ApiError::field("to", "range", "must not be before `from`"));
    }
    let limit = from.checked_add_months(Months::new(MAX_SPAN_MONTHS));
    if limit.is_none_or(|limit| to > limit) {
        return Err(ApiError::field(
            "to",
            "range",
            "the range may span at most three years",
        ));
    }
    Ok((from, to))
}

/// List the calendar's overrides in a range of dates (at most three years; a missing end
/// defaults to the first or last day of the other end's year, and with neither the range is the
/// current year in Asia/Shanghai), ordered by day. Days not listed follow the week: Monday–Friday
/// working, Saturday and Sunday rest.
#[utoipa::path(
    operation_id = "list_calendar_days",
    tag = "handling catalogues",
    params(ListCalendarDaysQuery),
    responses((status = 200, description = "The overrides in the range", body = CalendarDays))
)]
#[get("/calendar/days")]
pub async fn list_calendar_days(
    req: HttpRequest,
    db: web::Data<Db>,
    _principal: Principal,
    query: ApiQuery<ListCalendarDaysQuery>,
) -> Result<HttpResponse, ApiError> {
    let (from, to) = list_range(&query.0, crate::http::now(&req))?;
    let rows = db.run(move |conn| calendar::list(conn, from, to)).await?;
    Ok(HttpResponse::Ok().json(CalendarDays {
        from,
        to,
        items: rows.into_iter().map(CalendarDayDto::from).collect(),
    }))
}

/// Set a day's override (creates or replaces it): a rest day (`working: false`, e.g. a public
/// holiday) or a working day (`working: true`, e.g. a make-up day on a weekend). Open deadlines
/// follow the new calendar.
#[utoipa::path(
    operation_id = "put_calendar_day",
    tag = "handling catalogues",
    params(("day" = String, Path, format = Date, min_length = 10, max_length = 10,
        pattern = r"^((20[0-9]{2}|2100)-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))|20([02468][048]|[13579][26])-02-29)$", description = "The date, YYYY-MM-DD (2000 to 2100)")),
    request_body = PutCalendarDay,
    responses(
        (status = 200, description = "The override was replaced", body = CalendarDayDto),
        (status = 201, description = "The override was created", body = CalendarDayDto),
        (status = 404, description = "No such path (e.g. an empty date segment)",
            body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[put("/calendar/days/{day}")]
pub async fn put_calendar_day(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    day: web::Path<String>,
    body: ApiJson<PutCalendarDay>,
) -> Result<HttpResponse, ApiError> {
    let day = parse_day(&day, "day")?;
    let body = body.into_inner();
    let new = DayOverride {
        day,
        working: body.working,
        note: body.note.unwrap_or_default().trim().to_owned(),
        updated_by: Some(principal.user_id),
        updated_at: crate::http::now(&req),
    };
    let (stored, created) = db
        .run(move |conn| crate::app::deadlines::put_calendar_day(conn, &new))
        .await?;
    let mut resp = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(resp.json(CalendarDayDto::from(stored)))
}

/// Remove a day's override: the day follows the week again. Open deadlines follow the new
/// calendar.
#[utoipa::path(
    operation_id = "delete_calendar_day",
    tag = "handling catalogues",
    params(("day" = String, Path, format = Date, min_length = 10, max_length = 10,
        pattern = r"^((20[0-9]{2}|2100)-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))|20([02468][048]|[13579][26])-02-29)$", description = "The date, YYYY-MM-DD (2000 to 2100)")),
    responses(
        (status = 204, description = "The override was removed"),
        (status = 404, description = "The day has no override", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[delete("/calendar/days/{day}")]
pub async fn delete_calendar_day(
    db: web::Data<Db>,
    _principal: Principal,
    day: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let day = parse_day(&day, "day")?;
    db.run(move |conn| crate::app::deadlines::delete_calendar_day(conn, day))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn days_parse_strictly() {
        assert_eq!(parse_day("2026-10-01", "day").unwrap(), d("2026-10-01"));
        for bad in [
            "2026-1-01",
            "2026-02-30",
            "20261001",
            " 2026-10-01",
            "2026-10-01x",
            "１２３",
        ] {
            assert!(parse_day(bad, "day").is_err(), "{bad}");
        }
        assert!(parse_day("1999-12-31", "day").is_err());
        assert!(parse_day("2101-01-01", "day").is_err());
        assert!(parse_day("2100-12-31", "day").is_ok());
    }

    #[test]
    fn kinds_follow_the_weekday() {
        assert_eq!(
            CalendarDayKind::of(d("2026-10-01"), false),
            CalendarDayKind::Holiday
        );
        assert_eq!(
            CalendarDayKind::of(d("2026-10-10"), true),
            CalendarDayKind::MakeUpWorkday
        );
        assert_eq!(
            CalendarDayKind::of(d("2026-10-03"), false),
            CalendarDayKind::Weekend
        );
        assert_eq!(
            CalendarDayKind::of(d("2026-10-09"), true),
            CalendarDayKind::Working
        );
    }

    #[test]
    fn ranges_default_to_the_shanghai_year_and_span_at_most_three_years() {
        let q = |from: Option<&str>, to: Option<&str>| ListCalendarDaysQuery {
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
        };
        // 2026-12-31 17:00 UTC is already 2027 in Shanghai.
        let now = DateTime::parse_from_rfc3339("2026-12-31T17:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            list_range(&q(None, None), now).unwrap(),
            (d("2027-01-01"), d("2027-12-31"))
        );
        assert!(list_range(&q(Some("2026-01-01"), Some("2029-01-01")), now).is_ok());
        assert!(list_range(&q(Some("2026-01-01"), Some("2029-01-02")), now).is_err());
        assert!(list_range(&q(Some("2026-01-02"), Some("2026-01-01")), now).is_err());
        assert_eq!(
            list_range(&q(Some("2026-03-02"), None), now).unwrap(),
            (d("2026-03-02"), d("2026-12-31"))
        );
        assert_eq!(
            list_range(&q(None, Some("2028-02-01")), now).unwrap(),
            (d("2028-01-01"), d("2028-02-01"))
        );
    }
}
