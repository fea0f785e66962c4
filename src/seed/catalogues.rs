//! The demo catalogues: the 2026 working-day calendar, a few dispatch rules and alert rules.

use diesel::prelude::*;

use super::{demo_id, unit_id};
use crate::domain::ids::CategoryId;
use crate::domain::ids::UserId;
use crate::schema::regions;

// ---------------------------------------------------------------------------------------------
// Handling catalogues: the 2026 working-day calendar and a few dispatch rules.

/// Demo dispatch rules: (key, region, category code, keywords, unit, basis).
pub type DemoDispatchRule = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static [&'static str],
    &'static str,
    &'static str,
);

pub const DISPATCH_RULES: &[DemoDispatchRule] = &[
    (
        "province-transport",
        "620000",
        Some("transport"),
        &[],
        "甘肃省交通运输厅",
        "《中华人民共和国公路法》第八条",
    ),
    (
        "lanzhou-transport",
        "620100",
        Some("transport"),
        &[],
        "兰州市交通运输局",
        "《兰州市城市道路管理条例》第五条",
    ),
    (
        "chengguan-roads",
        "620102",
        Some("transport"),
        &["红绿灯", "信号灯", "路口", "道路"],
        "兰州市城关区人民政府",
        "《兰州市城市道路管理条例》第五条（城关区辖区内的道路及其附属设施）",
    ),
    (
        "chengguan-general",
        "620102",
        None,
        &[],
        "兰州市城关区人民政府",
        "属地管理：城关区辖区内的事项由城关区人民政府牵头办理",
    ),
    (
        "lanzhou-heating",
        "620100",
        Some("urban_construction"),
        &["供暖", "供热", "暖气"],
        "兰州市住房和城乡建设局",
        "兰州市住房和城乡建设局职能：负责全市城市供热行业监督管理",
    ),
    (
        "province-education",
        "620000",
        Some("education"),
        &[],
        "甘肃省教育厅",
        "《中华人民共和国教育法》第十五条",
    ),
    (
        "province-wages",
        "620000",
        Some("employment_wages"),
        &["欠薪", "拖欠", "工资"],
        "甘肃省人力资源和社会保障厅",
        "《保障农民工工资支付条例》第七条",
    ),
];

