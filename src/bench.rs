//! `liuyan seed-bench --messages N`: realistic synthetic load for benchmarks. Messages with
//! Chinese titles and bodies of varied length, spread over a year, the regions and leaders of
//! the demo province, every intake status, and a valid hash-chained ledger, written with
//! `COPY` by two connections in parallel. Secondary indexes are dropped during the load and
//! rebuilt from their own definitions afterwards (far faster than maintaining them row by row).

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use diesel::pg::CopyFormat;
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::domain::ledger::{self, EventContent, GENESIS};
use crate::domain::search::bigrams;
use crate::schema::{message_events as ev, messages as m, users};

const STREETS: &[&str] = &[
    "庆阳路",
    "酒泉路",
    "张掖路",
    "中山路",
    "南滨河路",
    "北滨河路",
    "东岗西路",
    "雁滩路",
    "西津西路",
    "建兰路",
    "敦煌路",
    "民主东路",
    "平凉路",
    "天水南路",
    "盘旋路",
    "安宁西路",
    "万新路",
    "北环路",
    "西固中路",
    "福利路",
    "秦州大道",
    "麦积大道",
    "藉河南路",
    "民主西路",
    "肃州路",
    "玉门路",
    "鸣沙路",
    "阳关大道",
    "七里河北街",
    "龚家湾",
];
const PLACES: &[&str] = &[
    "小区",
    "路口",
    "菜市场",
    "学校门口",
    "公交站",
    "医院附近",
    "老旧小区",
    "工地",
    "商业街",
    "地下通道",
    "农贸市场",
    "社区",
    "村口",
    "幼儿园",
    "停车场",
];
const ISSUES: &[(&str, &str)] = &[
    (
        "红绿灯坏了",
        "交通信号灯已经好几天不亮了，早晚高峰车辆拥堵，行人过马路非常危险",
    ),
    (
        "路灯不亮",
        "晚上整条路黑漆漆的，老人孩子出行很不安全，希望尽快修复",
    ),
    (
        "供暖温度不达标",
        "室内温度只有十五度左右，家里有老人孩子，多次联系物业没有解决",
    ),
    (
        "拖欠农民工工资",
        "工程完工半年了工资一直没有结清，工人们过年回家的路费都没有",
    ),
    (
        "夜间施工噪音扰民",
        "每天晚上十一点以后还在施工，噪音很大，影响周边居民休息",
    ),
    (
        "垃圾清运不及时",
        "垃圾桶满了好几天没人清理，气味很大，夏天蚊蝇滋生",
    ),
    (
        "公交班次太少",
        "高峰期等车要半个小时以上，车上非常拥挤，建议加密班次",
    ),
    (
        "道路坑洼积水",
        "路面坑坑洼洼，一下雨就积水，车辆经过溅人一身水",
    ),
    ("违规占道经营", "商贩长期占用人行道摆摊，行人只能走机动车道"),
    ("物业乱收费", "物业公司擅自提高收费标准，也没有公示收费依据"),
    (
        "学区划分咨询",
        "想咨询今年的学区划分政策，孩子入学需要准备哪些材料",
    ),
    ("医保报销咨询", "异地就医的医保报销比例和办理流程是怎样的"),
    ("下水道堵塞", "下水道经常堵塞返味，一楼住户家里都进了污水"),
    ("违章建筑", "有人在小区绿地上私搭乱建，多次举报没有处理"),
    ("自来水水质发黄", "最近自来水颜色发黄有异味，不敢直接饮用"),
    ("停车难", "小区周边车位严重不足，车辆乱停乱放堵塞消防通道"),
    ("养老金发放咨询", "今年养老金调整后什么时候发放，标准是多少"),
    (
        "企业排放异味",
        "附近企业夜间排放刺鼻气味，开窗就能闻到，怀疑偷排",
    ),
    (
        "农村道路硬化",
        "村里的道路还是土路，下雨天泥泞难行，希望能硬化",
    ),
    ("电梯故障频繁", "小区电梯经常故障停运，已经发生过困人事件"),
];
const SENTENCES: &[&str] = &[
    "希望有关部门尽快调查处理。",
    "这个问题已经持续很长时间了。",
    "我们多次向社区反映，一直没有得到答复。",
    "周边居民对此意见很大。",
    "恳请领导重视，帮助协调解决。",
    "如需核实情况，可以随时联系我。",
    "附近还有一所小学，孩子们上下学经过这里。",
    "谢谢领导在百忙之中阅读我的留言。",
    "去年也出现过同样的情况，后来不了了之。",
    "建议加强日常巡查和管理。",
];

