//! `liuyan seed-demo`: a realistic demo province (Gansu). Idempotent: ids are derived from names
//! (UUIDv5) and every insert skips rows that exist, so running it twice changes nothing.

use diesel::prelude::*;
use uuid::Uuid;

use crate::auth::password::hash_password;
use crate::domain::ids::CategoryId;
use crate::domain::ids::{LeaderId, UnitId, UserId};
use crate::domain::message::{
    MessageAction, MessageKind, MessageSource, MessageStatus, Priority, RejectionReason, Visibility,
};
use crate::domain::reference::{RegionLevel, UnitKind, region_path};
use crate::domain::role::Role;
use crate::http::preconditions::IfMatchCondition;
use crate::schema::{leaders, regions, units};
use crate::store::messages::{
    self as messages_store, Decision, EventActor, MessageChanges, NewMessage,
};
use crate::store::users::{self, NewUser};

/// Namespace for demo ids, so they are stable across runs and machines.
const DEMO_NAMESPACE: Uuid = Uuid::from_u128(0x5f1e_0c3a_9d2b_4e6f_8a7c_1b2d_3e4f_5a6b);

fn demo_id(kind: &str, name: &str) -> Uuid {
    Uuid::new_v5(&DEMO_NAMESPACE, format!("{kind}:{name}").as_bytes())
}

pub fn unit_id(name: &str) -> UnitId {
    UnitId(demo_id("unit", name))
}

pub fn leader_id(name: &str) -> LeaderId {
    LeaderId(demo_id("leader", name))
}

/// (code, name, parent)
pub const REGIONS: &[(&str, &str, Option<&str>)] = &[
    ("620000", "甘肃省", None),
    ("620100", "兰州市", Some("620000")),
    ("620102", "城关区", Some("620100")),
    ("620103", "七里河区", Some("620100")),
    ("620104", "西固区", Some("620100")),
    ("620105", "安宁区", Some("620100")),
    ("620111", "红古区", Some("620100")),
    ("620121", "永登县", Some("620100")),
    ("620500", "天水市", Some("620000")),
    ("620502", "秦州区", Some("620500")),
    ("620503", "麦积区", Some("620500")),
    ("620900", "酒泉市", Some("620000")),
    ("620902", "肃州区", Some("620900")),
    ("620982", "敦煌市", Some("620900")),
];

use UnitKind::*;

/// (name, kind, region, parent unit)
pub const UNITS: &[(&str, UnitKind, &str, Option<&str>)] = &[
    ("中共甘肃省委办公厅", PartyCommitteeOffice, "620000", None),
    ("甘肃省人民政府办公厅", GovernmentOffice, "620000", None),
    (
        "甘肃省领导留言办理工作办公室",
        LiaisonOffice,
        "620000",
        Some("甘肃省人民政府办公厅"),
    ),
    (
        "甘肃省人民政府督查室",
        SupervisionOffice,
        "620000",
        Some("甘肃省人民政府办公厅"),
    ),
    ("甘肃省交通运输厅", Department, "620000", None),
    ("甘肃省教育厅", Department, "620000", None),
    ("甘肃省卫生健康委员会", Department, "620000", None),
    ("甘肃省人力资源和社会保障厅", Department, "620000", None),
    ("甘肃省生态环境厅", Department, "620000", None),
    ("甘肃省住房和城乡建设厅", Department, "620000", None),
    ("甘肃省农业农村厅", Department, "620000", None),
    ("甘肃省公安厅", Department, "620000", None),
    ("中共兰州市委办公室", PartyCommitteeOffice, "620100", None),
    ("兰州市人民政府办公室", GovernmentOffice, "620100", None),
    (
        "兰州市领导留言办理工作办公室",
        LiaisonOffice,
        "620100",
        Some("兰州市人民政府办公室"),
    ),
    (
        "兰州市人民政府督查室",
        SupervisionOffice,
        "620100",
        Some("兰州市人民政府办公室"),
    ),
    ("兰州市交通运输局", Department, "620100", None),
    ("兰州市教育局", Department, "620100", None),
    ("兰州市住房和城乡建设局", Department, "620100", None),
    ("兰州市城关区人民政府", DistrictGovernment, "620102", None),
    ("兰州市七里河区人民政府", DistrictGovernment, "620103", None),
    ("兰州市西固区人民政府", DistrictGovernment, "620104", None),
    ("兰州市安宁区人民政府", DistrictGovernment, "620105", None),
    ("兰州市红古区人民政府", DistrictGovernment, "620111", None),
    ("永登县人民政府", DistrictGovernment, "620121", None),
    ("天水市人民政府办公室", GovernmentOffice, "620500", None),
    (
        "天水市领导留言办理工作办公室",
        LiaisonOffice,
        "620500",
        Some("天水市人民政府办公室"),
    ),
    ("天水市秦州区人民政府", DistrictGovernment, "620502", None),
    ("天水市麦积区人民政府", DistrictGovernment, "620503", None),
    ("酒泉市人民政府办公室", GovernmentOffice, "620900", None),
    ("酒泉市肃州区人民政府", DistrictGovernment, "620902", None),
    ("敦煌市人民政府", DistrictGovernment, "620982", None),
];

