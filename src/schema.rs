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
    }
}

// `txid` (xid8) is left out: it is filled by its default and read with SQL by the change feed.
diesel::table! {
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
    }
}

diesel::joinable!(message_events -> messages (message_id));
diesel::joinable!(messages -> leaders (leader_id));
diesel::joinable!(messages -> categories (category_id));

diesel::allow_tables_to_appear_in_same_query!(
    regions,
    units,
    leaders,
    categories,
    users,
    refresh_tokens,
    idempotency_keys,
    messages,
    message_events,
);