/// A leader, the unit running intake for them, and the regions (code, path) they cover.
type LeaderPool = (Uuid, Uuid, Vec<(String, String)>);

/// The reference data a load draws from.
struct Pools {
    leaders: Vec<LeaderPool>,
    categories: Vec<Uuid>,
    authors: Vec<Uuid>,
    admin: Uuid,
    /// Units by region code: candidates for assignment (territorial jurisdiction).
    units: Vec<(Uuid, String)>,
    /// Every unit's name (replies are published with it).
    unit_names: std::collections::HashMap<Uuid, String>,
    calendar: crate::domain::calendar::Calendar,
}

fn load_pools(conn: &mut PgConnection, authors: Vec<Uuid>) -> anyhow::Result<Pools> {
    use crate::schema::{categories, leaders, regions};
    let rows: Vec<(Uuid, Uuid, String)> = leaders::table
        .select((leaders::id, leaders::unit_id, leaders::region_code))
        .load(conn)?;
    let mut out = Vec::new();
    for (id, unit, region) in rows {
        let path: String = regions::table
            .find(&region)
            .select(regions::path)
            .first(conn)?;
        let inside: Vec<(String, String)> = regions::table
            .filter(regions::path.like(format!("{path}%")))
            .select((regions::code, regions::path))
            .load(conn)?;
        out.push((id, unit, inside));
    }
    let categories = categories::table.select(categories::id).load(conn)?;
    let admin: Uuid = users::table
        .filter(users::role.eq("admin"))
        .select(users::id)
        .first(conn)?;
    let units = crate::schema::units::table
        .filter(crate::schema::units::active.eq(true))
        .filter(crate::schema::units::kind.eq_any(["department", "district_government"]))
        .select((crate::schema::units::id, crate::schema::units::region_code))
        .load(conn)?;
    let unit_names = crate::schema::units::table
        .select((crate::schema::units::id, crate::schema::units::name))
        .load::<(Uuid, String)>(conn)?
        .into_iter()
        .collect();
    let today = crate::domain::calendar::local_date(Utc::now());
    let calendar = crate::store::deadlines::calendar(
        conn,
        today - Duration::days(800),
        today + Duration::days(800),
    )
    .map_err(|e| anyhow::anyhow!("calendar: {e}"))?;
    Ok(Pools {
        leaders: out,
        categories,
        authors,
        admin,
        units,
        unit_names,
        calendar,
    })
}

