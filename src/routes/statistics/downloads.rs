//! The downloads of the statistics (CSV/XLSX): the figure columns every table shares.

use actix_web::HttpResponse;

use super::StatFigures;
use crate::db::Db;
use crate::error::ApiError;
use crate::http::export::{self, Cell, Column, ExportFormat, ExportSlots, HeaderLanguage};

pub(super) const FIGURE_COLUMNS: &[Column] = &[
    Column {
        en: "received",
        zh: "收到",
    },
    Column {
        en: "accepted",
        zh: "受理",
    },
    Column {
        en: "rejected",
        zh: "不予受理",
    },
    Column {
        en: "withdrawn",
        zh: "撤回",
    },
    Column {
        en: "assigned",
        zh: "已交办",
    },
    Column {
        en: "replied",
        zh: "已回复",
    },
    Column {
        en: "pending",
        zh: "待办",
    },
    Column {
        en: "overdue",
        zh: "超期",
    },
    Column {
        en: "judged",
        zh: "已评定时限",
    },
    Column {
        en: "on_time",
        zh: "按时回复",
    },
    Column {
        en: "rated",
        zh: "已评价",
    },
    Column {
        en: "satisfied",
        zh: "满意",
    },
    Column {
        en: "basically_satisfied",
        zh: "基本满意",
    },
    Column {
        en: "unsatisfied",
        zh: "不满意",
    },
    Column {
        en: "reopened",
        zh: "重办",
    },
    Column {
        en: "visited",
        zh: "已回访",
    },
    Column {
        en: "verified",
        zh: "回访核实解决",
    },
    Column {
        en: "reply_rate",
        zh: "回复率",
    },
    Column {
        en: "reply_rate_ci_low",
        zh: "回复率下限",
    },
    Column {
        en: "reply_rate_ci_high",
        zh: "回复率上限",
    },
    Column {
        en: "on_time_rate",
        zh: "按时回复率",
    },
    Column {
        en: "on_time_rate_ci_low",
        zh: "按时回复率下限",
    },
    Column {
        en: "on_time_rate_ci_high",
        zh: "按时回复率上限",
    },
    Column {
        en: "satisfaction_rate",
        zh: "满意率",
    },
    Column {
        en: "satisfaction_rate_ci_low",
        zh: "满意率下限",
    },
    Column {
        en: "satisfaction_rate_ci_high",
        zh: "满意率上限",
    },
    Column {
        en: "verification_rate",
        zh: "回访核实率",
    },
    Column {
        en: "verification_rate_ci_low",
        zh: "回访核实率下限",
    },
    Column {
        en: "verification_rate_ci_high",
        zh: "回访核实率上限",
    },
    Column {
        en: "reopen_rate",
        zh: "重办率",
    },
    Column {
        en: "reopen_rate_ci_low",
        zh: "重办率下限",
    },
    Column {
        en: "reopen_rate_ci_high",
        zh: "重办率上限",
    },
    Column {
        en: "handling_days_answered",
        zh: "计时件数",
    },
    Column {
        en: "handling_days_median",
        zh: "办理天数中位数",
    },
    Column {
        en: "handling_days_p90",
        zh: "办理天数90分位",
    },
];

pub(super) fn figure_cells(f: &StatFigures) -> Vec<Cell> {
    let mut cells: Vec<Cell> = [
        f.received,
        f.accepted,
        f.rejected,
        f.withdrawn,
        f.assigned,
        f.replied,
        f.pending,
        f.overdue,
        f.judged,
        f.on_time,
        f.rated,
        f.satisfied,
        f.basically_satisfied,
        f.unsatisfied,
        f.reopened,
        f.visited,
        f.verified,
    ]
    .into_iter()
    .map(Cell::from)
    .collect();
    for r in [
        &f.reply_rate,
        &f.on_time_rate,
        &f.satisfaction_rate,
        &f.verification_rate,
        &f.reopen_rate,
    ] {
        cells.extend([r.value.into(), r.ci_low.into(), r.ci_high.into()]);
    }
    cells.extend([
        f.handling_days.answered.into(),
        f.handling_days.median.into(),
        f.handling_days.p90.into(),
    ]);
    cells
}

/// Sends prepared rows as a download.
pub(super) async fn download(
    db: &Db,
    exports: &ExportSlots,
    format: ExportFormat,
    lang: HeaderLanguage,
    columns: Vec<Column>,
    filename: &str,
    rows: Vec<Vec<Cell>>,
) -> Result<HttpResponse, ApiError> {
    export::respond(
        db,
        exports,
        format,
        lang,
        columns,
        filename,
        move |_, sink| {
            for r in rows {
                sink(r)?;
            }
            Ok(())
        },
    )
    .await
}
