//! `liuyan seed-demo`: a realistic demo province (Gansu). Idempotent: ids are derived from names
//! (UUIDv5) and every insert skips rows that exist, so running it twice changes nothing.

use diesel::prelude::*;
use uuid::Uuid;

use crate::auth::password::hash_password;
use crate::domain::ids::{LeaderId, UnitId, UserId};
use crate::domain::reference::{RegionLevel, UnitKind, region_path};
use crate::domain::role::Role;
use crate::schema::{leaders, regions, units};
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

#[derive(Debug, Default)]
pub struct SeedReport {
    pub regions: usize,
    pub units: usize,
    pub leaders: usize,
    pub users: usize,
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
        Ok(())
    })?;
    Ok(report)
}
