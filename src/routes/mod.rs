//! HTTP handlers, thin: parse → authorize → call the store → map to a wire DTO.
//! [`api_scope`] is the one list of API operations: the router and the spec are built from it.

pub mod alerts;
pub mod assessments;
pub mod auth;
pub mod briefings;
pub mod categories;
pub mod deadlines;
pub mod feedback;
pub mod handling;
pub mod health;
pub mod integration_clients;
pub mod leaders;
pub mod messages;
pub mod open311;
pub mod public;
pub mod regions;
pub mod replies;
pub mod statistics;
pub mod supervision;
pub mod sync;
pub mod units;
pub mod users;
pub mod visits;
pub mod webhooks;

// The handling stage's catalogues.
pub mod calendar;
pub mod deadline_policies;
pub mod dispatch_rules;

use utoipa_actix_web::scope::Scope;

/// Every operation of the Open311 GeoReport v2 facade (mounted at [`open311::PREFIX`]).
pub fn open311_scope<T>(scope: Scope<T>) -> Scope<T>
where
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >,
{
    scope
        .service(open311::open311_discovery)
        .service(open311::open311_list_services)
        .service(open311::open311_get_service_definition)
        .service(open311::open311_create_request)
        .service(open311::open311_list_requests)
        .service(open311::open311_get_request)
        .service(open311::open311_list_request_updates)
}

/// Every operation under `/api/v1`.
pub fn api_scope<T>(scope: Scope<T>) -> Scope<T>
where
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >,
{
    scope
        .service(health::get_openapi)
        .service(auth::register)
        .service(auth::issue_token)
        .service(auth::refresh_token)
        .service(auth::logout)
        .service(auth::get_me)
        .service(regions::list_regions)
        .service(regions::create_region)
        .service(regions::get_region)
        .service(regions::update_region)
        .service(units::list_units)
        .service(units::create_unit)
        .service(units::get_unit)
        .service(units::update_unit)
        .service(leaders::list_leaders)
        .service(leaders::create_leader)
        .service(leaders::get_leader)
        .service(leaders::update_leader)
        .service(categories::list_categories)
        .service(categories::create_category)
        .service(categories::get_category)
        .service(categories::update_category)
        .service(users::list_users)
        .service(users::create_user)
        .service(users::get_user)
        .service(users::update_user)
        .service(messages::list_messages)
        .service(messages::create_message)
        .service(messages::get_message_by_tracking_no)
        .service(messages::get_message)
        .service(messages::classify_message)
        .service(messages::accept_message)
        .service(messages::reject_message)
        .service(messages::withdraw_message)
        .service(messages::resubmit_message)
        .service(messages::verify_message_events)
        .service(messages::list_message_events)
        .service(public::list_public_messages)
        .service(webhooks::create_webhook)
        .service(webhooks::list_webhooks)
        .service(webhooks::get_webhook)
        .service(webhooks::update_webhook)
        .service(webhooks::delete_webhook)
        .service(webhooks::rotate_webhook_secret)
        .service(webhooks::list_webhook_deliveries)
        .service(webhooks::get_webhook_delivery)
        .service(webhooks::redeliver_webhook_delivery)
        .service(public::get_public_message)
        .service(public::get_public_leader_stats)
        .service(handling::create_assignment)
        .service(handling::list_message_assignments)
        .service(handling::claim_message)
        .service(handling::list_assignments)
        .service(handling::get_assignment)
        .service(handling::sign_for_assignment)
        .service(handling::return_assignment)
        .service(handling::transfer_assignment)
        .service(handling::contribute_assignment)
        .service(handling::request_clarification)
        .service(handling::answer_clarification)
        .service(handling::list_clarifications)
        .service(handling::request_extension)
        .service(handling::list_extensions)
        .service(handling::approve_extension)
        .service(handling::reject_extension)
        .service(deadlines::list_deadlines)
        .service(deadlines::get_deadline_explanation)
        .service(supervision::create_supervision)
        .service(supervision::list_supervisions)
        .service(supervision::get_supervision)
        .service(supervision::add_supervision_report)
        .service(supervision::close_supervision)
        .service(supervision::create_instruction)
        .service(supervision::list_instructions)
        .service(calendar::list_calendar_days)
        .service(calendar::put_calendar_day)
        .service(calendar::delete_calendar_day)
        .service(deadline_policies::list_deadline_policies)
        .service(deadline_policies::create_deadline_policy)
        .service(deadline_policies::get_deadline_policy)
        .service(deadline_policies::update_deadline_policy)
        .service(dispatch_rules::list_dispatch_rules)
        .service(dispatch_rules::create_dispatch_rule)
        .service(dispatch_rules::get_dispatch_rule)
        .service(dispatch_rules::update_dispatch_rule)
        .service(dispatch_rules::get_routing_suggestions)
        .service(replies::create_reply)
        .service(replies::list_message_replies)
        .service(replies::list_replies)
        .service(replies::get_reply)
        .service(replies::revise_reply)
        .service(replies::list_reply_revisions)
        .service(replies::submit_reply)
        .service(replies::approve_reply)
        .service(replies::return_reply)
        .service(replies::publish_reply)
        .service(replies::discard_reply)
        .service(replies::get_reply_policy)
        .service(replies::put_reply_policy)
        .service(feedback::rate_reply)
        .service(feedback::list_message_feedback)
        .service(feedback::list_feedback)
        .service(feedback::reopen_message)
        .service(feedback::close_message)
        .service(visits::create_visit)
        .service(visits::sample_visits)
        .service(visits::list_visits)
        .service(visits::get_visit)
        .service(visits::record_visit)
        .service(statistics::statistics_summary)
        .service(statistics::statistics_breakdown)
        .service(statistics::statistics_timeseries)
        .service(statistics::ledger::export_ledger)
        .service(statistics::policy::get_statistics_policy)
        .service(statistics::policy::put_statistics_policy)
        .service(integration_clients::create_integration_client)
        .service(integration_clients::list_integration_clients)
        .service(integration_clients::get_integration_client)
        .service(integration_clients::update_integration_client)
        .service(integration_clients::rotate_integration_client_secret)
        .service(sync::import_messages)
        .service(sync::import_replies)
        .service(sync::list_changes)
        .service(sync::list_unacknowledged_replies)
        .service(sync::acknowledge_reply)
        .service(assessments::get_assessment_weights)
        .service(assessments::put_assessment_weights)
        .service(assessments::get_assessment)
        .service(assessments::close_assessment)
        .service(assessments::restate_assessment)
        .service(assessments::list_restatements)
        .service(alerts::rules::list_alert_rules)
        .service(alerts::rules::create_alert_rule)
        .service(alerts::rules::get_alert_rule)
        .service(alerts::rules::update_alert_rule)
        .service(alerts::list_alerts)
        .service(alerts::get_alert)
        .service(alerts::acknowledge_alert)
        .service(briefings::list_briefings)
        .service(briefings::create_briefing)
        .service(briefings::get_briefing)
        .service(briefings::put_briefing_items)
        .service(briefings::submit_briefing)
        .service(briefings::review::instruct_briefing_item)
        .service(briefings::review::review_briefing)
        .service(briefings::document::get_briefing_document)
}

