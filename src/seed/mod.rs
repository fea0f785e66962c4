//! `liuyan seed-demo`: a realistic demo province (Gansu). Idempotent: ids are derived from names
//! (UUIDv5) and every insert skips rows that exist, so running it twice changes nothing.

use diesel::prelude::*;
use uuid::Uuid;

use crate::auth::password::hash_password;
use crate::domain::ids::{LeaderId, UnitId, UserId};
use crate::domain::message::{MessageKind, Priority, RejectionReason};
use crate::domain::reference::{RegionLevel, UnitKind, region_path};
use crate::domain::role::Role;
use crate::schema::{leaders, regions, units};
use crate::store::users::{self, NewUser};

mod catalogues;
mod messages;

pub use catalogues::{ALERT_RULES, DISPATCH_RULES, DemoAlertRule, DemoDispatchRule};
use catalogues::{seed_alert_rules, seed_handling_catalogues};
use messages::seed_messages;

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
