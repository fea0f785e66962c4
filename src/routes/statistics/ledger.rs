//! The ledger download (台账): every message of a period with its handling state.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use validator::Validate;

use super::{Filters, resolve};
use crate::auth::Principal;
use crate::db::Db;
use crate::domain::ids::{CategoryId, LeaderId, UnitId};
use crate::domain::message::{MessageKind, Priority};
use crate::domain::role::Role;
use crate::domain::statistics::Dimension;
use crate::error::ApiError;
use crate::http::export::{self, Column, ExportFormat, ExportSlots, HeaderLanguage};
use crate::http::extract::ApiQuery;
use crate::store::statistics as store;

/// Filters of a ledger download.
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    /// First submission day (local date; default 1 January of this year).
    pub from: Option<NaiveDate>,
    /// Last submission day (local date; default today).
    pub to: Option<NaiveDate>,
    /// Messages in this region or below it.
    #[param(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "crate::http::validate::validate_region_code"))]
    pub region_code: Option<String>,
    /// Messages whose lead unit this is.
    pub unit_id: Option<UnitId>,
    pub leader_id: Option<LeaderId>,
    pub category_id: Option<CategoryId>,
    #[param(inline)]
    pub kind: Option<MessageKind>,
    #[param(inline)]
    pub priority: Option<Priority>,
    #[param(inline)]
    pub status: Option<crate::domain::message::MessageStatus>,
    /// `csv` (default) or `xlsx`; `Accept` works too.
    #[param(inline)]
    pub format: Option<ExportFormat>,
    /// Column headers: field names (`en`, default) or Chinese (`zh`).
    #[param(inline)]
    pub headers: Option<HeaderLanguage>,
}

const LEDGER_COLUMNS: &[Column] = &[
    Column {
        en: "tracking_no",
        zh: "编号",
    },
    Column {
        en: "submitted_at",
        zh: "留言时间",
    },
    Column {
        en: "title",
        zh: "标题",
    },
    Column {
        en: "kind",
        zh: "类型",
    },
    Column {
        en: "category",
        zh: "类别",
    },
    Column {
        en: "region",
        zh: "地区",
    },
    Column {
        en: "leader",
        zh: "留言对象",
    },
    Column {
        en: "status",
        zh: "状态",
    },
    Column {
        en: "priority",
        zh: "重要程度",
    },
    Column {
        en: "unit",
        zh: "承办单位",
    },
    Column {
        en: "accepted_at",
        zh: "受理时间",
    },
    Column {
        en: "replied_at",
        zh: "回复时间",
    },
    Column {
        en: "handling_days",
        zh: "办理工作日",
    },
    Column {
        en: "on_time",
        zh: "按时回复",
    },
    Column {
        en: "rating",
        zh: "群众评价",
    },
    Column {
        en: "reopen_count",
        zh: "重办次数",
    },
    Column {
        en: "visibility",
        zh: "公开",
    },
];

/// Rows per ledger page read from the database.
const LEDGER_PAGE: i64 = 5_000;

