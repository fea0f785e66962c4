// Diesel table definitions, kept in step with migrations/ (regenerate with
// `diesel print-schema` after a schema change).

diesel::table! {
    regions (code) {
        code -> Varchar,
        name -> Text,
        level -> Text,
        parent_code -> Nullable<Varchar>,
        path -> Text,
        active -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    units (id) {
        id -> Uuid,
        name -> Text,
        kind -> Text,
        region_code -> Varchar,
        parent_id -> Nullable<Uuid>,
        active -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    leaders (id) {
        id -> Uuid,
        name -> Text,
        title -> Text,
        region_code -> Varchar,
        unit_id -> Uuid,
        active -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    categories (id) {
        id -> Uuid,
        code -> Text,
        name -> Text,
        description -> Text,
        sort_order -> Int4,
        active -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        password_hash -> Text,
        display_name -> Text,
        role -> Text,
        unit_id -> Nullable<Uuid>,
        scope_region_code -> Nullable<Varchar>,
        leader_id -> Nullable<Uuid>,
        active -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        last_login_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Uuid,
        family_id -> Uuid,
        user_id -> Uuid,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    idempotency_keys (scope, key) {
        scope -> Text,
        key -> Text,
        method -> Text,
        path -> Text,
        request_hash -> Bytea,
        status_code -> Nullable<Int2>,
        response_headers -> Nullable<Jsonb>,
        response_body -> Nullable<Bytea>,
        created_at -> Timestamptz,
        locked_until -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(units -> regions (region_code));
diesel::joinable!(leaders -> units (unit_id));
diesel::joinable!(leaders -> regions (region_code));
diesel::joinable!(users -> units (unit_id));
diesel::joinable!(refresh_tokens -> users (user_id));

diesel::table! {
    token_revocations (id) {
        id -> Int8,
        subject_id -> Nullable<Uuid>,
        issued_before -> Nullable<Timestamptz>,
        session_id -> Nullable<Uuid>,
        reason -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    messages (id) {
        id -> Uuid,
        tracking_no -> Text,
        author_id -> Nullable<Uuid>,
        registered_by -> Nullable<Uuid>,
        source -> Text,
        leader_id -> Uuid,
        category_id -> Uuid,
        kind -> Text,
        title -> Text,
        body -> Text,
        region_code -> Varchar,
        region_path -> Text,
        address -> Text,
        location_lat -> Nullable<Float8>,
        location_lon -> Nullable<Float8>,
        visibility -> Text,
        contact_name -> Nullable<Text>,
        contact_phone -> Nullable<Text>,
        attachments -> Jsonb,
        status -> Text,
        priority -> Nullable<Text>,
        tags -> Array<Text>,
        rejection_reason -> Nullable<Text>,
        rejection_note -> Nullable<Text>,
        duplicate_of -> Nullable<Uuid>,
        intake_unit_id -> Uuid,
        unit_id -> Nullable<Uuid>,
        search_bigrams -> Array<Text>,
        version -> Int4,
        event_count -> Int4,
        chain_head -> Bytea,
        submitted_at -> Timestamptz,
        accepted_at -> Nullable<Timestamptz>,
        last_activity_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        return_count -> Int4,
        replied_at -> Nullable<Timestamptz>,
        feedback_until -> Nullable<Timestamptz>,
        closed_at -> Nullable<Timestamptz>,
        reopen_count -> Int4,
        overdue_deadlines -> Int4,
        reply_on_time -> Nullable<Bool>,
        handling_days -> Nullable<Int4>,
        rating -> Nullable<Text>,
        visit_finding -> Nullable<Text>,
        external_source -> Nullable<Text>,
        external_id -> Nullable<Text>,
        external_updated_at -> Nullable<Timestamptz>,
    }
}

pub mod sql_types {
    /// PostgreSQL's 64-bit transaction id (`xid8`).
    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType, Clone)]
    #[diesel(postgres_type(name = "xid8"))]
    pub struct Xid8;
}

// `txid` (xid8) is left out: it is filled by its default. `feed_txid` and `feed_type` are filled
// by a trigger on insert (migration 000010); they are named here for the benchmark's bulk load
// (which runs without triggers) and read with SQL by the change feed.
diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::Xid8;

    message_events (id) {
        id -> Int8,
        message_id -> Uuid,
        seq -> Int4,
        actor_id -> Nullable<Uuid>,
        actor_role -> Text,
        action -> Text,
        from_status -> Nullable<Text>,
        to_status -> Nullable<Text>,
        payload -> Jsonb,
        created_at -> Timestamptz,
        prev_hash -> Bytea,
        hash -> Bytea,
        feed_txid -> Xid8,
        feed_type -> Text,
    }
}

diesel::joinable!(message_events -> messages (message_id));
diesel::joinable!(messages -> leaders (leader_id));
diesel::joinable!(messages -> categories (category_id));

diesel::table! {
    calendar_days (day) {
        day -> Date,
        working -> Bool,
        note -> Text,
        updated_by -> Nullable<Uuid>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    deadline_policies (id) {
        id -> Uuid,
        priority -> Text,
        message_kind -> Nullable<Text>,
        category_id -> Nullable<Uuid>,
        sign_for_days -> Int4,
        reply_days -> Int4,
        due_soon_days -> Int4,
        max_extensions -> Int4,
        max_extension_days -> Int4,
        active -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    dispatch_rules (id) {
        id -> Uuid,
        region_code -> Varchar,
        region_path -> Text,
        category_id -> Nullable<Uuid>,
        keywords -> Array<Text>,
        unit_id -> Uuid,
        basis -> Text,
        active -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    assignments (id) {
        id -> Uuid,
        message_id -> Uuid,
        unit_id -> Uuid,
        role -> Text,
        origin -> Text,
        status -> Text,
        note -> Text,
        assigned_by -> Nullable<Uuid>,
        assigned_at -> Timestamptz,
        signed_for_by -> Nullable<Uuid>,
        signed_for_at -> Nullable<Timestamptz>,
        return_reason -> Nullable<Text>,
        return_note -> Nullable<Text>,
        suggested_unit_id -> Nullable<Uuid>,
        returned_by -> Nullable<Uuid>,
        returned_at -> Nullable<Timestamptz>,
        transferred_to -> Nullable<Uuid>,
        contribution -> Nullable<Text>,
        completed_at -> Nullable<Timestamptz>,
        intake_unit_id -> Uuid,
        region_path -> Text,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    deadlines (id) {
        id -> Uuid,
        message_id -> Uuid,
        assignment_id -> Uuid,
        kind -> Text,
        unit_id -> Uuid,
        intake_unit_id -> Uuid,
        region_path -> Text,
        leader_id -> Uuid,
        priority -> Text,
        policy_id -> Uuid,
        policy_version -> Int4,
        limit_days -> Int4,
        due_soon_days -> Int4,
        extension_days -> Int4,
        extension_count -> Int4,
        pauses -> Jsonb,
        paused_since -> Nullable<Timestamptz>,
        started_at -> Timestamptz,
        start_action -> Text,
        start_event_seq -> Int4,
        due_at -> Nullable<Timestamptz>,
        due_soon_at -> Nullable<Timestamptz>,
        state -> Text,
        closed_at -> Nullable<Timestamptz>,
        closed_by_action -> Nullable<Text>,
        due_soon_raised_at -> Nullable<Timestamptz>,
        overdue_raised_at -> Nullable<Timestamptz>,
        escalated_to -> Array<Uuid>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    extension_requests (id) {
        id -> Uuid,
        assignment_id -> Uuid,
        deadline_id -> Uuid,
        message_id -> Uuid,
        unit_id -> Uuid,
        region_path -> Text,
        days -> Int4,
        reason -> Text,
        status -> Text,
        requested_by -> Uuid,
        requested_at -> Timestamptz,
        decided_by -> Nullable<Uuid>,
        decided_at -> Nullable<Timestamptz>,
        decision_note -> Nullable<Text>,
        version -> Int4,
    }
}

diesel::table! {
    clarification_requests (id) {
        id -> Uuid,
        message_id -> Uuid,
        assignment_id -> Uuid,
        question -> Text,
        asked_by -> Uuid,
        asked_at -> Timestamptz,
        answer -> Nullable<Text>,
        answered_by -> Nullable<Uuid>,
        answered_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    supervisions (id) {
        id -> Uuid,
        message_id -> Uuid,
        level -> Text,
        instruction -> Text,
        due_at -> Timestamptz,
        status -> Text,
        region_path -> Text,
        unit_id -> Nullable<Uuid>,
        opened_by -> Uuid,
        opened_at -> Timestamptz,
        closed_by -> Nullable<Uuid>,
        closed_at -> Nullable<Timestamptz>,
        closing_note -> Nullable<Text>,
        version -> Int4,
    }
}

diesel::table! {
    supervision_reports (id) {
        id -> Uuid,
        supervision_id -> Uuid,
        unit_id -> Nullable<Uuid>,
        author_id -> Uuid,
        body -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    instructions (id) {
        id -> Uuid,
        message_id -> Uuid,
        leader_id -> Uuid,
        body -> Text,
        recorded_by -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    reply_policy (id) {
        id -> Bool,
        min_chars -> Int4,
        banned_phrases -> Array<Text>,
        feedback_window_days -> Int4,
        version -> Int4,
        updated_by -> Nullable<Uuid>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    replies (id) {
        id -> Uuid,
        message_id -> Uuid,
        assignment_id -> Uuid,
        unit_id -> Uuid,
        intake_unit_id -> Uuid,
        region_path -> Text,
        kind -> Text,
        status -> Text,
        body -> Text,
        attachments -> Jsonb,
        revision -> Int4,
        review_unit_id -> Uuid,
        created_by -> Uuid,
        created_at -> Timestamptz,
        updated_by -> Uuid,
        updated_at -> Timestamptz,
        submitted_at -> Nullable<Timestamptz>,
        reviewed_by -> Nullable<Uuid>,
        reviewed_at -> Nullable<Timestamptz>,
        review_comment -> Nullable<Text>,
        published_by -> Nullable<Uuid>,
        published_at -> Nullable<Timestamptz>,
        unit_name -> Nullable<Text>,
        version -> Int4,
        external_source -> Nullable<Text>,
        external_id -> Nullable<Text>,
        external_updated_at -> Nullable<Timestamptz>,
        board_reply_id -> Nullable<Text>,
        board_url -> Nullable<Text>,
        acknowledged_at -> Nullable<Timestamptz>,
        acknowledged_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    reply_revisions (reply_id, revision) {
        reply_id -> Uuid,
        revision -> Int4,
        body -> Text,
        attachments -> Jsonb,
        edited_by -> Uuid,
        edited_at -> Timestamptz,
        submitted_by -> Nullable<Uuid>,
        submitted_at -> Nullable<Timestamptz>,
        review_decision -> Nullable<Text>,
        review_comment -> Nullable<Text>,
        reviewed_by -> Nullable<Uuid>,
        reviewed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    feedback (id) {
        id -> Uuid,
        message_id -> Uuid,
        reply_id -> Uuid,
        author_id -> Uuid,
        unit_id -> Uuid,
        region_path -> Text,
        rating -> Text,
        comment -> Text,
        changes -> Int4,
        flag -> Text,
        resolved_by -> Nullable<Uuid>,
        resolved_at -> Nullable<Timestamptz>,
        resolution_note -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int4,
    }
}

diesel::table! {
    return_visits (id) {
        id -> Uuid,
        message_id -> Uuid,
        unit_id -> Uuid,
        region_path -> Text,
        kind -> Text,
        status -> Text,
        selection -> Text,
        sample_seed -> Nullable<Int8>,
        note -> Text,
        planned_by -> Uuid,
        planned_at -> Timestamptz,
        visited_on -> Nullable<Date>,
        method -> Nullable<Text>,
        visitor -> Nullable<Text>,
        finding -> Nullable<Text>,
        notes -> Nullable<Text>,
        reopened -> Bool,
        recorded_by -> Nullable<Uuid>,
        recorded_at -> Nullable<Timestamptz>,
        version -> Int4,
    }
}

diesel::table! {
    alert_rules (id) {
        id -> Uuid,
        name -> Text,
        kind -> Text,
        keywords -> Array<Text>,
        category_id -> Nullable<Uuid>,
        region_code -> Nullable<Text>,
        region_path -> Nullable<Text>,
        threshold -> Nullable<Int4>,
        window_hours -> Nullable<Int4>,
        baseline_days -> Nullable<Int4>,
        baseline_factor -> Nullable<Float8>,
        repeat_by -> Nullable<Text>,
        window_days -> Nullable<Int4>,
        active -> Bool,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int4,
    }
}

diesel::table! {
    alerts (id) {
        id -> Uuid,
        rule_id -> Uuid,
        kind -> Text,
        dedupe_key -> Text,
        status -> Text,
        summary -> Text,
        details -> Jsonb,
        region_path -> Text,
        window_start -> Nullable<Timestamptz>,
        window_end -> Nullable<Timestamptz>,
        message_count -> Int4,
        raised_at -> Timestamptz,
        acknowledged_by -> Nullable<Uuid>,
        acknowledged_at -> Nullable<Timestamptz>,
        acknowledgement_note -> Nullable<Text>,
        version -> Int4,
    }
}

diesel::table! {
    alert_messages (alert_id, message_id) {
        alert_id -> Uuid,
        message_id -> Uuid,
        linked_at -> Timestamptz,
    }
}

diesel::joinable!(assignments -> messages (message_id));
diesel::joinable!(replies -> messages (message_id));
diesel::joinable!(reply_revisions -> replies (reply_id));
diesel::joinable!(deadlines -> assignments (assignment_id));
diesel::joinable!(supervision_reports -> supervisions (supervision_id));
diesel::joinable!(alerts -> alert_rules (rule_id));
diesel::joinable!(alert_messages -> alerts (alert_id));
diesel::joinable!(alert_messages -> messages (message_id));

diesel::table! {
    stat_deltas (id) {
        id -> Int8,
        day -> Date,
        region_code -> Varchar,
        unit_id -> Uuid,
        leader_id -> Uuid,
        category_id -> Uuid,
        kind -> Text,
        priority -> Text,
        received -> Int4,
        accepted -> Int4,
        rejected -> Int4,
        withdrawn -> Int4,
        assigned -> Int4,
        replied -> Int4,
        pending -> Int4,
        overdue -> Int4,
        judged -> Int4,
        on_time -> Int4,
        rated -> Int4,
        satisfied -> Int4,
        basically_satisfied -> Int4,
        unsatisfied -> Int4,
        reopened -> Int4,
        visited -> Int4,
        verified -> Int4,
        handling_days -> Nullable<Int4>,
    }
}

diesel::table! {
    stat_cells (cube, grain, region_code, unit_id, leader_id, category_id, kind, priority, period) {
        cube -> Int2,
        grain -> CChar,
        region_code -> Varchar,
        unit_id -> Uuid,
        leader_id -> Uuid,
        category_id -> Uuid,
        kind -> Text,
        priority -> Text,
        period -> Date,
        received -> Int4,
        accepted -> Int4,
        rejected -> Int4,
        withdrawn -> Int4,
        assigned -> Int4,
        replied -> Int4,
        pending -> Int4,
        overdue -> Int4,
        judged -> Int4,
        on_time -> Int4,
        rated -> Int4,
        satisfied -> Int4,
        basically_satisfied -> Int4,
        unsatisfied -> Int4,
        reopened -> Int4,
        visited -> Int4,
        verified -> Int4,
        hist -> Array<Int4>,
    }
}

diesel::table! {
    statistics_policy (id) {
        id -> Bool,
        min_sample -> Int4,
        version -> Int4,
        updated_by -> Nullable<Uuid>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    assessment_weights (id) {
        id -> Bool,
        reply_rate -> Int4,
        on_time_rate -> Int4,
        satisfaction_rate -> Int4,
        overdue -> Int4,
        verification_rate -> Int4,
        reopen -> Int4,
        version -> Int4,
        updated_by -> Nullable<Uuid>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    assessment_periods (period) {
        period -> Text,
        period_from -> Date,
        period_to -> Date,
        content -> Text,
        content_hash -> Text,
        revision -> Int4,
        closed_by -> Uuid,
        closed_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    assessment_restatements (id) {
        id -> Uuid,
        period -> Text,
        revision -> Int4,
        reason -> Text,
        restated_by -> Uuid,
        restated_at -> Timestamptz,
        previous_hash -> Text,
        content_hash -> Text,
        changes -> Jsonb,
    }
}

diesel::joinable!(assessment_restatements -> assessment_periods (period));

diesel::table! {
    integration_clients (id) {
        id -> Uuid,
        client_id -> Text,
        name -> Text,
        secret_hash -> Bytea,
        scopes -> Array<Text>,
        active -> Bool,
        version -> Int4,
        created_by -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        secret_rotated_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        region_code -> Nullable<Varchar>,
    }
}

diesel::joinable!(integration_clients -> users (id));

diesel::table! {
    briefings (id) {
        id -> Uuid,
        title -> Text,
        period_from -> Date,
        period_to -> Date,
        region_code -> Varchar,
        region_path -> Text,
        status -> Text,
        candidates_found -> Int4,
        created_by -> Uuid,
        created_at -> Timestamptz,
        updated_by -> Uuid,
        updated_at -> Timestamptz,
        submitted_by -> Nullable<Uuid>,
        submitted_at -> Nullable<Timestamptz>,
        reviewed_by -> Nullable<Uuid>,
        reviewed_at -> Nullable<Timestamptz>,
        version -> Int4,
    }
}

diesel::table! {
    briefing_items (briefing_id, message_id) {
        briefing_id -> Uuid,
        message_id -> Uuid,
        rank -> Int4,
        score -> Int4,
        reasons -> Array<Text>,
        cluster_label -> Nullable<Text>,
        overdue_days -> Nullable<Int4>,
        selected -> Bool,
        position -> Nullable<Int4>,
        summary -> Nullable<Text>,
        instruction_id -> Nullable<Uuid>,
    }
}

diesel::joinable!(briefing_items -> briefings (briefing_id));
diesel::joinable!(briefing_items -> messages (message_id));

diesel::allow_tables_to_appear_in_same_query!(
    regions,
    units,
    leaders,
    categories,
    users,
    refresh_tokens,
    token_revocations,
    idempotency_keys,
    messages,
    message_events,
    calendar_days,
    deadline_policies,
    dispatch_rules,
    assignments,
    deadlines,
    extension_requests,
    clarification_requests,
    supervisions,
    supervision_reports,
    instructions,
    reply_policy,
    replies,
    reply_revisions,
    feedback,
    return_visits,
    stat_deltas,
    stat_cells,
    statistics_policy,
    alert_rules,
    alerts,
    alert_messages,
    assessment_weights,
    assessment_periods,
    assessment_restatements,
    integration_clients,
    briefings,
    briefing_items,
);

// Webhooks (migration 000011), kept in their own block so parallel schema changes merge cleanly.
diesel::table! {
    webhook_subscriptions (id) {
        id -> Uuid,
        owner_id -> Uuid,
        url -> Text,
        event_types -> Array<Text>,
        secret -> Text,
        active -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        subscription_id -> Uuid,
        event_id -> Int8,
        event_type -> Text,
        payload -> Jsonb,
        status -> Text,
        attempts -> Int4,
        schedule_from -> Int4,
        next_attempt_at -> Timestamptz,
        lease_until -> Nullable<Timestamptz>,
        last_status -> Nullable<Int4>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        delivered_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_attempts (delivery_id, n) {
        delivery_id -> Text,
        n -> Int4,
        at -> Timestamptz,
        status_code -> Nullable<Int4>,
        error -> Nullable<Text>,
        duration_ms -> Int4,
    }
}

diesel::joinable!(webhook_deliveries -> webhook_subscriptions (subscription_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));

diesel::allow_tables_to_appear_in_same_query!(
    webhook_subscriptions,
    webhook_deliveries,
    webhook_attempts,
);
