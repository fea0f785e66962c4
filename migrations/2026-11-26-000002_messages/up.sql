-- Messages and their ledger.

-- Human tracking numbers (GS-2026-000123): one sequence; the year in the number is the year of
-- submission. Gaps (rolled-back inserts) are harmless; uniqueness is what matters.
CREATE SEQUENCE message_tracking_seq;

CREATE TABLE messages (
    id               uuid        PRIMARY KEY,
    tracking_no      text        NOT NULL UNIQUE,
    -- The citizen's account; NULL when staff registered a message for someone without one.
    author_id        uuid        REFERENCES users (id),
    -- Staff who registered it (phone, letter, visit); NULL for messages citizens wrote.
    registered_by    uuid        REFERENCES users (id),
    source           text        NOT NULL CHECK (source IN ('web', 'phone', 'letter', 'visit')),
    leader_id        uuid        NOT NULL REFERENCES leaders (id),
    category_id      uuid        NOT NULL REFERENCES categories (id),
    kind             text        NOT NULL CHECK (kind IN ('consultation', 'suggestion', 'complaint', 'help_request')),
    title            text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 100),
    body             text        NOT NULL CHECK (char_length(body) BETWEEN 1 AND 5000),
    region_code      varchar(6)  NOT NULL REFERENCES regions (code),
    -- The region's materialised path, copied so that subtree filters need no join.
    region_path      text        NOT NULL,
    address          text        NOT NULL DEFAULT '' CHECK (char_length(address) <= 200),
    location_lat     double precision CHECK (location_lat BETWEEN -90 AND 90),
    location_lon     double precision CHECK (location_lon BETWEEN -180 AND 180),
    visibility       text        NOT NULL CHECK (visibility IN ('public', 'private')),
    contact_name     text        CHECK (char_length(contact_name) <= 50),
    contact_phone    text        CHECK (char_length(contact_phone) <= 20),
    attachments      jsonb       NOT NULL DEFAULT '[]',
    status           text        NOT NULL CHECK (status IN ('submitted', 'accepted', 'rejected', 'withdrawn')),
    priority         text        CHECK (priority IN ('important', 'routine')),
    tags             text[]      NOT NULL DEFAULT '{}',
    rejection_reason text        CHECK (rejection_reason IN ('out_of_scope', 'duplicate',
                                     'insufficient_information', 'abusive_content')),
    rejection_note   text,
    duplicate_of     uuid        REFERENCES messages (id),
    -- The unit that runs intake for the addressed leader (a liaison office), and the unit
    -- responsible for handling (set by assignment).
    intake_unit_id   uuid        NOT NULL REFERENCES units (id),
    unit_id          uuid        REFERENCES units (id),
    -- Character bigrams of title and body for Chinese search (src/domain/search.rs).
    search_bigrams   text[]      NOT NULL,
    version          integer     NOT NULL DEFAULT 1,
    event_count      integer     NOT NULL DEFAULT 0,
    -- Hash of the newest ledger event: the receipt a citizen keeps.
    chain_head       bytea       NOT NULL,
    submitted_at     timestamptz NOT NULL,
    accepted_at      timestamptz,
    last_activity_at timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((location_lat IS NULL) = (location_lon IS NULL)),
    CHECK (author_id IS NOT NULL OR registered_by IS NOT NULL),
    CHECK ((status = 'rejected') = (rejection_reason IS NOT NULL)),
    CHECK (duplicate_of IS DISTINCT FROM id)
);

-- Keyset pagination by submission time (newest first) under the common filters.
CREATE INDEX messages_submitted_idx ON messages (submitted_at DESC, id DESC);
CREATE INDEX messages_status_category_submitted_idx ON messages (status, category_id, submitted_at DESC, id DESC);
CREATE INDEX messages_status_submitted_idx ON messages (status, submitted_at DESC, id DESC);
CREATE INDEX messages_activity_idx ON messages (last_activity_at DESC, id DESC);
CREATE INDEX messages_author_idx ON messages (author_id, submitted_at DESC, id DESC) WHERE author_id IS NOT NULL;
CREATE INDEX messages_leader_idx ON messages (leader_id, submitted_at DESC, id DESC);
CREATE INDEX messages_intake_unit_idx ON messages (intake_unit_id, submitted_at DESC, id DESC);
CREATE INDEX messages_unit_idx ON messages (unit_id, submitted_at DESC, id DESC) WHERE unit_id IS NOT NULL;
CREATE INDEX messages_region_path_idx ON messages (region_path text_pattern_ops, submitted_at DESC);
CREATE INDEX messages_search_idx ON messages USING gin (search_bigrams);

-- The ledger: one immutable row per action on a message.
CREATE TABLE message_events (
    -- Global order of appends (the change feed reads by it, together with txid).
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  uuid        NOT NULL REFERENCES messages (id),
    -- 1, 2, 3… within the message; the hash chain follows it.
    seq         integer     NOT NULL,
    actor_id    uuid,
    actor_role  text        NOT NULL,
    action      text        NOT NULL,
    from_status text,
    to_status   text,
    payload     jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL,
    -- The writing transaction, so a feed can tell committed-in-order from still-in-flight.
    txid        xid8        NOT NULL DEFAULT pg_current_xact_id(),
    prev_hash   bytea       NOT NULL,
    hash        bytea       NOT NULL,
    UNIQUE (message_id, seq)
);
CREATE INDEX message_events_created_idx ON message_events (created_at);

-- Append-only, enforced where no code path can bypass it.
CREATE FUNCTION message_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'message_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER message_events_no_update_delete
    BEFORE UPDATE OR DELETE ON message_events
    FOR EACH ROW EXECUTE FUNCTION message_events_append_only();
CREATE TRIGGER message_events_no_truncate
    BEFORE TRUNCATE ON message_events
    FOR EACH STATEMENT EXECUTE FUNCTION message_events_append_only();