/// Make `n` citizen accounts (one shared password hash: creating 10,000 argon2 hashes is not
/// what is being measured).
fn bench_citizens(conn: &mut PgConnection, n: usize) -> anyhow::Result<Vec<Uuid>> {
    let existing: Vec<Uuid> = users::table
        .filter(users::email.like("bench-%@bench.liuyan.example"))
        .select(users::id)
        .load(conn)?;
    if existing.len() >= n {
        return Ok(existing);
    }
    let hash = crate::auth::password::hash_password("bench citizen password")?;
    let start = existing.len();
    let mut rows = Vec::new();
    for i in start..n {
        rows.push((
            users::id.eq(Uuid::now_v7()),
            users::email.eq(format!("bench-{i:06}@bench.liuyan.example")),
            users::password_hash.eq(hash.clone()),
            users::display_name.eq(format!("市民{i}")),
            users::role.eq("citizen"),
        ));
    }
    for chunk in rows.chunks(5_000) {
        diesel::insert_into(users::table)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(users::table
        .filter(users::email.like("bench-%@bench.liuyan.example"))
        .select(users::id)
        .load(conn)?)
}

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// COPY text rows for messages `[from, to)`.
fn generate(pools: &Pools, from: usize, to: usize, seed: u64, now: DateTime<Utc>) -> Generated {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut msgs = String::with_capacity((to - from) * 1400);
    let mut events = String::with_capacity((to - from) * 900);
    // Assignments and deadlines of the messages in handling.
    let mut handling = (String::new(), String::new());
    // Replies (with their one revision) and ratings of the answered messages.
    let mut answers = (String::new(), String::new(), String::new());
    for i in from..to {
        let (leader, intake_unit, regions) =
            &pools.leaders[rng.random_range(0..pools.leaders.len())];
        let (region, path) = &regions[rng.random_range(0..regions.len())];
        let street = STREETS[rng.random_range(0..STREETS.len())];
        let place = PLACES[rng.random_range(0..PLACES.len())];
        let (issue, detail) = ISSUES[rng.random_range(0..ISSUES.len())];
        let title = format!("{street}{place}{issue}");
        let mut body = format!("我家住在{street}附近，{place}{detail}。");
        for _ in 0..rng.random_range(0..8) {
            body.push_str(SENTENCES[rng.random_range(0..SENTENCES.len())]);
        }
        let category = pools.categories[rng.random_range(0..pools.categories.len())];
        let kind =
            ["consultation", "suggestion", "complaint", "help_request"][rng.random_range(0..4)];
        let author = pools.authors[rng.random_range(0..pools.authors.len())];
        let submitted =
            ledger::db_time(now - Duration::seconds(rng.random_range(60..365 * 86_400)));
        // A UUIDv7 layout: submission time in milliseconds, then the row number.
        let millis = u64::try_from(submitted.timestamp_millis()).unwrap_or(0);
        let id = Uuid::from_u64_pair(
            (millis << 16) | 0x7000 | (i as u64 & 0x0fff),
            0x8000_0000_0000_0000 | (i as u64 & 0x3fff_ffff_ffff_ffff),
        );
        let roll = rng.random_range(0..100);
        let (mut status, mut steps): (&str, Vec<&str>) = match roll {
            0..=14 => ("submitted", vec!["submit"]),
            15..=29 => ("accepted", vec!["submit", "classify", "accept"]),
            30..=44 => ("assigned", vec!["submit", "classify", "accept", "assign"]),
            45..=64 => (
                "in_progress",
                vec!["submit", "classify", "accept", "assign", "sign_for"],
            ),
            // Answered: the final reply is published; most are rated, and those whose rating
            // window has ended without an unsatisfied rating are closed (below).
            65..=74 => (
                "replied",
                vec![
                    "submit",
                    "classify",
                    "accept",
                    "assign",
                    "sign_for",
                    "publish_reply",
                ],
            ),
            75..=89 => ("rejected", vec!["submit", "reject"]),
            _ => ("withdrawn", vec!["submit", "withdraw"]),
        };
        let rating = (status == "replied" && rng.random_range(0..10) < 7).then(|| {
            match rng.random_range(0..20) {
                0..=11 => "satisfied",
                12..=16 => "basically_satisfied",
                _ => "unsatisfied",
            }
        });
        if rating.is_some() {
            steps.push("rate");
        }
        let reply_id = Uuid::now_v7();
        let feedback_id = Uuid::now_v7();
        // The lead unit: a department or district government whose region lies on the
        // message's region path (territorial jurisdiction), else the intake unit.
        let lead_unit = {
            let local: Vec<&(Uuid, String)> = pools
                .units
                .iter()
                .filter(|(_, code)| path.split('/').any(|c| c == code))
                .collect();
            if local.is_empty() {
                *intake_unit
            } else {
                local[rng.random_range(0..local.len())].0
            }
        };
        let assignment_id = Uuid::now_v7();
        let mut assigned_at = None;
        let mut signed_at = None;
        let priority = (status != "submitted" && steps.contains(&"accept")).then(|| {
            if rng.random_range(0..5) == 0 {
                "important"
            } else {
                "routine"
            }
        });
        let rejection = (status == "rejected").then(|| {
            [
                "out_of_scope",
                "insufficient_information",
                "abusive_content",
            ][rng.random_range(0..3)]
        });
        // The ledger.
        let mut head = GENESIS.to_vec();
        // Ledger events after the steps (deadline alarms), and the time of the last event.
        let mut alarms = 0usize;
        let mut last_at = submitted;
        let mut at = submitted;
        let mut accepted_at = None;
        let mut published_at = None;
        let mut feedback_until = None;
        let mut closed_at = None;
        let mut from_status: Option<&str> = None;
        let mut k = 0;
        while k < steps.len() {
            let step = steps[k];
            if k > 0 {
                at = ledger::db_time(at + Duration::minutes(rng.random_range(5..4 * 24 * 60)));
            }
            if step == "close" {
                // The scheduler closes it when the rating window ends.
                at = feedback_until.unwrap_or(at);
            }
            let (to_status, actor_role, actor, payload) = match step {
                "submit" => (
                    "submitted",
                    "citizen",
                    author,
                    serde_json::json!({"title": title, "kind": kind}),
                ),
                "classify" => (
                    "submitted",
                    "admin",
                    pools.admin,
                    serde_json::json!({"priority": priority, "tags": []}),
                ),
                "accept" => (
                    "accepted",
                    "admin",
                    pools.admin,
                    serde_json::json!({"note": null}),
                ),
                "assign" => (
                    "assigned",
                    "admin",
                    pools.admin,
                    serde_json::json!({"lead_assignment_id": assignment_id, "lead_unit_id": lead_unit}),
                ),
                "sign_for" => (
                    "in_progress",
                    "admin",
                    pools.admin,
                    serde_json::json!({"assignment_id": assignment_id, "unit_id": lead_unit}),
                ),
                "publish_reply" => (
                    "replied",
                    "reviewer",
                    pools.admin,
                    serde_json::json!({"reply_id": reply_id, "kind": "final", "revision": 1}),
                ),
                "rate" => (
                    "replied",
                    "citizen",
                    author,
                    serde_json::json!({"feedback_id": feedback_id, "reply_id": reply_id, "rating": rating}),
                ),
                "close" => (
                    "closed",
                    "system",
                    pools.admin,
                    serde_json::json!({"reason": "feedback_window_ended"}),
                ),
                "reject" => (
                    "rejected",
                    "admin",
                    pools.admin,
                    serde_json::json!({"reason": rejection, "note": "不予受理"}),
                ),
                _ => (
                    "withdrawn",
                    "citizen",
                    author,
                    serde_json::json!({"note": null}),
                ),
            };
            match step {
                "accept" => accepted_at = Some(at),
                "assign" => assigned_at = Some(at),
                "sign_for" => signed_at = Some(at),
                "publish_reply" => {
                    published_at = Some(at);
                    let until = ledger::db_time(at + Duration::days(15));
                    feedback_until = Some(until);
                    if until <= now && rating != Some("unsatisfied") {
                        steps.push("close");
                    }
                }
                "close" => {
                    closed_at = Some(at);
                    status = "closed";
                }
                _ => {}
            }
            head = event_line(
                &mut events,
                &head,
                Event {
                    message: id,
                    seq: k as i32 + 1,
                    actor: (actor_role != "system").then_some(actor),
                    role: actor_role,
                    action: step,
                    from: from_status,
                    to: to_status,
                    payload: &payload,
                    at,
                },
            );
            from_status = Some(to_status);
            k += 1;
        }
        if let Some(assigned) = assigned_at {
            let prio = priority.unwrap_or("routine");
            let reply_days = if prio == "important" { 5 } else { 15 };
            let policy = if prio == "important" {
                "00000000-0000-7000-8000-00000000d001"
            } else {
                "00000000-0000-7000-8000-00000000d002"
            };
            let (a_status, signed_by, signed) = match (signed_at, published_at) {
                (Some(t), Some(_)) => ("completed", pools.admin.to_string(), ts(t)),
                (Some(t), None) => ("signed_for", pools.admin.to_string(), ts(t)),
                _ => ("pending", "\\N".to_owned(), "\\N".to_owned()),
            };
            let _ = writeln!(
                handling.0,
                "{assignment_id}\t{id}\t{lead_unit}\tlead\tassigned\t{a_status}\t\t{}\t{}\t{signed_by}\t{signed}\t{}\t{intake_unit}\t{path}",
                pools.admin,
                ts(assigned),
                published_at.map(ts).unwrap_or_else(|| "\\N".into()),
            );
            let mut deadline = |kind: &str,
                                start: DateTime<Utc>,
                                days: u32,
                                seq: usize,
                                closed: Option<DateTime<Utc>>,
                                closed_by: &str|
             -> Option<(Uuid, DateTime<Utc>, DateTime<Utc>)> {
                let due = crate::domain::calendar::compute_due(
                    &pools.calendar,
                    &crate::domain::calendar::DeadlineInput {
                        started_at: start,
                        limit_days: days,
                        extension_days: 0,
                        pauses: Vec::new(),
                        due_soon_days: 1,
                    },
                )?;
                let (state, closed_at, closed_by) = match closed {
                    Some(c) if c <= due.due_at => ("met", ts(c), closed_by),
                    Some(c) => ("missed", ts(c), closed_by),
                    None => ("open", "\\N".to_owned(), "\\N"),
                };
                let start_action = if kind == "sign_for" {
                    "assign"
                } else {
                    "sign_for"
                };
                // A running system would have raised the alarms already due (the ledger events
                // follow below), so the scheduler has nothing to catch up on in a benchmark.
                let open = closed.is_none();
                let raised = |t: DateTime<Utc>| {
                    if open && t <= now {
                        ts(t)
                    } else {
                        "\\N".to_owned()
                    }
                };
                let deadline_id = Uuid::now_v7();
                let _ = writeln!(
                    handling.1,
                    "{deadline_id}\t{id}\t{assignment_id}\t{kind}\t{lead_unit}\t{intake_unit}\t{path}\t{leader}\t{prio}\t{policy}\t1\t{days}\t1\t{}\t{start_action}\t{seq}\t{}\t{}\t{state}\t{closed_at}\t{closed_by}\t{}\t{}",
                    ts(start),
                    ts(due.due_at),
                    ts(due.due_soon_at),
                    raised(due.due_soon_at),
                    raised(due.due_at),
                );
                open.then_some((deadline_id, due.due_soon_at, due.due_at))
            };
            let running = match signed_at {
                Some(signed) => {
                    deadline("sign_for", assigned, 1, 4, Some(signed), "sign_for");
                    deadline(
                        "reply",
                        signed,
                        reply_days,
                        5,
                        published_at,
                        "publish_reply",
                    )
                }
                None => deadline("sign_for", assigned, 1, 4, None, "sign_for"),
            };
            if let Some((deadline_id, soon, due)) = running {
                for (action, t) in [("deadline_due_soon", soon), ("deadline_overdue", due)] {
                    if t > now {
                        break;
                    }
                    let payload =
                        serde_json::json!({"deadline_id": deadline_id, "unit_id": lead_unit});
                    alarms += 1;
                    head = event_line(
                        &mut events,
                        &head,
                        Event {
                            message: id,
                            seq: (steps.len() + alarms) as i32,
                            actor: None,
                            role: "system",
                            action,
                            from: Some(status),
                            to: status,
                            payload: &payload,
                            at: t,
                        },
                    );
                    last_at = t;
                }
            }
        }
        if let Some(published) = published_at {
            let unit_name = pools
                .unit_names
                .get(&lead_unit)
                .map(String::as_str)
                .unwrap_or("有关单位");
            let body = format!(
                "您好！您反映的{title}问题，经{unit_name}现场核实，已安排专人整改处理，感谢您的监督。"
            );
            let p = ts(published);
            let admin = pools.admin;
            let _ = write!(
                answers.0,
                "{reply_id}\t{id}\t{assignment_id}\t{lead_unit}\t{intake_unit}\t{path}\tfinal\tpublished\t"
            );
            escape(&body, &mut answers.0);
            let _ = write!(
                answers.0,
                "\t[]\t1\t{lead_unit}\t{admin}\t{p}\t{admin}\t{p}\t{p}\t{admin}\t{p}\t{admin}\t{p}\t"
            );
            escape(unit_name, &mut answers.0);
            answers.0.push('\n');
            let _ = write!(answers.1, "{reply_id}\t1\t");
            escape(&body, &mut answers.1);
            let _ = writeln!(
                answers.1,
                "\t[]\t{admin}\t{p}\t{admin}\t{p}\tapproved\t{admin}\t{p}"
            );
            if let Some(r) = rating {
                let flag = if r == "unsatisfied" { "open" } else { "none" };
                let rated = ts(published + Duration::hours(rng.random_range(1..24 * 5)));
                let _ = writeln!(
                    answers.2,
                    "{feedback_id}\t{id}\t{reply_id}\t{author}\t{lead_unit}\t{path}\t{r}\t\t0\t{flag}\t{rated}\t{rated}"
                );
            }
        }
        let last_at = if alarms > 0 { last_at } else { at };
        let grams: Vec<String> = bigrams(&format!("{title}\n{body}")).into_iter().collect();
        let _ = write!(
            msgs,
            "{id}\tGS-{}-{:07}\t{author}\tweb\t{leader}\t{category}\t{kind}\t",
            submitted.format("%Y"),
            i + 1
        );
        escape(&title, &mut msgs);
        msgs.push('\t');
        escape(&body, &mut msgs);
        let _ = writeln!(
            msgs,
            "\t{region}\t{path}\t{street}\t{}\t{}\t\\N\t13800138000\t[]\t{status}\t{}\t{{}}\t{}\t{}\t\\N\t{intake_unit}\t{}\t{{{}}}\t{}\t{}\t\\\\x{}\t{}\t{}\t{}\t{}\t{}\t{}",
            match rng.random_range(0..3) {
                0 => "\\N\t\\N".to_owned(),
                _ => format!(
                    "{:.5}\t{:.5}",
                    36.0 + rng.random_range(0.0..0.2),
                    103.7 + rng.random_range(0.0..0.3)
                ),
            },
            if rng.random_range(0..4) == 0 {
                "private"
            } else {
                "public"
            },
            priority.unwrap_or("\\N"),
            rejection.unwrap_or("\\N"),
            if rejection.is_some() {
                "不予受理"
            } else {
                "\\N"
            },
            if assigned_at.is_some() {
                lead_unit.to_string()
            } else {
                "\\N".to_owned()
            },
            grams.join(","),
            steps.len() + alarms,
            steps.len() + alarms,
            hex::encode(&head),
            ts(submitted),
            accepted_at.map(ts).unwrap_or_else(|| "\\N".into()),
            ts(last_at),
            published_at.map(ts).unwrap_or_else(|| "\\N".into()),
            // The window of a closed message is over; an open one is still running.
            feedback_until.map(ts).unwrap_or_else(|| "\\N".into()),
            closed_at.map(ts).unwrap_or_else(|| "\\N".into()),
        );
    }
    Generated {
        messages: msgs,
        events,
        assignments: handling.0,
        deadlines: handling.1,
        replies: answers.0,
        revisions: answers.1,
        feedback: answers.2,
    }
}

/// One ledger event of a generated message.
struct Event<'a> {
    message: Uuid,
    seq: i32,
    actor: Option<Uuid>,
    role: &'a str,
    action: &'a str,
    from: Option<&'a str>,
    to: &'a str,
    payload: &'a serde_json::Value,
    at: DateTime<Utc>,
}