/// (name, title, region, handling unit). Fictional people.
pub const LEADERS: &[(&str, &str, &str, &str)] = &[
    (
        "林振华",
        "甘肃省委书记",
        "620000",
        "甘肃省领导留言办理工作办公室",
    ),
    (
        "陈立新",
        "甘肃省省长",
        "620000",
        "甘肃省领导留言办理工作办公室",
    ),
    (
        "赵文博",
        "兰州市委书记",
        "620100",
        "兰州市领导留言办理工作办公室",
    ),
    (
        "孙海洋",
        "兰州市市长",
        "620100",
        "兰州市领导留言办理工作办公室",
    ),
    (
        "周明远",
        "天水市委书记",
        "620500",
        "天水市领导留言办理工作办公室",
    ),
    (
        "吴建平",
        "天水市市长",
        "620500",
        "天水市领导留言办理工作办公室",
    ),
    ("何晓东", "酒泉市市长", "620900", "酒泉市人民政府办公室"),
    ("马丽娟", "城关区区长", "620102", "兰州市城关区人民政府"),
];

/// A demo account: (email, password, name, role, unit, scope region, leader).
pub struct DemoUser {
    pub email: &'static str,
    pub password: &'static str,
    pub display_name: &'static str,
    pub role: Role,
    pub unit: Option<&'static str>,
    pub scope_region: Option<&'static str>,
    pub leader: Option<&'static str>,
}

pub const USERS: &[DemoUser] = &[
    DemoUser {
        email: "admin@liuyan.example",
        password: "Demo-Admin-2026",
        display_name: "系统管理员",
        role: Role::Admin,
        unit: None,
        scope_region: None,
        leader: None,
    },
    DemoUser {
        email: "liaison@liuyan.example",
        password: "Demo-Liaison-2026",
        display_name: "刘晓梅",
        role: Role::Handler,
        unit: Some("甘肃省领导留言办理工作办公室"),
        scope_region: None,
        leader: None,
    },
    DemoUser {
        email: "handler@liuyan.example",
        password: "Demo-Handler-2026",
        display_name: "张伟",
        role: Role::Handler,
        unit: Some("兰州市交通运输局"),
        scope_region: None,
        leader: None,
    },
    DemoUser {
        email: "unitadmin@liuyan.example",
        password: "Demo-UnitAdmin-2026",
        display_name: "王芳",
        role: Role::UnitAdmin,
        unit: Some("兰州市交通运输局"),
        scope_region: None,
        leader: None,
    },
    DemoUser {
        email: "reviewer@liuyan.example",
        password: "Demo-Reviewer-2026",
        display_name: "李强",
        role: Role::Reviewer,
        unit: Some("兰州市交通运输局"),
        scope_region: None,
        leader: None,
    },
    DemoUser {
        email: "supervisor@liuyan.example",
        password: "Demo-Supervisor-2026",
        display_name: "赵敏",
        role: Role::Supervisor,
        unit: Some("甘肃省人民政府督查室"),
        scope_region: Some("620000"),
        leader: None,
    },
    DemoUser {
        email: "leader@liuyan.example",
        password: "Demo-Leader-2026",
        display_name: "孙海洋",
        role: Role::Leader,
        unit: None,
        scope_region: Some("620100"),
        leader: Some("孙海洋"),
    },
    DemoUser {
        email: "analyst@liuyan.example",
        password: "Demo-Analyst-2026",
        display_name: "周婷",
        role: Role::Analyst,
        unit: None,
        scope_region: Some("620000"),
        leader: None,
    },
    DemoUser {
        email: "citizen@liuyan.example",
        password: "Demo-Citizen-2026",
        display_name: "陈静",
        role: Role::Citizen,
        unit: None,
        scope_region: None,
        leader: None,
    },
];