/// Deserialize an optional integer that JSON may write as `7` or `7.0` (JSON Schema counts both
/// as integers).
pub fn optional_integer<'de, D>(d: D) -> Result<Option<i32>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    let Some(n) = <Option<serde_json::Number> as serde::Deserialize>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return i32::try_from(i)
            .map(Some)
            .map_err(|_| D::Error::custom("is out of range"));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f >= f64::from(i32::MIN) && f <= f64::from(i32::MAX) => {
            Ok(Some(f as i32))
        }
        _ => Err(D::Error::custom(format!("must be an integer, not {n}"))),
    }
}

/// Deserialize a required 64-bit integer that JSON may write as `7` or `7.0`.
pub fn integer64<'de, D>(d: D) -> Result<i64, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    let n = <serde_json::Number as serde::Deserialize>::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        // Beyond 2^53 a float no longer names one integer.
        Some(f) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => Ok(f as i64),
        _ => Err(D::Error::custom(format!("must be an integer, not {n}"))),
    }
}

/// Deserialize a required integer that JSON may write as `7` or `7.0`.
pub fn integer<'de, D>(d: D) -> Result<i32, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    optional_integer(d)?.ok_or_else(|| D::Error::custom("must be an integer, not null"))
}

/// Deserialize a field that may be absent (leave alone), `null` (clear) or a value (set).
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(d).map(Some)
}

/// Normalise a one-line name and check its length; 422 naming `field`.
pub fn clean_name(raw: &str, field: &str, max: usize) -> Result<String, crate::error::ApiError> {
    let cleaned = crate::domain::text::clean_line(raw)
        .map_err(|m| crate::error::ApiError::field(field, "format", m))?;
    crate::domain::text::check_len(&cleaned, 1, max)
        .map_err(|m| crate::error::ApiError::field(field, "length", m))?;
    Ok(cleaned)
}

/// A PATCH that changes nothing is a client mistake worth reporting.
pub fn require_some_change(any: bool) -> Result<(), crate::error::ApiError> {
    if any {
        Ok(())
    } else {
        Err(crate::error::ApiError::validation(vec![
            crate::error::FieldError::new("body", "empty", "send at least one field to change"),
        ]))
    }
}