/// Append an event's COPY line, chained to `head`; returns the new head.
fn event_line(out: &mut String, head: &[u8], e: Event<'_>) -> Vec<u8> {
    let content = EventContent {
        message_id: e.message,
        seq: e.seq,
        actor_id: e.actor,
        actor_role: e.role,
        action: e.action,
        from_status: e.from,
        to_status: Some(e.to),
        payload: e.payload,
        created_at: e.at,
    };
    let hash = ledger::event_hash(head, &content);
    let _ = writeln!(
        out,
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t\\\\x{}\t\\\\x{}",
        e.message,
        e.seq,
        e.actor.map_or_else(|| "\\N".to_owned(), |a| a.to_string()),
        e.role,
        e.action,
        e.from.unwrap_or("\\N"),
        e.to,
        e.payload.to_string().replace('\\', "\\\\"),
        ts(e.at),
        hex::encode(head),
        hex::encode(&hash),
    );
    hash
}

/// COPY text of one chunk.
struct Generated {
    messages: String,
    events: String,
    assignments: String,
    deadlines: String,
    replies: String,
    revisions: String,
    feedback: String,
}

fn copy(conn: &mut PgConnection, g: &Generated) -> anyhow::Result<()> {
    use crate::schema::{
        assignments as a, deadlines as d, feedback as f, replies as r, reply_revisions as rv,
    };
    let (messages, events) = (&g.messages, &g.events);
    diesel::copy_from(m::table)
        .from_raw_data(
            (
                m::id,
                m::tracking_no,
                m::author_id,
                m::source,
                m::leader_id,
                m::category_id,
                m::kind,
                m::title,
                m::body,
                m::region_code,
                m::region_path,
                m::address,
                m::location_lat,
                m::location_lon,
                m::visibility,
                m::contact_name,
                m::contact_phone,
                m::attachments,
                m::status,
                m::priority,
                m::tags,
                m::rejection_reason,
                m::rejection_note,
                m::duplicate_of,
                m::intake_unit_id,
                m::unit_id,
                m::search_bigrams,
                m::version,
                m::event_count,
                m::chain_head,
                m::submitted_at,
                m::accepted_at,
                m::last_activity_at,
                m::replied_at,
                m::feedback_until,
                m::closed_at,
            ),
            |w: &mut dyn std::io::Write| w.write_all(messages.as_bytes()).map_err(io_error),
        )
        .with_format(CopyFormat::Text)
        .execute(conn)?;
    diesel::copy_from(ev::table)
        .from_raw_data(
            (
                ev::message_id,
                ev::seq,
                ev::actor_id,
                ev::actor_role,
                ev::action,
                ev::from_status,
                ev::to_status,
                ev::payload,
                ev::created_at,
                ev::prev_hash,
                ev::hash,
            ),
            |w: &mut dyn std::io::Write| w.write_all(events.as_bytes()).map_err(io_error),
        )
        .with_format(CopyFormat::Text)
        .execute(conn)?;
    diesel::copy_from(a::table)
        .from_raw_data(
            (
                a::id,
                a::message_id,
                a::unit_id,
                a::role,
                a::origin,
                a::status,
                a::note,
                a::assigned_by,
                a::assigned_at,
                a::signed_for_by,
                a::signed_for_at,
                a::completed_at,
                a::intake_unit_id,
                a::region_path,
            ),
            |w: &mut dyn std::io::Write| w.write_all(g.assignments.as_bytes()).map_err(io_error),
        )
        .with_format(CopyFormat::Text)
        .execute(conn)?;
    diesel::copy_from(d::table)
        .from_raw_data(
            (
                d::id,
                d::message_id,
                d::assignment_id,
                d::kind,
                d::unit_id,
                d::intake_unit_id,
                d::region_path,
                d::leader_id,
                d::priority,
                d::policy_id,
                d::policy_version,
                d::limit_days,
                d::due_soon_days,
                d::started_at,
                d::start_action,
                d::start_event_seq,
                d::due_at,
                d::due_soon_at,
                d::state,
                d::closed_at,
                d::closed_by_action,
                d::due_soon_raised_at,
                d::overdue_raised_at,
            ),
            |w: &mut dyn std::io::Write| w.write_all(g.deadlines.as_bytes()).map_err(io_error),
        )
        .with_format(CopyFormat::Text)
        .execute(conn)?;
    diesel::copy_from(r::table)
        .from_raw_data(
            (
                r::id,
                r::message_id,
                r::assignment_id,
                r::unit_id,
                r::intake_unit_id,
                r::region_path,
                r::kind,
                r::status,
                r::body,
                r::attachments,
                r::revision,
                r::review_unit_id,
                r::created_by,
                r::created_at,
                r::updated_by,
                r::updated_at,
                r::submitted_at,
                r::reviewed_by,
                r::reviewed_at,
                r::published_by,
                r::published_at,
                r::unit_name,
            ),
            |w: &mut dyn std::io::Write| w.write_all(g.replies.as_bytes()).map_err(io_error),
        )
        .with_format(CopyFormat::Text)
        .execute(conn)?;
    diesel::copy_from(rv::table)
        .from_raw_data(
            (
                rv::reply_id,
                rv::revision,
                rv::body,
                rv::attachments,
                rv::edited_by,
                rv::edited_at,
                rv::submitted_by,
                rv::submitted_at,
                rv::review_decision,
                rv::reviewed_by,
                rv::reviewed_at,
            ),
            |w: &mut dyn std::io::Write| w.write_all(g.revisions.as_bytes()).map_err(io_error),
        )
        .with_format(CopyFormat::Text)
        .execute(conn)?;
    diesel::copy_from(f::table)
        .from_raw_data(
            (
                f::id,
                f::message_id,
                f::reply_id,
                f::author_id,
                f::unit_id,
                f::region_path,
                f::rating,
                f::comment,
                f::changes,
                f::flag,
                f::created_at,
                f::updated_at,
            ),
            |w: &mut dyn std::io::Write| w.write_all(g.feedback.as_bytes()).map_err(io_error),
        )
        .with_format(CopyFormat::Text)
        .execute(conn)?;
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct IndexDef {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    def: String,
}

/// Secondary indexes of the bulk-loaded tables (not those behind constraints).
fn secondary_indexes(conn: &mut PgConnection) -> anyhow::Result<Vec<IndexDef>> {
    Ok(diesel::sql_query(
        "SELECT i.indexname::text AS name, i.indexdef::text AS def FROM pg_indexes i \
         WHERE i.schemaname = 'public' \
         AND i.tablename IN ('messages', 'message_events', 'assignments', 'deadlines', \
             'replies', 'feedback') \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
    )
    .load(conn)?)
}

/// Rough cost of building an index, to balance the two builders: the bigram GIN index and the
/// ledger's indexes are the big ones.
fn index_weight(def: &str) -> u32 {
    if def.contains("USING gin") {
        100
    } else if def.contains("message_events") {
        30
    } else if def.contains(" ON public.messages ") {
        10
    } else {
        5
    }
}

pub struct BenchReport {
    pub messages: usize,
    pub events: i64,
    pub seconds_load: f64,
    pub seconds_indexes: f64,
}

pub fn seed_bench(database_url: &str, messages: usize) -> anyhow::Result<BenchReport> {
    let mut conn = PgConnection::establish(database_url).context("cannot connect")?;
    crate::db::run_migrations(&mut conn)?;
    crate::seed::seed_demo(&mut conn)?;
    let authors = bench_citizens(&mut conn, 10_000)?;
    let pools = std::sync::Arc::new(load_pools(&mut conn, authors)?);
    let base: i64 = m::table.count().get_result(&mut conn)?;
    let indexes = secondary_indexes(&mut conn)?;
    for ix in &indexes {
        diesel::sql_query(format!("DROP INDEX {}", ix.name)).execute(&mut conn)?;
    }
    let started = Instant::now();
    let now = Utc::now();
    let offset = usize::try_from(base).unwrap_or(0) + 1_000_000;
    const CHUNK: usize = 20_000;
    let workers = 2;
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let pools = pools.clone();
            let url = database_url.to_owned();
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut conn = PgConnection::establish(&url)?;
                diesel::sql_query("SET synchronous_commit = off").execute(&mut conn)?;
                // The rows are generated from the reference data just read, so the foreign-key
                // triggers (a lookup per reference per row) can be skipped when the role may
                // (superusers: the benchmark's local server); otherwise they run.
                let _ =
                    diesel::sql_query("SET session_replication_role = replica").execute(&mut conn);
                let mut start = w * CHUNK;
                while start < messages {
                    let end = (start + CHUNK).min(messages);
                    let chunk = generate(&pools, offset + start, offset + end, start as u64, now);
                    copy(&mut conn, &chunk)?;
                    start += workers * CHUNK;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| anyhow::anyhow!("a loader thread panicked"))??;
    }
    let seconds_load = started.elapsed().as_secs_f64();
    let started = Instant::now();
    // Two connections build the indexes side by side (the GIN index builds on one core while
    // the B-trees take the other), the largest first on each.
    let mut defs: Vec<String> = indexes.iter().map(|ix| ix.def.clone()).collect();
    defs.sort_by_key(|d| std::cmp::Reverse(index_weight(d)));
    let halves: [Vec<String>; 2] =
        defs.into_iter()
            .enumerate()
            .fold([Vec::new(), Vec::new()], |mut acc, (i, d)| {
                acc[i % 2].push(d);
                acc
            });
    let builders: Vec<_> = halves
        .into_iter()
        .map(|defs| {
            let url = database_url.to_owned();
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut conn = PgConnection::establish(&url)?;
                diesel::sql_query("SET maintenance_work_mem = '512MB'").execute(&mut conn)?;
                for def in defs {
                    diesel::sql_query(&def).execute(&mut conn)?;
                }
                Ok(())
            })
        })
        .collect();
    for b in builders {
        b.join()
            .map_err(|_| anyhow::anyhow!("an index builder panicked"))??;
    }
    diesel::sql_query(format!(
        "SELECT setval('message_tracking_seq', GREATEST((SELECT last_value FROM message_tracking_seq), {}))",
        offset + messages + 1
    ))
    .execute(&mut conn)?;
    diesel::sql_query("VACUUM (ANALYZE) messages").execute(&mut conn)?;
    diesel::sql_query("VACUUM (ANALYZE) message_events").execute(&mut conn)?;
    diesel::sql_query("VACUUM (ANALYZE) assignments").execute(&mut conn)?;
    diesel::sql_query("VACUUM (ANALYZE) deadlines").execute(&mut conn)?;
    diesel::sql_query("VACUUM (ANALYZE) replies").execute(&mut conn)?;
    diesel::sql_query("VACUUM (ANALYZE) feedback").execute(&mut conn)?;
    let seconds_indexes = started.elapsed().as_secs_f64();
    let events: i64 = ev::table.count().get_result(&mut conn)?;
    let _ = std::io::stdout().flush();
    Ok(BenchReport {
        messages,
        events,
        seconds_load,
        seconds_indexes,
    })
}

fn io_error(e: std::io::Error) -> diesel::result::Error {
    diesel::result::Error::SerializationError(Box::new(e))
}
