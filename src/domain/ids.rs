//! Typed identifiers: a `UnitId` cannot be passed where a `UserId` is expected. They are UUIDv7
//! (time-ordered, so primary-key order is creation order and index inserts stay local).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $example:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
                 diesel_derive_newtype::DieselNewType, utoipa::ToSchema)]
        #[schema(value_type = String, format = Uuid, example = $example)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// Identifier of a user account.
    UserId, "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b"
);
id_type!(
    /// Identifier of a responsible unit.
    UnitId, "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c"
);
id_type!(
    /// Identifier of a leader messages are addressed to.
    LeaderId, "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a3d"
);
id_type!(
    /// Identifier of a message category (topic).
    CategoryId, "01930000-0000-7000-8000-000000000002"
);
id_type!(
    /// Identifier of a unit's assignment to a message.
    AssignmentId, "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b01"
);
id_type!(
    /// Identifier of a deadline.
    DeadlineId, "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b02"
);
id_type!(
    /// Identifier of an extension request.
    ExtensionId, "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b03"
);
id_type!(
    /// Identifier of a supervision case.
    SupervisionId, "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b04"
);
id_type!(
    /// Identifier of a clarification request.
    ClarificationId, "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b05"
);
id_type!(
    /// A reply of the lead unit (draft to published).
    ReplyId, "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b06"
);
id_type!(
    /// The author's rating of a final reply.
    FeedbackId, "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b07"
);
id_type!(
    /// A return visit or on-site check.
    VisitId, "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b08"
);
id_type!(
    /// An early-warning rule.
    AlertRuleId, "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b09"
);
id_type!(
    /// An alert raised by an early-warning rule.
    AlertId, "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b0a"
);
id_type!(
    /// A weekly briefing (摘报).
    BriefingId, "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b0b"
);
