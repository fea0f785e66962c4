-- Early warning (预警): rules that watch the incoming messages (keywords, a spike of a category
-- or region, the same author or address writing again and again), evaluated at intake and by the
-- scheduler; the alerts they raise, linked to the messages they are about.

-- The form of an address that repeat rules compare: full-width digits and letters made ASCII,
-- latin letters in lower case, and everything but letters, digits and CJK ideographs dropped
-- (spaces, punctuation, dashes), so 「庆阳路１２号（A座）」 and 「庆阳路12号a座」 are one address.
-- NULL when nothing is left. Written once, here: the code asks the database for a message's key.
CREATE FUNCTION alert_address_key(address text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN nullif(regexp_replace(
        lower(translate(address,
            '０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ',
            '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz') COLLATE "C"),
        '[^0-9a-z一-鿿]', '', 'g'), '');
-- Messages from one address in a period (repeat rules). The predicate is written as the queries
-- write it.
CREATE INDEX messages_address_key_idx ON messages (alert_address_key(address), submitted_at)
    WHERE address <> '';

-- The rules, edited by analysts and administrators; deactivated, never deleted (alerts name them).
CREATE TABLE alert_rules (
    id              uuid             PRIMARY KEY,
    name            text             NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    kind            text             NOT NULL CHECK (kind IN ('keyword', 'spike', 'repeat')),
    -- keyword: phrases looked for in title and body (latin letters in any case).
    keywords        text[]           NOT NULL DEFAULT '{}',
    -- keyword and repeat: only messages of this category / region subtree; spike: the slice
    -- watched (at least one of the two).
    category_id     uuid             REFERENCES categories (id),
    region_code     text             REFERENCES regions (code),
    -- Copied from the region when the rule is written.
    region_path     text,
    -- spike: at least `threshold` messages within `window_hours`, and more than
    -- `baseline_factor` × the average count of the same window on each of the `baseline_days`
    -- days before (0: no baseline). repeat: at least `threshold` messages of one author or one
    -- address within `window_days`.
    threshold       integer,
    window_hours    integer,
    baseline_days   integer,
    baseline_factor double precision,
    repeat_by       text             CHECK (repeat_by IN ('author', 'address')),
    window_days     integer,
    active          boolean          NOT NULL DEFAULT true,
    created_by      uuid             REFERENCES users (id),
    created_at      timestamptz      NOT NULL,
    updated_at      timestamptz      NOT NULL,
    version         integer          NOT NULL DEFAULT 1,
    CHECK ((region_code IS NULL) = (region_path IS NULL)),
    CHECK (kind <> 'keyword' OR (
        cardinality(keywords) BETWEEN 1 AND 20
        AND threshold IS NULL AND window_hours IS NULL AND baseline_days IS NULL
        AND baseline_factor IS NULL AND repeat_by IS NULL AND window_days IS NULL)),
    CHECK (kind <> 'spike' OR (
        cardinality(keywords) = 0
        AND threshold BETWEEN 1 AND 100000 AND window_hours BETWEEN 1 AND 168
        AND baseline_days BETWEEN 0 AND 90 AND baseline_factor BETWEEN 1 AND 100
        AND repeat_by IS NULL AND window_days IS NULL
        AND (category_id IS NOT NULL OR region_code IS NOT NULL))),
    CHECK (kind <> 'repeat' OR (
        cardinality(keywords) = 0
        AND threshold BETWEEN 2 AND 1000 AND window_days BETWEEN 1 AND 365 AND repeat_by IS NOT NULL
        AND window_hours IS NULL AND baseline_days IS NULL AND baseline_factor IS NULL))
);
CREATE INDEX alert_rules_active_idx ON alert_rules (kind, id) WHERE active;

-- What the rules raised.
CREATE TABLE alerts (
    id                   uuid        PRIMARY KEY,
    rule_id              uuid        NOT NULL REFERENCES alert_rules (id),
    kind                 text        NOT NULL CHECK (kind IN ('keyword', 'spike', 'repeat')),
    -- One alert per rule and key (the message of a keyword hit, the window of a spike, the
    -- author or address and period of a repetition): replicas that race insert the same key and
    -- one of them wins.
    dedupe_key           text        NOT NULL CHECK (char_length(dedupe_key) BETWEEN 1 AND 200),
    status               text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged')),
    summary              text        NOT NULL CHECK (char_length(summary) BETWEEN 1 AND 500),
    details              jsonb       NOT NULL DEFAULT '{}',
    -- The deepest region containing every linked message: who may see the alert.
    region_path          text        NOT NULL,
    -- spike: the window counted.
    window_start         timestamptz,
    window_end           timestamptz,
    message_count        integer     NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    raised_at            timestamptz NOT NULL,
    acknowledged_by      uuid        REFERENCES users (id),
    acknowledged_at      timestamptz,
    acknowledgement_note text        CHECK (char_length(acknowledgement_note) <= 1000),
    version              integer     NOT NULL DEFAULT 1,
    UNIQUE (rule_id, dedupe_key),
    CHECK ((status = 'acknowledged') = (acknowledged_at IS NOT NULL)),
    CHECK ((window_start IS NULL) = (window_end IS NULL))
);
CREATE INDEX alerts_raised_idx ON alerts (raised_at DESC, id DESC);
CREATE INDEX alerts_status_idx ON alerts (status, raised_at DESC, id DESC);
CREATE INDEX alerts_region_idx ON alerts (region_path text_pattern_ops);
-- A spike rule's latest window (no two alerts of a rule for overlapping windows).
CREATE INDEX alerts_rule_window_idx ON alerts (rule_id, window_end DESC);

-- The messages an alert is about; each link is also an `alert_raised` event in the message's
-- ledger.
CREATE TABLE alert_messages (
    alert_id   uuid        NOT NULL REFERENCES alerts (id),
    message_id uuid        NOT NULL REFERENCES messages (id),
    linked_at  timestamptz NOT NULL,
    PRIMARY KEY (alert_id, message_id)
);
CREATE INDEX alert_messages_message_idx ON alert_messages (message_id);
