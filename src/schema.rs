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

diesel::allow_tables_to_appear_in_same_query!(
    regions,
    units,
    leaders,
    categories,
    users,
    refresh_tokens,
    idempotency_keys,
);
