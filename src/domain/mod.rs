//! Pure domain types and rules: no I/O, no diesel queries, no HTTP.

pub mod addresses;
pub mod alerts;
pub mod assessments;
pub mod briefings;
pub mod calendar;
pub mod change_type;
pub mod client_scope;
pub mod generated_block;
pub mod handling;
pub mod ids;
pub mod import;
pub mod input;
pub mod ledger;
pub mod message;
pub mod open311;
pub mod personal_data;
pub mod quota;
pub mod reference;
pub mod reply;
pub mod role;
pub mod search;
pub mod statistics;
pub mod status_diagram;
pub mod text;
pub mod webhooks;

/// Declare a string-backed enum that serialises as snake_case in JSON, is a `text` column in
/// PostgreSQL (guarded there by a CHECK constraint) and an `enum` in the OpenAPI spec.
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
                 utoipa::ToSchema, diesel::AsExpression, diesel::FromSqlRow)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        // Every text is the snake_case of its variant (a test checks): utoipa reads the
        // enum-level rename, so the spec and the wire agree.
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }

            /// The JSON spelling must be the database spelling.
            #[cfg(test)]
            pub fn assert_wire_names() {
                for v in Self::ALL {
                    assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(v.as_str()));
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::parse(s).ok_or_else(|| format!(
                    "unknown {} `{}`; expected one of: {}",
                    stringify!($name), s,
                    [$($text),+].join(", ")))
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>)
                -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(
                    self.as_str(), out)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let s = <String as diesel::deserialize::FromSql<
                    diesel::sql_types::Text, diesel::pg::Pg>>::from_sql(bytes)?;
                Self::parse(&s).ok_or_else(|| format!(
                    "unexpected {} value in database: {s}", stringify!($name)).into())
            }
        }
    };
}

/// Checks that free text can be stored and shown: no control characters but line breaks and
/// tabs (PostgreSQL cannot store NUL at all).
pub fn validate_text(s: &str) -> Result<(), validator::ValidationError> {
    if s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        let mut e = validator::ValidationError::new("format");
        e.message = Some("must not contain control characters".into());
        return Err(e);
    }
    Ok(())
}

/// Like [`validate_text`], for one line: no control characters at all.
pub fn validate_line(s: &str) -> Result<(), validator::ValidationError> {
    if s.chars().any(char::is_control) {
        let mut e = validator::ValidationError::new("format");
        e.message = Some("must not contain control characters".into());
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn enums_use_their_database_spelling_on_the_wire() {
        super::role::Role::assert_wire_names();
        super::reference::RegionLevel::assert_wire_names();
        super::reference::UnitKind::assert_wire_names();
        super::message::MessageStatus::assert_wire_names();
        super::message::MessageAction::assert_wire_names();
        super::message::MessageKind::assert_wire_names();
        super::message::Priority::assert_wire_names();
        super::message::Visibility::assert_wire_names();
        super::message::MessageSource::assert_wire_names();
        super::message::RejectionReason::assert_wire_names();
        crate::routes::auth::GrantType::assert_wire_names();
    }

    #[test]
    fn free_text_allows_line_breaks_only() {
        assert!(super::validate_text("第一行\n第二行\t好").is_ok());
        assert!(super::validate_text("a\u{0}b").is_err());
        assert!(super::validate_text("a\u{7}b").is_err());
    }
}