/// Download the ledger (台账): every message submitted in the period that matches the filters,
/// with its handling state, oldest first, as CSV (default) or XLSX. Streamed: a year of a city
/// comes in pages without being held in memory. No author or contact data.
///
/// The rows the access model lets the caller read: unit staff (liaison offices too) the messages
/// their unit runs intake for or handles as lead unit; supervisors, analysts and leaders their
/// region subtree. (The statistics of a liaison office cover its territory: figures, no rows.)
#[utoipa::path(
    operation_id = "export_ledger",
    tag = "statistics",
    params(LedgerQuery),
    responses((status = 200, description = "The ledger as a download", content(
        (crate::http::export::CsvFile = "text/csv"),
        (crate::http::export::XlsxFile = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    )))
)]
#[get("/ledger")]
pub async fn export_ledger(
    req: HttpRequest,
    db: web::Data<Db>,
    exports: web::Data<ExportSlots>,
    principal: Principal,
    query: ApiQuery<LedgerQuery>,
) -> Result<HttpResponse, ApiError> {
    let now = crate::http::now(&req);
    let q = query.0;
    let format = match export::negotiate(&req, q.format, ExportFormat::Csv) {
        ExportFormat::Json => ExportFormat::Csv,
        f => f,
    };
    let lang = q.headers.unwrap_or(HeaderLanguage::En);
    let filters = Filters {
        from: q.from,
        to: q.to,
        region_code: q.region_code.clone(),
        unit_id: q.unit_id,
        leader_id: q.leader_id,
        category_id: q.category_id,
        kind: q.kind,
        priority: q.priority,
    };
    let status = q.status;
    let name = format!(
        "ledger-{}",
        crate::domain::calendar::local_date(now).format("%Y%m%d")
    );
    export::respond(
        &db,
        &exports,
        format,
        lang,
        LEDGER_COLUMNS.to_vec(),
        &name,
        move |conn, sink| {
            use crate::store::ledger::{self, LedgerFilter, LedgerScope};
            let r = resolve(conn, &principal, filters, None, now)?;
            // Rows are what the access model lets the caller read: unit staff (a liaison
            // office too) the messages their unit runs intake for or handles; the region roles
            // their subtree (the filter below).
            let rows_scope = match (principal.role, principal.unit_id) {
                (Role::Handler | Role::UnitAdmin | Role::Reviewer, Some(u)) => {
                    LedgerScope::Unit(u.0)
                }
                _ => LedgerScope::All,
            };
            let start = crate::domain::calendar::start_of_local_day(r.scope.from);
            let end = r
                .scope
                .to
                .succ_opt()
                .map(crate::domain::calendar::start_of_local_day);
            let filter = LedgerFilter {
                from: Some(start),
                to: end,
                region_path: r.base_path.clone().filter(|_| r.query.regions.is_some()),
                unit: r.query.unit,
                leader: r.query.leader,
                category: r.query.category,
                kind: r.query.kind.clone(),
                priority: r.query.priority.clone(),
                statuses: status.map(|s| vec![s.as_str().to_owned()]),
            };
            let units = store::group_names(conn, Dimension::Unit)?;
            let categories = store::group_names(conn, Dimension::Category)?;
            let regions = store::group_names(conn, Dimension::Region)?;
            let leaders = store::group_names(conn, Dimension::Leader)?;
            let name_of =
                |map: &HashMap<String, String>, id: String| map.get(&id).cloned().unwrap_or(id);
            let mut after = None;
            loop {
                let rows = ledger::page(conn, &rows_scope, &filter, after, LEDGER_PAGE)?;
                let last = rows.last().map(|r| (r.submitted_at, r.id));
                for m in rows {
                    let local = |t: DateTime<Utc>| {
                        t.with_timezone(&crate::domain::calendar::shanghai())
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
                    };
                    sink(vec![
                        m.tracking_no.into(),
                        local(m.submitted_at).into(),
                        m.title.into(),
                        m.kind.into(),
                        name_of(&categories, m.category_id.to_string()).into(),
                        name_of(&regions, m.region_code).into(),
                        name_of(&leaders, m.leader_id.to_string()).into(),
                        m.status.into(),
                        m.priority.into(),
                        m.unit_id.map(|u| name_of(&units, u.to_string())).into(),
                        m.accepted_at.map(local).into(),
                        m.replied_at.map(local).into(),
                        m.handling_days.into(),
                        m.reply_on_time
                            .map(|b| if b { "true" } else { "false" }.to_owned())
                            .into(),
                        m.rating.into(),
                        m.reopen_count.into(),
                        m.visibility.into(),
                    ])?;
                }
                match last {
                    Some(l) => after = Some(l),
                    None => break,
                }
            }
            Ok(())
        },
    )
    .await
}
