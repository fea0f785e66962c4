-- Signed webhooks: subscriptions of integration clients, a transactional outbox of deliveries
-- filled by a trigger on the ledger (the event and its deliveries commit together, or neither
-- does), and the log of delivery attempts.

CREATE TABLE webhook_subscriptions (
    id          uuid        PRIMARY KEY,
    -- The integration client's account (users.id = integration_clients.id).
    owner_id    uuid        NOT NULL REFERENCES users (id),
    url         text        NOT NULL CHECK (char_length(url) BETWEEN 8 AND 2048),
    event_types text[]      NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 7),
    -- Standard Webhooks secret (`whsec_` + base64 of random bytes). Kept recoverable: the
    -- server needs it to sign every delivery (an HMAC key cannot be stored as a hash).
    secret      text        NOT NULL CHECK (secret LIKE 'whsec\_%'),
    active      boolean     NOT NULL DEFAULT true,
    version     integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX webhook_subscriptions_owner_idx ON webhook_subscriptions (owner_id, created_at DESC, id DESC);
-- The outbox trigger looks up active subscriptions by event type.
CREATE INDEX webhook_subscriptions_types_idx ON webhook_subscriptions USING gin (event_types)
    WHERE active;

CREATE TABLE webhook_deliveries (
    -- The `webhook-id` header: the same across every attempt and manual redelivery.
    id              text        PRIMARY KEY CHECK (id ~ '^msg_[0-9a-f]{32}$'),
    subscription_id uuid        NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_id        bigint      NOT NULL REFERENCES message_events (id),
    event_type      text        NOT NULL,
    -- The body, fixed when the event was recorded.
    payload         jsonb       NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'delivering', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- `attempts` when the retry schedule last (re)started: a manual redelivery restarts it.
    schedule_from   integer     NOT NULL DEFAULT 0 CHECK (schedule_from BETWEEN 0 AND attempts),
    next_attempt_at timestamptz NOT NULL,
    -- While `delivering`: the claiming dispatcher's lease; after it the delivery is claimable again.
    lease_until     timestamptz,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz,
    UNIQUE (subscription_id, event_id)
);
-- The dispatcher's queue: due pending deliveries, and expired leases.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_lease_idx ON webhook_deliveries (lease_until) WHERE status = 'delivering';
-- The delivery log of a subscription, newest first.
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (subscription_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    delivery_id  text        NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    n            integer     NOT NULL CHECK (n >= 1),
    at           timestamptz NOT NULL,
    -- The receiver's HTTP status, or null with `error` when no answer came.
    status_code  integer,
    error        text,
    duration_ms  integer     NOT NULL CHECK (duration_ms >= 0),
    PRIMARY KEY (delivery_id, n)
);

-- The outbox: one delivery per (new event, active subscription wanting its type), in the
-- statement's own transaction. One set-based insert per statement (imports write hundreds of
-- events at once); nearly free when nobody subscribes. Contact data never goes in: the
-- payload carries the ledger event (which holds none) and the message's public references.
CREATE FUNCTION webhook_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_subscriptions WHERE active) THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_deliveries (id, subscription_id, event_id, event_type, payload,
                                    next_attempt_at, created_at)
    SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), s.id, e.id, e.feed_type,
           jsonb_build_object(
               'type', e.feed_type,
               'timestamp', e.created_at,
               'data', jsonb_build_object(
                   'event_id', e.id,
                   'message_id', e.message_id,
                   'tracking_no', m.tracking_no,
                   'seq', e.seq,
                   'action', e.action,
                   'from_status', e.from_status,
                   'to_status', e.to_status,
                   'occurred_at', e.created_at,
                   'payload', e.payload - ARRAY['contact_name', 'contact_phone', 'contact_email',
                                                'phone', 'email', 'address'],
                   'external_source', m.external_source,
                   'external_id', m.external_id)),
           clock_timestamp(), clock_timestamp()
    FROM new_events e
    JOIN messages m ON m.id = e.message_id
    JOIN webhook_subscriptions s ON s.active AND s.event_types @> ARRAY[e.feed_type]
    -- A deactivated integration client's subscriptions get nothing new.
    JOIN users u ON u.id = s.owner_id AND u.active;
    RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_enqueue AFTER INSERT ON message_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_enqueue();
