//! Who may do what: the one table of role permissions, and the object-level rules.
//!
//! [`OPERATION_RULES`] is enforced once, by `auth::guard`, before a request reaches its handler
//! (and before its body is read); the spec shows, per operation, the roles this table allows
//! (`x-allowed-roles`, added from the same table; a test checks every operation has a rule).

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
    /// Write a message (citizens), or register one for a citizen (staff of the leader's unit).
    SubmitMessage,
    /// List and read messages (object-level: what lies in the reader's scope, see `message_access`).
    ReadMessages,
    /// Classify, accept and reject messages (object-level: the intake unit, supervisors in scope).
    IntakeMessages,
    /// Withdraw or amend and resubmit one's own message.
    AuthorMessages,
    /// Assign and transfer messages, read routing suggestions (object-level: `may_intake`, or a
    /// supervisor in scope).
    AssignMessages,
    /// Claim, sign for, return and work on assignments (object-level: the assigned unit; for
    /// claims, a unit whose territory contains the message).
    HandleAssignments,
    /// Read assignments, deadlines, extension requests and supervision cases (object-level: a
    /// unit sees its own; supervisors, analysts and leaders their region subtree).
    ReadHandling,
    /// Decide extension requests; open and close supervision cases (object-level: region scope).
    Supervise,
    /// Record a leader's instruction (leaders for themselves; liaison staff recording for the
    /// addressed leader).
    InstructMessages,
    /// Answer a clarification request (the author, or the lead unit recording a phone answer).
    AnswerClarification,
    /// Read the handling catalogues: working-day calendar, deadline policies, dispatch rules.
    ReadHandlingCatalogues,
    /// Change the handling catalogues.
    ManageHandlingCatalogues,
    /// Approve or return replies (object-level: reviewers of the reply's reviewing unit who
    /// wrote none of it).
    ReviewReplies,
    /// Publish approved replies (object-level: the replying unit or the reviewing unit).
    PublishReplies,
    /// Rate the final reply to one's own message.
    GiveFeedback,
    /// Read statistics and rankings (object-level: unit staff their own unit's figures;
    /// supervisors, analysts and leaders their region subtree).
    ReadStatistics,
    /// Change the statistics settings (the rankings' minimum sample).
    ManageStatistics,
    /// Create, change and rotate the secrets of integration clients (service accounts).
    ManageIntegrationClients,
    /// Subscribe to webhooks, change them, rotate their secrets and redeliver (integration
    /// clients with the `webhooks:manage` scope; object-level: their own subscriptions only).
    ManageWebhooks,
    /// Read webhook subscriptions and their delivery logs (object-level: an integration client
    /// with the `webhooks:manage` scope its own; administrators every client's, to trace a
    /// delivery a receiving platform says it never got).
    ReadWebhooks,
    /// Use the sync API: imports, the change feed, acknowledgements (integration clients; each
    /// operation also checks the token's scope).
    Synchronise,
    /// Read unit assessments (object-level: unit staff their own unit's scorecard; supervisors,
    /// analysts and leaders the units of their region subtree).
    ReadAssessments,
    /// Close and restate assessment periods and set the score's weights.
    ManageAssessments,
    /// Read early-warning alerts (object-level: those in the reader's region subtree) and the
    /// alert rules.
    ReadAlerts,
    /// Acknowledge alerts (object-level: those in the caller's region subtree).
    AcknowledgeAlerts,
    /// Create, change and deactivate alert rules (object-level: an analyst's rules lie in their
    /// region subtree).
    ManageAlertRules,
    /// Read weekly briefings (object-level: editors those of their territory; leaders the
    /// submitted ones of their region subtree).
    ReadBriefings,
    /// Compile briefings: create, pick items, write summaries, submit (object-level: staff of a
    /// liaison office — a leader's intake unit — for its territory, supervisors for their region,
    /// administrators everywhere).
    EditBriefings,
    /// Record instructions on a briefing's items and mark it reviewed (object-level: leaders of
    /// the briefing's region).
    ReviewBriefings,
    /// File messages through the Open311 facade (`POST /open311/v2/requests.json`): integration
    /// clients, which must also hold the scope `sync:write`.
    SubmitOpen311Requests,
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
            Permission::SubmitMessage => &[Citizen, Handler, UnitAdmin, Admin],
            Permission::ReadMessages => PEOPLE,
            Permission::IntakeMessages => &[Handler, UnitAdmin, Reviewer, Supervisor, Admin],
            Permission::AuthorMessages => &[Citizen],
            Permission::AssignMessages => &[Handler, UnitAdmin, Supervisor, Admin],
            Permission::HandleAssignments => &[Handler, UnitAdmin],
            Permission::ReadHandling => &[
                Handler, UnitAdmin, Reviewer, Supervisor, Leader, Analyst, Admin,
            ],
            Permission::Supervise => &[Supervisor, Admin],
            Permission::InstructMessages => &[Leader, Handler, UnitAdmin, Admin],
            Permission::AnswerClarification => &[Citizen, Handler, UnitAdmin],
            Permission::ReadHandlingCatalogues => &[
                Handler,
                UnitAdmin,
                Reviewer,
                Supervisor,
                Leader,
                Analyst,
                Admin,
                Integration,
            ],
            Permission::ManageHandlingCatalogues => &[Admin],
            Permission::ReviewReplies => &[Reviewer, UnitAdmin],
            Permission::PublishReplies => &[Handler, UnitAdmin, Reviewer],
            Permission::GiveFeedback => &[Citizen],
            Permission::ReadStatistics => &[
                Handler, UnitAdmin, Reviewer, Supervisor, Leader, Analyst, Admin,
            ],
            Permission::ManageStatistics => &[Admin],
            Permission::ManageIntegrationClients => &[Admin],
            Permission::ManageWebhooks => &[Integration],
            Permission::ReadWebhooks => &[Admin, Integration],
            Permission::Synchronise => &[Integration],
            Permission::ReadAssessments => &[
                Handler, UnitAdmin, Reviewer, Supervisor, Leader, Analyst, Admin,
            ],
            Permission::ManageAssessments => &[Admin],
            Permission::ReadAlerts => &[Supervisor, Leader, Analyst, Admin],
            Permission::AcknowledgeAlerts => &[Supervisor, Analyst, Admin],
            Permission::ManageAlertRules => &[Analyst, Admin],
            Permission::ReadBriefings => &[Handler, UnitAdmin, Reviewer, Supervisor, Leader, Admin],
            Permission::EditBriefings => &[Handler, UnitAdmin, Reviewer, Supervisor, Admin],
            Permission::ReviewBriefings => &[Leader],
            Permission::SubmitOpen311Requests => &[Integration],
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
            Permission::SubmitMessage => "submit messages",
            Permission::ReadMessages => "read messages",
            Permission::IntakeMessages => "classify, accept or reject messages",
            Permission::AuthorMessages => "withdraw or resubmit messages",
            Permission::AssignMessages => "assign messages to units",
            Permission::HandleAssignments => "sign for, return and work on assignments",
            Permission::ReadHandling => "read assignments, deadlines and supervision cases",
            Permission::Supervise => "decide extensions and run supervision cases",
            Permission::InstructMessages => "record leaders' instructions",
            Permission::AnswerClarification => "answer clarification requests",
            Permission::ReadHandlingCatalogues => "read the handling catalogues",
            Permission::ManageHandlingCatalogues => "manage the handling catalogues",
            Permission::ReviewReplies => "review replies",
            Permission::PublishReplies => "publish replies",
            Permission::GiveFeedback => "rate replies",
            Permission::ReadStatistics => "read statistics",
            Permission::ManageStatistics => "change the statistics settings",
            Permission::ManageIntegrationClients => "manage integration clients",
            Permission::ManageWebhooks => "manage webhook subscriptions",
            Permission::ReadWebhooks => "read webhook subscriptions",
            Permission::Synchronise => "use the sync API",
            Permission::ReadAssessments => "read unit assessments",
            Permission::ManageAssessments => "close and restate assessments and set their weights",
            Permission::ReadAlerts => "read early-warning alerts and rules",
            Permission::AcknowledgeAlerts => "acknowledge alerts",
            Permission::ManageAlertRules => "manage alert rules",
            Permission::ReadBriefings => "read briefings",
            Permission::EditBriefings => "compile briefings",
            Permission::ReviewBriefings => "review briefings",
            Permission::SubmitOpen311Requests => "file Open311 service requests",
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
    ("create_message", Rule::Requires(Permission::SubmitMessage)),
    ("list_messages", Rule::Requires(Permission::ReadMessages)),
    ("get_message", Rule::Requires(Permission::ReadMessages)),
    (
        "get_message_by_tracking_no",
        Rule::Requires(Permission::ReadMessages),
    ),
    (
        "classify_message",
        Rule::Requires(Permission::IntakeMessages),
    ),
    ("accept_message", Rule::Requires(Permission::IntakeMessages)),
    ("reject_message", Rule::Requires(Permission::IntakeMessages)),
    (
        "withdraw_message",
        Rule::Requires(Permission::AuthorMessages),
    ),
    (
        "resubmit_message",
        Rule::Requires(Permission::AuthorMessages),
    ),
    (
        "list_message_events",
        Rule::Requires(Permission::ReadMessages),
    ),
    (
        "verify_message_events",
        Rule::Requires(Permission::ReadMessages),
    ),
    // The public board: no account, no personal data.
    ("list_public_messages", Rule::Public),
    ("get_public_message", Rule::Public),
    ("get_public_leader_stats", Rule::Public),
    // Handling.
    (
        "create_assignment",
        Rule::Requires(Permission::AssignMessages),
    ),
    (
        "list_message_assignments",
        Rule::Requires(Permission::ReadHandling),
    ),
    (
        "claim_message",
        Rule::Requires(Permission::HandleAssignments),
    ),
    ("list_assignments", Rule::Requires(Permission::ReadHandling)),
    ("get_assignment", Rule::Requires(Permission::ReadHandling)),
    (
        "sign_for_assignment",
        Rule::Requires(Permission::HandleAssignments),
    ),
    (
        "return_assignment",
        Rule::Requires(Permission::HandleAssignments),
    ),
    (
        "transfer_assignment",
        Rule::Requires(Permission::AssignMessages),
    ),
    (
        "contribute_assignment",
        Rule::Requires(Permission::HandleAssignments),
    ),
    (
        "request_clarification",
        Rule::Requires(Permission::HandleAssignments),
    ),
    (
        "answer_clarification",
        Rule::Requires(Permission::AnswerClarification),
    ),
    (
        "list_clarifications",
        Rule::Requires(Permission::ReadMessages),
    ),
    (
        "request_extension",
        Rule::Requires(Permission::HandleAssignments),
    ),
    ("list_extensions", Rule::Requires(Permission::ReadHandling)),
    ("approve_extension", Rule::Requires(Permission::Supervise)),
    ("reject_extension", Rule::Requires(Permission::Supervise)),
    ("list_deadlines", Rule::Requires(Permission::ReadHandling)),
    (
        "get_deadline_explanation",
        Rule::Requires(Permission::ReadHandling),
    ),
    ("create_supervision", Rule::Requires(Permission::Supervise)),
    (
        "list_supervisions",
        Rule::Requires(Permission::ReadHandling),
    ),
    ("get_supervision", Rule::Requires(Permission::ReadHandling)),
    (
        "add_supervision_report",
        Rule::Requires(Permission::HandleAssignments),
    ),
    ("close_supervision", Rule::Requires(Permission::Supervise)),
    (
        "create_instruction",
        Rule::Requires(Permission::InstructMessages),
    ),
    // Leaders' instructions are internal working content: never the author's to read.
    (
        "list_instructions",
        Rule::Requires(Permission::ReadHandling),
    ),
    (
        "list_calendar_days",
        Rule::Requires(Permission::ReadHandlingCatalogues),
    ),
    (
        "put_calendar_day",
        Rule::Requires(Permission::ManageHandlingCatalogues),
    ),
    (
        "delete_calendar_day",
        Rule::Requires(Permission::ManageHandlingCatalogues),
    ),
    (
        "list_deadline_policies",
        Rule::Requires(Permission::ReadHandlingCatalogues),
    ),
    (
        "get_deadline_policy",
        Rule::Requires(Permission::ReadHandlingCatalogues),
    ),
    (
        "create_deadline_policy",
        Rule::Requires(Permission::ManageHandlingCatalogues),
    ),
    (
        "update_deadline_policy",
        Rule::Requires(Permission::ManageHandlingCatalogues),
    ),
    (
        "list_dispatch_rules",
        Rule::Requires(Permission::ReadHandlingCatalogues),
    ),
    (
        "get_dispatch_rule",
        Rule::Requires(Permission::ReadHandlingCatalogues),
    ),
    (
        "create_dispatch_rule",
        Rule::Requires(Permission::ManageHandlingCatalogues),
    ),
    (
        "update_dispatch_rule",
        Rule::Requires(Permission::ManageHandlingCatalogues),
    ),
    (
        "get_routing_suggestions",
        Rule::Requires(Permission::AssignMessages),
    ),
    // Replies.
    (
        "create_reply",
        Rule::Requires(Permission::HandleAssignments),
    ),
    (
        "revise_reply",
        Rule::Requires(Permission::HandleAssignments),
    ),
    (
        "submit_reply",
        Rule::Requires(Permission::HandleAssignments),
    ),
    (
        "discard_reply",
        Rule::Requires(Permission::HandleAssignments),
    ),
    ("approve_reply", Rule::Requires(Permission::ReviewReplies)),
    ("return_reply", Rule::Requires(Permission::ReviewReplies)),
    ("publish_reply", Rule::Requires(Permission::PublishReplies)),
    (
        "list_message_replies",
        Rule::Requires(Permission::ReadMessages),
    ),
    ("get_reply", Rule::Requires(Permission::ReadMessages)),
    (
        "list_reply_revisions",
        Rule::Requires(Permission::ReadHandling),
    ),
    ("list_replies", Rule::Requires(Permission::ReadHandling)),
    (
        "get_reply_policy",
        Rule::Requires(Permission::ReadHandlingCatalogues),
    ),
    (
        "put_reply_policy",
        Rule::Requires(Permission::ManageHandlingCatalogues),
    ),
    // Feedback, reopening, closing.
    ("rate_reply", Rule::Requires(Permission::GiveFeedback)),
    (
        "list_message_feedback",
        Rule::Requires(Permission::ReadMessages),
    ),
    ("list_feedback", Rule::Requires(Permission::ReadHandling)),
    ("reopen_message", Rule::Requires(Permission::Supervise)),
    ("close_message", Rule::Requires(Permission::Supervise)),
    // Return visits.
    ("create_visit", Rule::Requires(Permission::Supervise)),
    ("sample_visits", Rule::Requires(Permission::Supervise)),
    ("list_visits", Rule::Requires(Permission::ReadHandling)),
    ("get_visit", Rule::Requires(Permission::ReadHandling)),
    ("record_visit", Rule::Requires(Permission::Supervise)),
    (
        "statistics_summary",
        Rule::Requires(Permission::ReadStatistics),
    ),
    (
        "statistics_breakdown",
        Rule::Requires(Permission::ReadStatistics),
    ),
    (
        "statistics_timeseries",
        Rule::Requires(Permission::ReadStatistics),
    ),
    ("export_ledger", Rule::Requires(Permission::ReadStatistics)),
    (
        "get_statistics_policy",
        Rule::Requires(Permission::ReadStatistics),
    ),
    (
        "put_statistics_policy",
        Rule::Requires(Permission::ManageStatistics),
    ),
    // Integration clients.
    (
        "create_integration_client",
        Rule::Requires(Permission::ManageIntegrationClients),
    ),
    (
        "list_integration_clients",
        Rule::Requires(Permission::ManageIntegrationClients),
    ),
    (
        "get_integration_client",
        Rule::Requires(Permission::ManageIntegrationClients),
    ),
    (
        "update_integration_client",
        Rule::Requires(Permission::ManageIntegrationClients),
    ),
    (
        "rotate_integration_client_secret",
        Rule::Requires(Permission::ManageIntegrationClients),
    ),
    // Webhooks.
    ("create_webhook", Rule::Requires(Permission::ManageWebhooks)),
    ("list_webhooks", Rule::Requires(Permission::ReadWebhooks)),
    ("get_webhook", Rule::Requires(Permission::ReadWebhooks)),
    ("update_webhook", Rule::Requires(Permission::ManageWebhooks)),
    ("delete_webhook", Rule::Requires(Permission::ManageWebhooks)),
    (
        "rotate_webhook_secret",
        Rule::Requires(Permission::ManageWebhooks),
    ),
    (
        "list_webhook_deliveries",
        Rule::Requires(Permission::ReadWebhooks),
    ),
    (
        "get_webhook_delivery",
        Rule::Requires(Permission::ReadWebhooks),
    ),
    (
        "redeliver_webhook_delivery",
        Rule::Requires(Permission::ManageWebhooks),
    ),
    // The sync API (integration clients; scopes checked in the handlers).
    ("import_messages", Rule::Requires(Permission::Synchronise)),
    ("import_replies", Rule::Requires(Permission::Synchronise)),
    ("list_changes", Rule::Requires(Permission::Synchronise)),
    (
        "list_unacknowledged_replies",
        Rule::Requires(Permission::Synchronise),
    ),
    ("acknowledge_reply", Rule::Requires(Permission::Synchronise)),
    // Assessments.
    (
        "get_assessment",
        Rule::Requires(Permission::ReadAssessments),
    ),
    (
        "close_assessment",
        Rule::Requires(Permission::ManageAssessments),
    ),
    (
        "restate_assessment",
        Rule::Requires(Permission::ManageAssessments),
    ),
    (
        "list_restatements",
        Rule::Requires(Permission::ReadAssessments),
    ),
    (
        "get_assessment_weights",
        Rule::Requires(Permission::ReadAssessments),
    ),
    (
        "put_assessment_weights",
        Rule::Requires(Permission::ManageAssessments),
    ),
    // Early warning.
    ("list_alert_rules", Rule::Requires(Permission::ReadAlerts)),
    ("get_alert_rule", Rule::Requires(Permission::ReadAlerts)),
    (
        "create_alert_rule",
        Rule::Requires(Permission::ManageAlertRules),
    ),
    (
        "update_alert_rule",
        Rule::Requires(Permission::ManageAlertRules),
    ),
    ("list_alerts", Rule::Requires(Permission::ReadAlerts)),
    ("get_alert", Rule::Requires(Permission::ReadAlerts)),
    (
        "acknowledge_alert",
        Rule::Requires(Permission::AcknowledgeAlerts),
    ),
    // Weekly briefings.
    ("create_briefing", Rule::Requires(Permission::EditBriefings)),
    ("list_briefings", Rule::Requires(Permission::ReadBriefings)),
    ("get_briefing", Rule::Requires(Permission::ReadBriefings)),
    (
        "put_briefing_items",
        Rule::Requires(Permission::EditBriefings),
    ),
    ("submit_briefing", Rule::Requires(Permission::EditBriefings)),
    (
        "instruct_briefing_item",
        Rule::Requires(Permission::ReviewBriefings),
    ),
    (
        "review_briefing",
        Rule::Requires(Permission::ReviewBriefings),
    ),
    (
        "get_briefing_document",
        Rule::Requires(Permission::ReadBriefings),
    ),
    // Open311 GeoReport v2 facade: reads are public (the public board), filing needs an api_key.
    ("open311_discovery", Rule::Public),
    ("open311_list_services", Rule::Public),
    ("open311_get_service_definition", Rule::Public),
    (
        "open311_create_request",
        Rule::Requires(Permission::SubmitOpen311Requests),
    ),
    ("open311_list_requests", Rule::Public),
    ("open311_get_request", Rule::Public),
    ("open311_list_request_updates", Rule::Public),
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

