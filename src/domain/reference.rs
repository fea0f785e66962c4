//! Reference-data vocabularies: region levels and unit kinds.

crate::text_enum! {
    /// Level of an administrative division (GB/T 2260).
    pub enum RegionLevel {
        Province => "province",
        City => "city",
        County => "county",
    }
}

impl RegionLevel {
    /// The level a child of this level has, if any.
    pub fn child(self) -> Option<RegionLevel> {
        match self {
            RegionLevel::Province => Some(RegionLevel::City),
            RegionLevel::City => Some(RegionLevel::County),
            RegionLevel::County => None,
        }
    }
}

crate::text_enum! {
    /// What kind of organisation a unit is.
    pub enum UnitKind {
        /// General office of a party committee (党委办公厅/室).
        PartyCommitteeOffice => "party_committee_office",
        /// General office of a government (政府办公厅/室).
        GovernmentOffice => "government_office",
        /// A functional department (e.g. the transport bureau).
        Department => "department",
        /// A district or county government.
        DistrictGovernment => "district_government",
        /// The office that collects and dispatches messages (留言办理工作机构).
        LiaisonOffice => "liaison_office",
        /// The supervision office (督查室) that tracks deadlines.
        SupervisionOffice => "supervision_office",
    }
}

/// The materialised path of a region: its parent's path plus its own code and a slash.
pub fn region_path(parent_path: Option<&str>, code: &str) -> String {
    format!("{}{code}/", parent_path.unwrap_or(""))
}

/// GB/T 2260 codes are six digits; the level must agree with the code's shape: a province ends
/// in `0000`, a city in `00` (but not `0000`), a county in anything else.
pub fn check_region_code(code: &str, level: RegionLevel) -> Result<(), &'static str> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be six digits (GB/T 2260)");
    }
    let shape = if code.ends_with("0000") {
        RegionLevel::Province
    } else if code.ends_with("00") {
        RegionLevel::City
    } else {
        RegionLevel::County
    };
    if shape != level {
        return Err("does not match the level (province ends in 0000, city in 00)");
    }
    Ok(())
}

/// A child code must share its parent's prefix (2 digits for a province, 4 for a city).
pub fn check_region_parent(code: &str, parent_code: &str, parent_level: RegionLevel) -> bool {
    let prefix = match parent_level {
        RegionLevel::Province => 2,
        RegionLevel::City => 4,
        RegionLevel::County => return false,
    };
    code.get(..prefix) == parent_code.get(..prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_codes_follow_their_level() {
        assert!(check_region_code("620000", RegionLevel::Province).is_ok());
        assert!(check_region_code("620100", RegionLevel::City).is_ok());
        assert!(check_region_code("620102", RegionLevel::County).is_ok());
        assert!(check_region_code("620100", RegionLevel::Province).is_err());
        assert!(check_region_code("620102", RegionLevel::City).is_err());
        assert!(check_region_code("62010", RegionLevel::County).is_err());
        assert!(check_region_code("62a102", RegionLevel::County).is_err());
    }

    #[test]
    fn children_share_the_parent_prefix() {
        assert!(check_region_parent(
            "620100",
            "620000",
            RegionLevel::Province
        ));
        assert!(!check_region_parent(
            "630100",
            "620000",
            RegionLevel::Province
        ));
        assert!(check_region_parent("620102", "620100", RegionLevel::City));
        assert!(!check_region_parent("620502", "620100", RegionLevel::City));
        assert!(!check_region_parent(
            "620102",
            "620102",
            RegionLevel::County
        ));
    }

    #[test]
    fn paths_nest() {
        let p = region_path(None, "620000");
        assert_eq!(p, "620000/");
        assert_eq!(region_path(Some(&p), "620100"), "620000/620100/");
    }
}