/// The calendar rows that differ from the week (rest days on Monday–Friday, working days on
/// weekends) and the dispatch rules. Existing rows are left alone.
pub(super) fn seed_handling_catalogues(conn: &mut PgConnection) -> anyhow::Result<()> {
    use chrono::{Datelike, NaiveDate, Weekday};

    use crate::schema::{calendar_days, categories, dispatch_rules};

    // The demo calendar (`domain::calendar`), stored as the days that differ from the week:
    // rest days on Monday–Friday and make-up working days on weekends.
    let weekend = |d: NaiveDate| matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
    let days: Vec<(NaiveDate, bool, &str)> = crate::domain::calendar::china_2026_demo_named()
        .into_iter()
        .filter(|(o, _)| o.working == weekend(o.date))
        .map(|(o, name)| (o.date, o.working, name))
        .collect();
    for (day, working, note) in days {
        diesel::insert_into(calendar_days::table)
            .values((
                calendar_days::day.eq(day),
                calendar_days::working.eq(working),
                calendar_days::note.eq(note),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
    }
    for (key, region, category, keywords, unit, basis) in DISPATCH_RULES {
        let path: String = regions::table
            .find(region)
            .select(regions::path)
            .first(conn)?;
        let category_id: Option<CategoryId> = match category {
            Some(code) => Some(
                categories::table
                    .filter(categories::code.eq(code))
                    .select(categories::id)
                    .first(conn)?,
            ),
            None => None,
        };
        diesel::insert_into(dispatch_rules::table)
            .values((
                dispatch_rules::id.eq(demo_id("dispatch_rule", key)),
                dispatch_rules::region_code.eq(region),
                dispatch_rules::region_path.eq(path),
                dispatch_rules::category_id.eq(category_id),
                dispatch_rules::keywords
                    .eq(keywords.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>()),
                dispatch_rules::unit_id.eq(unit_id(unit)),
                dispatch_rules::basis.eq(basis),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Early warning: a few alert rules.

/// A demo alert rule (ids derive from `key`).
pub struct DemoAlertRule {
    pub key: &'static str,
    pub name: &'static str,
    pub kind: crate::domain::alerts::AlertRuleKind,
    pub keywords: &'static [&'static str],
    /// Category code.
    pub category: Option<&'static str>,
    pub region: Option<&'static str>,
    /// threshold, window hours (spike) or days (repeat)
    pub threshold: Option<(i32, i32)>,
    pub repeat_by: Option<crate::domain::alerts::RepeatBy>,
    pub active: bool,
}

pub const ALERT_RULES: &[DemoAlertRule] = &[
    DemoAlertRule {
        key: "collective-petition",
        name: "集体上访预警",
        kind: crate::domain::alerts::AlertRuleKind::Keyword,
        keywords: &["集体上访", "联名上访", "群体性事件"],
        category: None,
        region: Some("620000"),
        threshold: None,
        repeat_by: None,
        active: true,
    },
    DemoAlertRule {
        key: "safety-accident",
        name: "安全事故预警",
        kind: crate::domain::alerts::AlertRuleKind::Keyword,
        keywords: &["安全事故", "爆炸", "坍塌", "人员伤亡"],
        category: None,
        region: Some("620000"),
        threshold: None,
        repeat_by: None,
        active: true,
    },
    DemoAlertRule {
        key: "wage-arrears",
        name: "拖欠工资预警",
        kind: crate::domain::alerts::AlertRuleKind::Keyword,
        keywords: &["拖欠工资", "欠薪", "讨薪"],
        category: None,
        region: Some("620000"),
        threshold: None,
        repeat_by: None,
        active: true,
    },
    // Twenty transport messages in Lanzhou within a day, twice the usual day's.
    DemoAlertRule {
        key: "lanzhou-transport-spike",
        name: "兰州市交通出行留言激增",
        kind: crate::domain::alerts::AlertRuleKind::Spike,
        keywords: &[],
        category: Some("transport"),
        region: Some("620100"),
        threshold: Some((20, 24)),
        repeat_by: None,
        active: true,
    },
    // An example to switch on: three messages from one address within 30 days.
    DemoAlertRule {
        key: "same-address",
        name: "同一地址重复来信",
        kind: crate::domain::alerts::AlertRuleKind::Repeat,
        keywords: &[],
        category: None,
        region: None,
        threshold: Some((3, 30)),
        repeat_by: Some(crate::domain::alerts::RepeatBy::Address),
        active: false,
    },
];

/// The demo alert rules; existing ones are left alone.
pub(super) fn seed_alert_rules(conn: &mut PgConnection) -> anyhow::Result<()> {
    use crate::domain::alerts::{AlertRuleKind, DEFAULT_BASELINE_DAYS, DEFAULT_BASELINE_FACTOR};
    use crate::schema::{alert_rules as ar, categories};
    let admin = UserId(demo_id("user", "admin@liuyan.example"));
    let now = chrono::Utc::now();
    for r in ALERT_RULES {
        let region_path: Option<String> = match r.region {
            Some(code) => Some(
                regions::table
                    .find(code)
                    .select(regions::path)
                    .first(conn)?,
            ),
            None => None,
        };
        let category_id: Option<CategoryId> = match r.category {
            Some(code) => Some(
                categories::table
                    .filter(categories::code.eq(code))
                    .select(categories::id)
                    .first(conn)?,
            ),
            None => None,
        };
        let spike = r.kind == AlertRuleKind::Spike;
        let repeat = r.kind == AlertRuleKind::Repeat;
        diesel::insert_into(ar::table)
            .values((
                ar::id.eq(demo_id("alert_rule", r.key)),
                ar::name.eq(r.name),
                ar::kind.eq(r.kind),
                ar::keywords.eq(r
                    .keywords
                    .iter()
                    .map(|k| (*k).to_owned())
                    .collect::<Vec<_>>()),
                ar::category_id.eq(category_id),
                ar::region_code.eq(r.region),
                ar::region_path.eq(region_path),
                ar::threshold.eq(r.threshold.map(|t| t.0)),
                ar::window_hours.eq(r.threshold.filter(|_| spike).map(|t| t.1)),
                ar::baseline_days.eq(spike.then_some(DEFAULT_BASELINE_DAYS)),
                ar::baseline_factor.eq(spike.then_some(DEFAULT_BASELINE_FACTOR)),
                ar::repeat_by.eq(r.repeat_by),
                ar::window_days.eq(r.threshold.filter(|_| repeat).map(|t| t.1)),
                ar::active.eq(r.active),
                ar::created_by.eq(Some(admin)),
                ar::created_at.eq(now),
                ar::updated_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
    }
    Ok(())
}
