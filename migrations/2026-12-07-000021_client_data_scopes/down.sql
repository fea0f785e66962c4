-- The outbox as migration 000011 made it.
CREATE OR REPLACE FUNCTION webhook_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
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

DROP FUNCTION ledger_event_details(text, jsonb, boolean, boolean);
DROP TABLE ledger_event_classes;

-- The data scopes go: the old schema knows neither them nor region scopes.
UPDATE integration_clients c
   SET scopes = array_remove(array_remove(c.scopes, 'sync:personal'), 'sync:internal'),
       version = c.version + 1,
       updated_at = now()
 WHERE c.scopes && ARRAY['sync:personal', 'sync:internal']::text[]
    OR c.region_code IS NOT NULL;
ALTER TABLE integration_clients DROP COLUMN region_code;
ALTER TABLE integration_clients DROP CONSTRAINT integration_clients_scopes_check;
ALTER TABLE integration_clients ADD CONSTRAINT integration_clients_scopes_check
    CHECK (scopes <@ ARRAY['sync:read', 'sync:write', 'webhooks:manage']::text[]);
