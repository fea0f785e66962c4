//! The access model's table: which relation to a message sees which of its rows and which
//! classes of its fields (docs/ACCESS.md). The README and docs/ACCESS.md show this table as
//! [`relations_markdown`] renders it (`liuyan access-model` prints it; a test fails when the
//! documents drift), and the privacy matrix test (tests/api/privacy_matrix.rs) takes what
//! each identity may read from it, so the documentation, the test and the code agree.

/// How much of a field class a relation sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sees {
    All,
    /// Part of the class: the fields named.
    Part(&'static [PersonalField]),
    /// Only together with another data scope (integration clients).
    With(&'static str),
    Nothing,
}

/// The author's personal data, field by field (the `personal` class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalField {
    /// The author's account id.
    Account,
    /// Name, phone and e-mail given as contact data, and the account's own.
    Contact,
    Address,
    Location,
    /// Attachments marked private (an ID card, a contract).
    PrivateAttachments,
}

impl PersonalField {
    pub fn as_str(self) -> &'static str {
        match self {
            PersonalField::Account => "account id",
            PersonalField::Contact => "contact",
            PersonalField::Address => "address",
            PersonalField::Location => "location",
            PersonalField::PrivateAttachments => "private attachments",
        }
    }
}

impl Sees {
    /// Whether the relation sees `field` of the personal class (`With` counts as not: the
    /// relation alone does not).
    pub fn covers(self, field: PersonalField) -> bool {
        match self {
            Sees::All => true,
            Sees::Part(fields) => fields.contains(&field),
            Sees::With(_) | Sees::Nothing => false,
        }
    }

    pub fn any(self) -> bool {
        matches!(self, Sees::All | Sees::Part(_))
    }

    fn cell(self) -> String {
        match self {
            Sees::All => "✓".into(),
            Sees::Part(fields) => fields
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            Sees::With(scope) => format!("(with `{scope}`)"),
            Sees::Nothing => "—".into(),
        }
    }
}

/// Which messages a relation reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// Public, accepted messages (the board's).
    Public,
    /// Private messages too (only those the relation holds).
    Private,
    /// Private messages only together with another data scope.
    PrivateWith(&'static str),
}

/// One relation between a caller and a message.
#[derive(Debug)]
pub struct Relation {
    /// A stable key (tests name relations by it).
    pub key: &'static str,
    /// Who holds it and how it is established.
    pub who: &'static str,
    /// Which messages, in words.
    pub rows_text: &'static str,
    pub rows: Rows,
    /// Titles, bodies and reply texts as written (personal data inside free text unmasked).
    pub text: Sees,
    pub personal: Sees,
    /// Internal working content.
    pub internal: bool,
}

const STAFF_PERSONAL: &[PersonalField] = &[
    PersonalField::Account,
    PersonalField::Address,
    PersonalField::Location,
    PersonalField::PrivateAttachments,
];