/// What happens to a demo message after it is submitted.
pub enum Fate {
    Submitted,
    Accepted {
        priority: Priority,
        tags: &'static [&'static str],
    },
    Rejected(RejectionReason, &'static str),
    Withdrawn,
    /// Accepted (routine), handled by `unit`, answered with `reply` (published); rated if
    /// `rating`, closed if `closed`.
    Replied {
        unit: &'static str,
        reply: &'static str,
        rating: Option<crate::domain::reply::Rating>,
        closed: bool,
    },
}

/// A demo message: leader, category code, kind, region, title, body, public, what happens to it.
pub type DemoMessage = (
    &'static str,
    &'static str,
    MessageKind,
    &'static str,
    &'static str,
    &'static str,
    bool,
    Fate,
);

pub const MESSAGES: &[DemoMessage] = &[
    (
        "孙海洋",
        "transport",
        MessageKind::Complaint,
        "620102",
        "庆阳路口红绿灯坏了",
        "城关区庆阳路与酒泉路交叉口的红绿灯已经坏了三天，早晚高峰非常拥堵，行人过马路很危险，请尽快修理。",
        true,
        Fate::Accepted {
            priority: Priority::Important,
            tags: &["红绿灯", "交通安全"],
        },
    ),
    (
        "孙海洋",
        "transport",
        MessageKind::Suggestion,
        "620103",
        "建议增开七里河到兰州西站的公交",
        "七里河区西站片区居民很多，现在只有一条公交线路到兰州西站，高峰期等车要半小时，建议增开一条线路或加密班次。",
        true,
        Fate::Accepted {
            priority: Priority::Routine,
            tags: &["公交"],
        },
    ),
    (
        "赵文博",
        "urban_construction",
        MessageKind::Complaint,
        "620105",
        "安宁区小区供暖温度不达标",
        "我家住在安宁区某小区，今年供暖开始后室内温度只有十四度左右，家里有老人孩子，多次向物业反映没有结果，请有关部门督促供热公司整改。",
        false,
        Fate::Accepted {
            priority: Priority::Important,
            tags: &["供暖"],
        },
    ),
    (
        "陈立新",
        "employment_wages",
        MessageKind::HelpRequest,
        "620102",
        "农民工工资被拖欠半年",
        "我们二十多名工人在城关区一个工地干活，包工头拖欠工资半年了，一共四十多万元，临近年底大家都很着急，恳请领导帮助协调解决。",
        false,
        Fate::Accepted {
            priority: Priority::Important,
            tags: &["欠薪", "农民工"],
        },
    ),
    (
        "林振华",
        "education",
        MessageKind::Consultation,
        "620000",
        "异地高考报名条件咨询",
        "孩子随父母在兰州读书已经五年，户口还在外省，想咨询今年在甘肃参加高考需要满足哪些条件，需要准备哪些材料。",
        true,
        Fate::Submitted,
    ),
    (
        "吴建平",
        "health",
        MessageKind::Suggestion,
        "620502",
        "建议秦州区医院增加夜间门诊",
        "秦州区几家医院晚上只有急诊，孩子半夜发烧只能挤急诊，等候时间很长，建议开设夜间儿科门诊。",
        true,
        Fate::Submitted,
    ),
    (
        "孙海洋",
        "environment",
        MessageKind::Complaint,
        "620104",
        "西固区夜间有刺鼻气味",
        "最近一个月西固区每天晚上十点以后空气中都有刺鼻的气味，开窗就能闻到，怀疑有企业夜间偷排，请环保部门调查。",
        true,
        Fate::Rejected(
            RejectionReason::InsufficientInformation,
            "请补充气味出现的具体地点和时间段，便于核查。",
        ),
    ),
    (
        "孙海洋",
        "transport",
        MessageKind::Complaint,
        "620102",
        "庆阳路红绿灯还是没修好",
        "庆阳路和酒泉路交叉口的红绿灯还是坏的，请尽快处理，太危险了。",
        true,
        Fate::Rejected(
            RejectionReason::Duplicate,
            "与已受理的留言重复，将合并办理。",
        ),
    ),
    (
        "陈立新",
        "other",
        MessageKind::Complaint,
        "620000",
        "外省购房合同纠纷",
        "我在外省购买的商品房开发商延期交房两年，希望甘肃的领导帮忙协调。",
        true,
        Fate::Rejected(
            RejectionReason::OutOfScope,
            "该事项属外省管辖且涉及民事诉讼，建议向房屋所在地有关部门反映或通过法律途径解决。",
        ),
    ),
    (
        "何晓东",
        "agriculture_rural",
        MessageKind::Consultation,
        "620902",
        "高标准农田补贴怎么申请",
        "肃州区农户想了解高标准农田建设的补贴政策和申请流程。",
        true,
        Fate::Withdrawn,
    ),
    (
        "何晓东",
        "urban_construction",
        MessageKind::HelpRequest,
        "620902",
        "肃州区小区门口路灯不亮",
        "肃州区一个小区门口的三盏路灯已经一个多月不亮了，晚上老人孩子出门很不方便，请帮忙协调修复。",
        true,
        Fate::Replied {
            unit: "酒泉市肃州区人民政府",
            reply: "您好！经肃州区市政部门现场核实，该处路灯因电缆被施工挖断而停亮，现已更换电缆并恢复照明。感谢您对城市管理工作的关心和支持。",
            rating: Some(crate::domain::reply::Rating::Satisfied),
            closed: true,
        },
    ),
    (
        "何晓东",
        "transport",
        MessageKind::Complaint,
        "620982",
        "敦煌市区公交站台雨棚破损",
        "敦煌市区一个公交站台的雨棚玻璃碎了好几块，下雨天候车的人都淋着，碎玻璃也有安全隐患，请尽快更换。",
        true,
        Fate::Replied {
            unit: "敦煌市人民政府",
            reply: "您好！您反映的公交站台雨棚破损问题，我市已安排公交公司清理碎玻璃并设置警示标志，新雨棚玻璃已订购，预计十二月上旬完成更换。",
            rating: Some(crate::domain::reply::Rating::Unsatisfied),
            closed: false,
        },
    ),
    (
        "何晓东",
        "urban_construction",
        MessageKind::Consultation,
        "620902",
        "老旧小区加装电梯怎么申请",
        "我们小区是九十年代建的六层楼，居民想加装电梯，请问需要多少户同意、找哪个部门申请、有没有政府补贴？",
        true,
        Fate::Replied {
            unit: "酒泉市肃州区人民政府",
            reply: "您好！既有住宅加装电梯须经本单元房屋专有部分面积占比三分之二以上且人数占比三分之二以上的业主参与表决，并经参与表决业主双过半同意，由业主向所在街道提出申请，符合条件的可申请财政补贴。",
            rating: None,
            closed: false,
        },
    ),
    (
        "陈立新",
        "employment_wages",
        MessageKind::HelpRequest,
        "620902",
        "家政服务员工资结算问题",
        "我在一家家政公司做了八个月，公司一直说年底统一结算工资，现在联系不上负责人，想请有关部门帮忙。",
        false,
        Fate::Replied {
            unit: "甘肃省人力资源和社会保障厅",
            reply: "您好！您反映的问题已转交属地劳动保障监察机构立案调查，经调查该公司已于本周向您支付拖欠工资。如仍有问题，可随时向劳动保障监察机构投诉。",
            rating: Some(crate::domain::reply::Rating::BasicallySatisfied),
            closed: true,
        },
    ),
];