/// May `actor_role` set an account's region scope or leader link? Only administrators: a
/// scope widens what an account reads, so nobody grants one to themselves or their unit.
pub fn may_place_in_region(actor_role: Role) -> bool {
    actor_role == Admin
}

/// The facts about a message that decide who may see it.
#[derive(Debug, Clone, Copy)]
pub struct MessageFacts<'a> {
    pub author: Option<crate::domain::ids::UserId>,
    pub public: bool,
    /// Accepted (or later): others may see a public message.
    pub publicly_listed: bool,
    pub intake_unit: UnitId,
    pub unit: Option<UnitId>,
    /// Materialised region path, `620000/620100/620102/`.
    pub region_path: &'a str,
}

/// Who is looking.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    pub user: crate::domain::ids::UserId,
    pub role: Role,
    pub unit: Option<UnitId>,
    pub scope_region: Option<&'a str>,
}

/// How much of a message a viewer sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageAccess {
    /// Not at all: answer 404, never 403, so its existence does not leak.
    None,
    /// The public version: no personal data of anyone.
    Public,
    /// The author: their own data and texts, never internal working content (tags, priority,
    /// instructions, review comments; docs/ACCESS.md).
    Author,
    /// Everything but the citizen's contact data.
    Staff,
    /// Everything: the author, and staff of the units handling it.
    Full,
}