/// The table. Every relation sees the `public` class of the messages it reaches.
pub const RELATIONS: &[Relation] = &[
    Relation {
        key: "anonymous",
        who: "anyone, no account (the public board, Open311)",
        rows_text: "public, accepted messages",
        rows: Rows::Public,
        text: Sees::Nothing,
        personal: Sees::Nothing,
        internal: false,
    },
    Relation {
        key: "stranger",
        who: "any other account: a citizen who is not the author, unit staff with no part in \
              it, a supervisor, leader or analyst outside their region",
        rows_text: "public, accepted messages",
        rows: Rows::Public,
        text: Sees::Nothing,
        personal: Sees::Nothing,
        internal: false,
    },
    Relation {
        key: "author",
        who: "the author",
        rows_text: "own messages",
        rows: Rows::Private,
        text: Sees::All,
        personal: Sees::All,
        internal: false,
    },
    Relation {
        key: "handling_unit",
        who: "a unit handling it (open or completed assignment, lead or co-handler)",
        rows_text: "those messages",
        rows: Rows::Private,
        text: Sees::All,
        personal: Sees::All,
        internal: true,
    },
    Relation {
        key: "intake_unit",
        who: "the intake unit (the liaison office of the addressed leader)",
        rows_text: "its intake",
        rows: Rows::Private,
        text: Sees::All,
        personal: Sees::All,
        internal: true,
    },
    Relation {
        key: "claiming_unit",
        who: "a unit whose territory holds it, for claiming",
        rows_text: "public, accepted, unassigned messages",
        rows: Rows::Public,
        text: Sees::Nothing,
        personal: Sees::Nothing,
        internal: false,
    },
    Relation {
        key: "region_staff",
        who: "supervisors, leaders and analysts of the region (the account's scope covers the \
              message's region)",
        rows_text: "their region subtree",
        rows: Rows::Private,
        text: Sees::All,
        personal: Sees::Part(STAFF_PERSONAL),
        internal: true,
    },
    Relation {
        key: "admin",
        who: "administrators",
        rows_text: "all",
        rows: Rows::Private,
        text: Sees::All,
        personal: Sees::Part(STAFF_PERSONAL),
        internal: true,
    },
    Relation {
        key: "client",
        who: "an integration client with no data scopes",
        rows_text: "public messages of its region subtree (the whole province without one)",
        rows: Rows::Public,
        text: Sees::Nothing,
        personal: Sees::Nothing,
        internal: false,
    },
    Relation {
        key: "client_personal",
        who: "an integration client with `sync:personal`",
        rows_text: "its region subtree, private messages too",
        rows: Rows::Private,
        text: Sees::All,
        personal: Sees::All,
        internal: false,
    },
    Relation {
        key: "client_internal",
        who: "an integration client with `sync:internal`",
        rows_text: "its region subtree; private messages only with `sync:personal` too",
        rows: Rows::PrivateWith("sync:personal"),
        text: Sees::With("sync:personal"),
        personal: Sees::With("sync:personal"),
        internal: true,
    },
];

/// The relation with this key.
pub fn relation(key: &str) -> Option<&'static Relation> {
    RELATIONS.iter().find(|r| r.key == key)
}

/// The first line of the generated table in the README and docs/ACCESS.md.
pub const BEGIN_MARK: &str = "<!-- access-model:begin (generated by `liuyan access-model`) -->";
pub const END_MARK: &str = "<!-- access-model:end -->";

/// The table as Markdown, between its marks.
pub fn relations_markdown() -> String {
    let mut out = format!(
        "{BEGIN_MARK}\n| relation | rows | public | text | personal | internal |\n\
         |---|---|---|---|---|---|\n"
    );
    for r in RELATIONS {
        out.push_str(&format!(
            "| {} (`{}`) | {} | ✓ | {} | {} | {} |\n",
            r.who,
            r.key,
            r.rows_text,
            r.text.cell(),
            r.personal.cell(),
            if r.internal { "✓" } else { "—" },
        ));
    }
    out.push_str(END_MARK);
    out.push('\n');
    out
}

/// `doc` with its generated table replaced by the current one; `None` when the marks are
/// missing.
pub fn with_current_table(doc: &str) -> Option<String> {
    crate::domain::generated_block::replace_block(doc, BEGIN_MARK, END_MARK, &relations_markdown())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_found() {
        for r in RELATIONS {
            assert_eq!(RELATIONS.iter().filter(|x| x.key == r.key).count(), 1);
            assert!(relation(r.key).is_some());
        }
    }

    #[test]
    fn nobody_without_rows_of_private_messages_reads_personal_data() {
        for r in RELATIONS.iter().filter(|r| r.rows == Rows::Public) {
            assert!(!r.text.any() && !r.personal.any(), "{}", r.key);
        }
    }

    #[test]
    fn the_table_replaces_itself() {
        let doc = format!("before\n{}after\n", relations_markdown());
        assert_eq!(with_current_table(&doc).as_deref(), Some(doc.as_str()));
        let stale = format!("before\n{BEGIN_MARK}\nold\n{END_MARK}\nafter\n");
        assert_eq!(with_current_table(&stale).as_deref(), Some(doc.as_str()));
        assert_eq!(with_current_table("no marks"), None);
    }
}