#[derive(Debug, Default)]
pub struct SeedReport {
    pub regions: usize,
    pub units: usize,
    pub leaders: usize,
    pub users: usize,
    pub messages: usize,
}

pub fn seed_demo(conn: &mut PgConnection) -> anyhow::Result<SeedReport> {
    let mut report = SeedReport::default();
    conn.transaction(|conn| -> anyhow::Result<()> {
        for (code, name, parent) in REGIONS {
            let level = match (parent, code.ends_with("00")) {
                (None, _) => RegionLevel::Province,
                (Some(_), true) => RegionLevel::City,
                (Some(_), false) => RegionLevel::County,
            };
            let parent_path: Option<String> = match parent {
                Some(p) => Some(regions::table.find(p).select(regions::path).first(conn)?),
                None => None,
            };
            report.regions += diesel::insert_into(regions::table)
                .values((
                    regions::code.eq(code),
                    regions::name.eq(name),
                    regions::level.eq(level),
                    regions::parent_code.eq(parent),
                    regions::path.eq(region_path(parent_path.as_deref(), code)),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
        for (name, kind, region, parent) in UNITS {
            report.units += diesel::insert_into(units::table)
                .values((
                    units::id.eq(unit_id(name)),
                    units::name.eq(name),
                    units::kind.eq(kind),
                    units::region_code.eq(region),
                    units::parent_id.eq(parent.map(unit_id)),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
        for (name, title, region, unit) in LEADERS {
            report.leaders += diesel::insert_into(leaders::table)
                .values((
                    leaders::id.eq(leader_id(name)),
                    leaders::name.eq(name),
                    leaders::title.eq(title),
                    leaders::region_code.eq(region),
                    leaders::unit_id.eq(unit_id(unit)),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
        for u in USERS {
            if users::find_by_email(conn, u.email)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .is_some()
            {
                continue;
            }
            let new = NewUser {
                id: UserId(demo_id("user", u.email)),
                email: u.email.to_owned(),
                password_hash: hash_password(u.password)?,
                display_name: u.display_name.to_owned(),
                role: u.role,
                unit_id: u.unit.map(unit_id),
                scope_region_code: u.scope_region.map(str::to_owned),
                leader_id: u.leader.map(leader_id),
            };
            users::insert(conn, &new).map_err(|e| anyhow::anyhow!("seeding {}: {e}", u.email))?;
            report.users += 1;
        }
        report.messages =
            seed_messages(conn).map_err(|e| anyhow::anyhow!("seeding messages: {e}"))?;
        seed_handling_catalogues(conn)?;
        seed_alert_rules(conn)?;
        Ok(())
    })?;
    Ok(report)
}

/// The demo messages, written by the demo citizen and handled by the liaison offices; skipped
/// when the citizen already has messages.
fn seed_messages(conn: &mut PgConnection) -> Result<usize, crate::error::ApiError> {
    use crate::schema::{categories, messages};
    let citizen = USERS
        .iter()
        .find(|u| u.role == Role::Citizen)
        .map(|u| UserId(demo_id("user", u.email)));
    let Some(citizen) = citizen else { return Ok(0) };
    let existing: i64 = messages::table
        .filter(messages::author_id.eq(citizen))
        .count()
        .get_result(conn)?;
    if existing > 0 {
        return Ok(0);
    }
    let author = EventActor {
        id: Some(citizen),
        role: Some(Role::Citizen),
    };
    let admin = EventActor {
        id: Some(UserId(demo_id("user", "admin@liuyan.example"))),
        role: Some(Role::Admin),
    };
    let mut first_accepted = None;
    for (leader, category, kind, region, title, body, public, fate) in MESSAGES {
        let category_id: CategoryId = categories::table
            .filter(categories::code.eq(category))
            .select(categories::id)
            .first(conn)?;
        let new = NewMessage {
            author_id: Some(citizen),
            registered_by: None,
            source: MessageSource::Web,
            leader_id: leader_id(leader),
            category_id,
            kind: *kind,
            title: (*title).to_owned(),
            body: (*body).to_owned(),
            region_code: Some((*region).to_owned()),
            address: String::new(),
            location: None,
            visibility: if *public {
                Visibility::Public
            } else {
                Visibility::Private
            },
            contact_name: None,
            contact_phone: Some("13800138000".to_owned()),
            attachments: serde_json::json!([]),
            submitted_at: None,
        };
        // Through intake like any message (the demo's alert rules come after the messages).
        let intake = crate::app::intake::Intake {
            actor: author,
            tracking_prefix: "GS",
            quota: crate::domain::quota::IntakeQuota {
                per_hour: 0,
                per_day: 0,
            },
            leaders: crate::app::intake::Addressable::Any,
            now: chrono::Utc::now(),
        };
        let m = crate::app::intake::submit(conn, &intake, &new)?.message;
        let step = |conn: &mut PgConnection, who, action, to, changes, payload| {
            messages_store::transition(
                conn,
                m.id,
                &IfMatchCondition::none(),
                who,
                action,
                chrono::Utc::now(),
                move |_, _| {
                    Ok(Decision {
                        to,
                        changes,
                        payload,
                    })
                },
            )
        };
        match fate {
            Fate::Submitted => {}
            Fate::Accepted { priority, tags } => {
                let tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
                step(
                    conn,
                    admin,
                    MessageAction::Classify,
                    MessageStatus::Submitted,
                    MessageChanges {
                        priority: Some(Some(*priority)),
                        tags: Some(tags.clone()),
                        ..Default::default()
                    },
                    serde_json::json!({"priority": priority, "tags": tags}),
                )?;
                step(
                    conn,
                    admin,
                    MessageAction::Accept,
                    MessageStatus::Accepted,
                    MessageChanges {
                        accepted_at: Some(Some(chrono::Utc::now())),
                        ..Default::default()
                    },
                    serde_json::json!({"note": null}),
                )?;
                first_accepted.get_or_insert(m.id);
            }
            Fate::Rejected(reason, note) => {
                let duplicate_of = (*reason == RejectionReason::Duplicate)
                    .then_some(first_accepted)
                    .flatten();
                step(
                    conn,
                    admin,
                    MessageAction::Reject,
                    MessageStatus::Rejected,
                    MessageChanges {
                        rejection_reason: Some(Some(*reason)),
                        rejection_note: Some(Some((*note).to_owned())),
                        duplicate_of: Some(duplicate_of),
                        ..Default::default()
                    },
                    serde_json::json!({"reason": reason, "note": note, "duplicate_of": duplicate_of}),
                )?;
            }
            Fate::Withdrawn => {
                step(
                    conn,
                    author,
                    MessageAction::Withdraw,
                    MessageStatus::Withdrawn,
                    MessageChanges::default(),
                    serde_json::json!({"note": null}),
                )?;
            }
            Fate::Replied {
                unit,
                reply,
                rating,
                closed,
            } => {
                step(
                    conn,
                    admin,
                    MessageAction::Accept,
                    MessageStatus::Accepted,
                    MessageChanges {
                        priority: Some(Some(Priority::Routine)),
                        accepted_at: Some(Some(chrono::Utc::now())),
                        ..Default::default()
                    },
                    serde_json::json!({"note": null}),
                )?;
                seed_reply(conn, m.id, admin, author, unit, reply, *rating, *closed)?;
            }
        }
    }
    Ok(MESSAGES.len())
}

/// Take an accepted message through assignment, sign-for, a published final reply and, if
/// given, the author's rating and closure; each step with its ledger event, as the API would.
#[allow(clippy::too_many_arguments)]
fn seed_reply(
    conn: &mut PgConnection,
    id: messages_store::MessageId,
    admin: EventActor,
    author: EventActor,
    unit_name: &str,
    body: &str,
    rating: Option<crate::domain::reply::Rating>,
    closed: bool,
) -> Result<(), crate::error::ApiError> {
    use crate::domain::handling::{
        AssignmentOrigin, AssignmentRole, AssignmentStatus, DeadlineKind,
    };
    use crate::domain::ids::{FeedbackId, ReplyId};
    use crate::domain::reply::{FeedbackFlag, ReplyKind, ReplyStatus, flag_after};
    use crate::store::{assignments, deadlines, feedback, replies};
    let now = chrono::Utc::now();
    let unit = unit_id(unit_name);
    let by = admin
        .id
        .ok_or_else(|| crate::error::ApiError::Internal("no admin".into()))?;
    let go = |conn: &mut PgConnection, who, action, to, changes, payload| {
        messages_store::transition(
            conn,
            id,
            &IfMatchCondition::none(),
            who,
            action,
            now,
            move |_, _| {
                Ok(Decision {
                    to,
                    changes,
                    payload,
                })
            },
        )
    };
    let m = messages_store::get(conn, id)?
        .ok_or_else(|| crate::error::ApiError::not_found("message"))?;
    let mut new = assignments::NewAssignment::for_message(
        &m,
        unit,
        AssignmentRole::Lead,
        AssignmentOrigin::Assigned,
        String::new(),
        Some(by),
        now,
    );
    new.status = AssignmentStatus::SignedFor;
    new.signed_for_at = Some(now);
    let a = assignments::insert(conn, &new)?;
    go(
        conn,
        admin,
        MessageAction::Assign,
        MessageStatus::Assigned,
        MessageChanges {
            unit_id: Some(Some(unit)),
            ..Default::default()
        },
        serde_json::json!({"assignment_id": a.id, "unit_id": unit, "co_unit_ids": []}),
    )?;
    let m = go(
        conn,
        admin,
        MessageAction::SignFor,
        MessageStatus::InProgress,
        MessageChanges::default(),
        serde_json::json!({"assignment_id": a.id, "unit_id": unit, "role": "lead"}),
    )?;
    deadlines::start(
        conn,
        deadlines::Start {
            message: &m,
            assignment_id: a.id,
            unit_id: unit,
            kind: DeadlineKind::Reply,
            at: now,
            action: MessageAction::SignFor,
            event_seq: m.event_count,
        },
    )?;
    let reply = replies::Reply {
        id: ReplyId(demo_id("reply", &m.tracking_no)),
        message_id: m.id,
        assignment_id: a.id,
        unit_id: unit,
        intake_unit_id: m.intake_unit_id,
        region_path: m.region_path.clone(),
        kind: ReplyKind::Final,
        status: ReplyStatus::Published,
        body: body.to_owned(),
        attachments: serde_json::json!([]),
        revision: 1,
        review_unit_id: unit,
        created_by: by,
        created_at: now,
        updated_by: by,
        updated_at: now,
        submitted_at: Some(now),
        reviewed_by: Some(by),
        reviewed_at: Some(now),
        review_comment: None,
        published_by: Some(by),
        published_at: Some(now),
        unit_name: Some(unit_name.to_owned()),
        version: 1,
    };
    replies::insert(conn, &reply)?;
    let (_, until) = replies::complete_handling(conn, m.id, a.id, now)?;
    let m = go(
        conn,
        admin,
        MessageAction::PublishReply,
        MessageStatus::Replied,
        MessageChanges {
            replied_at: Some(Some(now)),
            feedback_until: Some(Some(until)),
            ..Default::default()
        },
        serde_json::json!({"reply_id": reply.id, "kind": "final", "revision": 1, "unit_name": unit_name}),
    )?;
    if let (Some(rating), Some(author_id)) = (rating, m.author_id) {
        let row = feedback::Feedback {
            id: FeedbackId(demo_id("feedback", &m.tracking_no)),
            message_id: m.id,
            reply_id: reply.id,
            author_id,
            unit_id: unit,
            region_path: m.region_path.clone(),
            rating,
            comment: String::new(),
            changes: 0,
            flag: flag_after(None, rating),
            resolved_by: None,
            resolved_at: None,
            resolution_note: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        feedback::insert(conn, &row)?;
        go(
            conn,
            author,
            MessageAction::Rate,
            MessageStatus::Replied,
            MessageChanges::default(),
            serde_json::json!({"feedback_id": row.id, "reply_id": reply.id, "rating": rating,
                "changed": false, "flag": row.flag}),
        )?;
        if closed && row.flag == FeedbackFlag::Open {
            return Err(crate::error::ApiError::Internal(
                "a demo message with an open unsatisfied rating cannot be closed".into(),
            ));
        }
    }
    if closed {
        go(
            conn,
            admin,
            MessageAction::Close,
            MessageStatus::Closed,
            MessageChanges {
                closed_at: Some(Some(now)),
                ..Default::default()
            },
            serde_json::json!({"reason": "supervisor", "note": "群众满意，办结"}),
        )?;
    }
    Ok(())
}

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
fn seed_handling_catalogues(conn: &mut PgConnection) -> anyhow::Result<()> {
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
fn seed_alert_rules(conn: &mut PgConnection) -> anyhow::Result<()> {
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