pub fn in_region(path: &str, code: &str) -> bool {
    path.split('/').any(|c| c == code)
}

pub fn message_access(v: Viewer<'_>, m: MessageFacts<'_>) -> MessageAccess {
    if m.author == Some(v.user) {
        return MessageAccess::Author;
    }
    let handles = v.unit.is_some() && (v.unit == Some(m.intake_unit) || v.unit == m.unit);
    let scoped = match v.role {
        Admin => true,
        Supervisor | Analyst | Leader => {
            v.scope_region.is_some_and(|c| in_region(m.region_path, c))
        }
        _ => false,
    };
    match v.role {
        Handler | UnitAdmin | Reviewer if handles => MessageAccess::Full,
        _ if scoped => MessageAccess::Staff,
        _ if m.public && m.publicly_listed => MessageAccess::Public,
        _ => MessageAccess::None,
    }
}

/// May this viewer run intake (classify, accept, reject) on the message?
pub fn may_intake(v: Viewer<'_>, m: MessageFacts<'_>) -> bool {
    match v.role {
        Admin => true,
        Supervisor => v.scope_region.is_some_and(|c| in_region(m.region_path, c)),
        Handler | UnitAdmin | Reviewer => v.unit == Some(m.intake_unit),
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

    fn facts(unit: UnitId, public: bool, listed: bool) -> MessageFacts<'static> {
        MessageFacts {
            author: None,
            public,
            publicly_listed: listed,
            intake_unit: unit,
            unit: None,
            region_path: "620000/620100/620102/",
        }
    }

    fn viewer(role: Role, unit: Option<UnitId>, region: Option<&'static str>) -> Viewer<'static> {
        Viewer {
            user: crate::domain::ids::UserId::new(),
            role,
            unit,
            scope_region: region,
        }
    }

    #[test]
    fn message_visibility() {
        let intake = UnitId::new();
        let other = UnitId::new();
        let private = facts(intake, false, true);
        let public = facts(intake, true, true);
        let unlisted = facts(intake, true, false);
        assert_eq!(
            message_access(viewer(Citizen, None, None), private),
            MessageAccess::None
        );
        assert_eq!(
            message_access(viewer(Citizen, None, None), public),
            MessageAccess::Public
        );
        assert_eq!(
            message_access(viewer(Citizen, None, None), unlisted),
            MessageAccess::None
        );
        let mut own = private;
        let me = viewer(Citizen, None, None);
        own.author = Some(me.user);
        assert_eq!(message_access(me, own), MessageAccess::Author);
        assert_eq!(
            message_access(viewer(Handler, Some(intake), None), private),
            MessageAccess::Full
        );
        assert_eq!(
            message_access(viewer(Handler, Some(other), None), private),
            MessageAccess::None
        );
        assert_eq!(
            message_access(viewer(Handler, Some(other), None), public),
            MessageAccess::Public
        );
        assert_eq!(
            message_access(viewer(Supervisor, Some(other), Some("620100")), private),
            MessageAccess::Staff
        );
        assert_eq!(
            message_access(viewer(Supervisor, Some(other), Some("620500")), private),
            MessageAccess::None
        );
        assert_eq!(
            message_access(viewer(Admin, None, None), private),
            MessageAccess::Staff
        );
        assert_eq!(
            message_access(viewer(Analyst, None, Some("620000")), private),
            MessageAccess::Staff
        );
        assert_eq!(
            message_access(viewer(Leader, None, None), private),
            MessageAccess::None
        );
    }

    #[test]
    fn intake_rights() {
        let intake = UnitId::new();
        let m = facts(intake, false, false);
        assert!(may_intake(viewer(Handler, Some(intake), None), m));
        assert!(!may_intake(viewer(Handler, Some(UnitId::new()), None), m));
        assert!(may_intake(viewer(Supervisor, None, Some("620000")), m));
        assert!(!may_intake(viewer(Supervisor, None, Some("620500")), m));
        assert!(may_intake(viewer(Admin, None, None), m));
        assert!(!may_intake(viewer(Citizen, None, None), m));
        assert!(!may_intake(viewer(Analyst, None, Some("620000")), m));
    }

    #[test]
    fn early_warning_is_for_analysts_supervisors_leaders_and_admins() {
        for role in Role::ALL {
            assert_eq!(
                Permission::ManageAlertRules.allows(*role),
                matches!(role, Analyst | Admin),
                "{role}"
            );
            assert_eq!(
                Permission::ReadAlerts.allows(*role),
                matches!(role, Supervisor | Leader | Analyst | Admin),
                "{role}"
            );
            // Whoever acknowledges also reads.
            assert!(
                !Permission::AcknowledgeAlerts.allows(*role)
                    || Permission::ReadAlerts.allows(*role)
            );
        }
    }

    #[test]
    fn briefings_are_for_liaison_staff_supervisors_admins_and_leaders() {
        for role in Role::ALL {
            assert_eq!(
                Permission::EditBriefings.allows(*role),
                matches!(role, Handler | UnitAdmin | Reviewer | Supervisor | Admin),
                "{role}"
            );
            assert_eq!(
                Permission::ReviewBriefings.allows(*role),
                *role == Leader,
                "{role}"
            );
            // Whoever edits or reviews also reads; citizens, analysts and service accounts
            // do neither.
            if Permission::EditBriefings.allows(*role) || Permission::ReviewBriefings.allows(*role)
            {
                assert!(Permission::ReadBriefings.allows(*role), "{role}");
            }
            if matches!(role, Citizen | Analyst | Integration) {
                assert!(!Permission::ReadBriefings.allows(*role), "{role}");
            }
        }
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
