//! Who may do what: the one table of role permissions, and the object-level rules.
//!
//! Every handler asks `principal.require(Permission::…)` before it touches data, and the spec
//! shows, per operation, the roles this table allows (`x-allowed-roles`, added from
//! [`OPERATION_RULES`]; a test checks every operation has a rule).

use crate::domain::ids::UnitId;
use crate::domain::role::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read the caller's own account.
    ReadOwnAccount,
    /// Read regions, units, leaders and categories.
    ReadReferenceData,
    /// Create and edit regions, units, leaders and categories.
    ManageReferenceData,
    /// List and read user accounts (object-level: a unit admin sees their own unit).
    ReadUsers,
    /// Create and edit user accounts (object-level: a unit admin manages their own unit's staff).
    ManageUsers,
}

use Role::*;

const ALL_ROLES: &[Role] = &[
    Citizen,
    Handler,
    UnitAdmin,
    Reviewer,
    Supervisor,
    Leader,
    Analyst,
    Admin,
    Integration,
];
const PEOPLE: &[Role] = &[
    Citizen, Handler, UnitAdmin, Reviewer, Supervisor, Leader, Analyst, Admin,
];

impl Permission {
    /// The roles that hold this permission.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Permission::ReadOwnAccount => PEOPLE,
            Permission::ReadReferenceData => ALL_ROLES,
            Permission::ManageReferenceData => &[Admin],
            Permission::ReadUsers => &[UnitAdmin, Admin],
            Permission::ManageUsers => &[UnitAdmin, Admin],
        }
    }

    pub fn allows(self, role: Role) -> bool {
        self.roles().contains(&role)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Permission::ReadOwnAccount => "read their own account",
            Permission::ReadReferenceData => "read reference data",
            Permission::ManageReferenceData => "manage reference data",
            Permission::ReadUsers => "read user accounts",
            Permission::ManageUsers => "manage user accounts",
        }
    }
}

/// How an operation is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// No authentication.
    Public,
    /// A bearer token whose role holds the permission.
    Requires(Permission),
}

/// Every operation of the API by `operationId`, with its rule. The spec is decorated from this
/// table; tests check that each operation in the spec appears here exactly once.
pub const OPERATION_RULES: &[(&str, Rule)] = &[
    ("healthz", Rule::Public),
    ("readyz", Rule::Public),
    ("metrics", Rule::Public),
    ("get_openapi", Rule::Public),
    ("register", Rule::Public),
    ("issue_token", Rule::Public),
    ("refresh_token", Rule::Public),
    ("logout", Rule::Public),
    ("get_me", Rule::Requires(Permission::ReadOwnAccount)),
    (
        "list_regions",
        Rule::Requires(Permission::ReadReferenceData),
    ),
    ("get_region", Rule::Requires(Permission::ReadReferenceData)),
    (
        "create_region",
        Rule::Requires(Permission::ManageReferenceData),
    ),
    (
        "update_region",
        Rule::Requires(Permission::ManageReferenceData),
    ),
    ("list_units", Rule::Requires(Permission::ReadReferenceData)),
    ("get_unit", Rule::Requires(Permission::ReadReferenceData)),
    (
        "create_unit",
        Rule::Requires(Permission::ManageReferenceData),
    ),
    (
        "update_unit",
        Rule::Requires(Permission::ManageReferenceData),
    ),
    (
        "list_leaders",
        Rule::Requires(Permission::ReadReferenceData),
    ),
    ("get_leader", Rule::Requires(Permission::ReadReferenceData)),
    (
        "create_leader",
        Rule::Requires(Permission::ManageReferenceData),
    ),
    (
        "update_leader",
        Rule::Requires(Permission::ManageReferenceData),
    ),
    (
        "list_categories",
        Rule::Requires(Permission::ReadReferenceData),
    ),
    (
        "get_category",
        Rule::Requires(Permission::ReadReferenceData),
    ),
    (
        "create_category",
        Rule::Requires(Permission::ManageReferenceData),
    ),
    (
        "update_category",
        Rule::Requires(Permission::ManageReferenceData),
    ),
    ("list_users", Rule::Requires(Permission::ReadUsers)),
    ("get_user", Rule::Requires(Permission::ReadUsers)),
    ("create_user", Rule::Requires(Permission::ManageUsers)),
    ("update_user", Rule::Requires(Permission::ManageUsers)),
];

pub fn rule_for(operation_id: &str) -> Option<Rule> {
    OPERATION_RULES
        .iter()
        .find(|(id, _)| *id == operation_id)
        .map(|(_, r)| *r)
}

/// The roles a unit admin may hand out: staff of their own unit, never more powerful roles.
pub const UNIT_ADMIN_GRANTABLE: &[Role] = &[Handler, Reviewer, UnitAdmin];

/// May `actor` (role, unit) see an account of `target_unit`?
pub fn may_see_user(
    actor_role: Role,
    actor_unit: Option<UnitId>,
    target_unit: Option<UnitId>,
) -> bool {
    match actor_role {
        Admin => true,
        UnitAdmin => actor_unit.is_some() && actor_unit == target_unit,
        _ => false,
    }
}

/// May `actor` create an account, or turn one into, `target_role` in `target_unit`?
pub fn may_grant(
    actor_role: Role,
    actor_unit: Option<UnitId>,
    target_role: Role,
    target_unit: Option<UnitId>,
) -> bool {
    match actor_role {
        Admin => true,
        UnitAdmin => {
            UNIT_ADMIN_GRANTABLE.contains(&target_role)
                && actor_unit.is_some()
                && actor_unit == target_unit
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_manage_reference_data() {
        for role in Role::ALL {
            assert_eq!(
                Permission::ManageReferenceData.allows(*role),
                *role == Admin,
                "{role}"
            );
        }
    }

    #[test]
    fn service_accounts_have_no_user_account() {
        assert!(!Permission::ReadOwnAccount.allows(Integration));
        assert!(Permission::ReadOwnAccount.allows(Citizen));
    }

    #[test]
    fn unit_admins_see_and_grant_only_inside_their_unit() {
        let a = Some(UnitId::new());
        let b = Some(UnitId::new());
        assert!(may_see_user(UnitAdmin, a, a));
        assert!(!may_see_user(UnitAdmin, a, b));
        assert!(!may_see_user(UnitAdmin, None, None));
        assert!(may_see_user(Admin, None, b));
        assert!(!may_see_user(Supervisor, a, a));
        assert!(may_grant(UnitAdmin, a, Handler, a));
        assert!(!may_grant(UnitAdmin, a, Handler, b));
        assert!(!may_grant(UnitAdmin, a, Admin, a));
        assert!(!may_grant(UnitAdmin, a, Supervisor, a));
        assert!(may_grant(Admin, None, Supervisor, b));
        assert!(!may_grant(Handler, a, Handler, a));
    }

    #[test]
    fn operation_ids_are_unique() {
        let mut ids: Vec<_> = OPERATION_RULES.iter().map(|(id, _)| *id).collect();
        ids.sort();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len());
    }
}
