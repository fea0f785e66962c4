//! Roles of the people and machines that use the API.

crate::text_enum! {
    /// The role of an account. Staff roles (`handler`, `unit_admin`, `reviewer`) belong to a unit;
    /// a `supervisor` works in a region subtree; `integration` is the liaison platform's service
    /// account (client credentials, never a person).
    pub enum Role {
        Citizen => "citizen",
        Handler => "handler",
        UnitAdmin => "unit_admin",
        Reviewer => "reviewer",
        Supervisor => "supervisor",
        Leader => "leader",
        Analyst => "analyst",
        Admin => "admin",
        Integration => "integration",
    }
}

impl Role {
    /// Everyone but citizens works for the province.
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Citizen)
    }

    /// Roles whose accounts must belong to a unit.
    pub fn requires_unit(self) -> bool {
        matches!(self, Role::Handler | Role::UnitAdmin | Role::Reviewer)
    }

    /// Roles that work in a region subtree (their account's scope). Unit staff work in their
    /// unit's territory and never derive one from a scope.
    pub fn works_in_region(self) -> bool {
        matches!(self, Role::Supervisor | Role::Leader | Role::Analyst)
    }
}

/// Where an account sits: its unit, the region subtree it works in, and for leaders the leader
/// record it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Placement<'a> {
    pub unit: Option<crate::domain::ids::UnitId>,
    pub scope_region: Option<&'a str>,
    pub leader: Option<crate::domain::ids::LeaderId>,
}

/// Check that a role and a placement fit together; the error names the offending field.
pub fn check_placement(role: Role, p: Placement<'_>) -> Result<(), (&'static str, &'static str)> {
    match role {
        Role::Integration => Err((
            "role",
            "integration accounts are integration clients (client credentials), not users",
        )),
        Role::Citizen if p.unit.is_some() => Err(("unit_id", "citizens belong to no unit")),
        Role::Citizen if p.scope_region.is_some() => {
            Err(("scope_region_code", "citizens have no region scope"))
        }
        r if r.requires_unit() && p.unit.is_none() => Err(("unit_id", "this role needs a unit")),
        r if !r.works_in_region() && r != Role::Admin && p.scope_region.is_some() => Err((
            "scope_region_code",
            "region scopes are for supervisors, leaders and analysts; unit staff work in their unit's territory",
        )),
        Role::Supervisor if p.scope_region.is_none() => Err((
            "scope_region_code",
            "a supervisor needs the region subtree they supervise",
        )),
        Role::Analyst if p.scope_region.is_none() => Err((
            "scope_region_code",
            "an analyst needs the region subtree they analyse",
        )),
        Role::Leader if p.scope_region.is_none() => Err((
            "scope_region_code",
            "a leader needs a region: link the account to its leader record (`leader_id`), whose region it takes, or give one",
        )),
        r if r != Role::Leader && p.leader.is_some() => Err((
            "leader_id",
            "only accounts with role `leader` link to a leader",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{LeaderId, UnitId};

    fn place(unit: bool, region: bool, leader: bool) -> Placement<'static> {
        Placement {
            unit: unit.then(UnitId::new),
            scope_region: region.then_some("620000"),
            leader: leader.then(LeaderId::new),
        }
    }

    #[test]
    fn placements() {
        assert!(check_placement(Role::Citizen, place(false, false, false)).is_ok());
        assert_eq!(
            check_placement(Role::Citizen, place(true, false, false))
                .unwrap_err()
                .0,
            "unit_id"
        );
        assert_eq!(
            check_placement(Role::Handler, place(false, false, false))
                .unwrap_err()
                .0,
            "unit_id"
        );
        assert!(check_placement(Role::Handler, place(true, false, false)).is_ok());
        for unit_role in [Role::Handler, Role::UnitAdmin, Role::Reviewer] {
            assert_eq!(
                check_placement(unit_role, place(true, true, false))
                    .unwrap_err()
                    .0,
                "scope_region_code"
            );
        }
        assert_eq!(
            check_placement(Role::Supervisor, place(true, false, false))
                .unwrap_err()
                .0,
            "scope_region_code"
        );
        assert!(check_placement(Role::Supervisor, place(true, true, false)).is_ok());
        assert!(check_placement(Role::Leader, place(false, true, true)).is_ok());
        // Every role that works in a region needs one.
        for role in [Role::Supervisor, Role::Leader, Role::Analyst] {
            assert_eq!(
                check_placement(role, place(false, false, role == Role::Leader))
                    .unwrap_err()
                    .0,
                "scope_region_code",
                "{role}"
            );
        }
        assert_eq!(
            check_placement(Role::Admin, place(false, false, true))
                .unwrap_err()
                .0,
            "leader_id"
        );
        assert_eq!(
            check_placement(Role::Integration, place(false, false, false))
                .unwrap_err()
                .0,
            "role"
        );
    }

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(*r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
