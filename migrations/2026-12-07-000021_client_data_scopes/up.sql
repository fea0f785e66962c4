-- Data scopes of integration clients (issue 17): a region subtree and data classes.
-- `sync:personal` (the author's personal data, texts as written, private messages) and
-- `sync:internal` (internal working content) are scopes like the others; the change feed and
-- the webhook outbox filter rows and project event details by them.

ALTER TABLE integration_clients DROP CONSTRAINT integration_clients_scopes_check;
ALTER TABLE integration_clients ADD CONSTRAINT integration_clients_scopes_check
    CHECK (scopes <@ ARRAY['sync:read', 'sync:write', 'webhooks:manage',
                           'sync:personal', 'sync:internal']::text[]);
-- Null: the whole province.
ALTER TABLE integration_clients ADD COLUMN region_code varchar(6) REFERENCES regions (code);

-- Existing clients that read (feed or webhooks) keep the personal data they had, so their
-- integrations keep working; internal content they lose (it was never theirs to have).
UPDATE integration_clients
   SET scopes = scopes || ARRAY['sync:personal']::text[],
       version = version + 1,
       updated_at = now()
 WHERE scopes && ARRAY['sync:read', 'webhooks:manage']::text[];

-- The access model's table of ledger event kinds (liuyan::app::access::EVENT_RULES; a test
-- checks they agree). `event_class` internal: readers without the internal class never get
-- the event. Details (top-level payload keys) in `public_fields` are public, in
-- `personal_fields` personal, any other key internal. An action missing here is internal.
CREATE TABLE ledger_event_classes (
    action          text   PRIMARY KEY,
    event_class     text   NOT NULL CHECK (event_class IN ('public', 'internal')),
    public_fields   text[] NOT NULL DEFAULT '{}',
    personal_fields text[] NOT NULL DEFAULT '{}'
);
INSERT INTO ledger_event_classes (action, event_class, public_fields, personal_fields) VALUES
    ('submit', 'public', '{category_id,kind,source,visibility,external_source,external_id}', '{title}'),
    ('classify', 'public', '{category_id}', '{}'),
    ('accept', 'public', '{}', '{}'),
    ('reject', 'public', '{reason,duplicate_of}', '{note}'),
    ('withdraw', 'public', '{}', '{note}'),
    ('resubmit', 'public', '{changed}', '{}'),
    ('assign', 'public', '{lead_assignment_id,lead_unit_id,co_unit_ids}', '{}'),
    ('claim', 'public', '{assignment_id,unit_id}', '{}'),
    ('sign_for', 'public', '{assignment_id,unit_id,role}', '{}'),
    ('return', 'public', '{assignment_id,unit_id}', '{}'),
    ('transfer', 'public', '{from_assignment_id,from_unit_id,assignment_id,unit_id}', '{}'),
    ('contribute', 'internal', '{}', '{}'),
    ('request_clarification', 'public', '{clarification_id}', '{question}'),
    ('answer_clarification', 'public', '{clarification_id}', '{answer}'),
    ('request_extension', 'internal', '{}', '{}'),
    ('approve_extension', 'internal', '{}', '{}'),
    ('reject_extension', 'internal', '{}', '{}'),
    ('supervise', 'internal', '{}', '{}'),
    ('report_progress', 'internal', '{}', '{}'),
    ('close_supervision', 'internal', '{}', '{}'),
    ('instruct', 'internal', '{}', '{}'),
    ('deadline_due_soon', 'internal', '{}', '{}'),
    ('deadline_overdue', 'internal', '{}', '{}'),
    ('draft_reply', 'internal', '{}', '{}'),
    ('revise_reply', 'internal', '{}', '{}'),
    ('submit_reply', 'internal', '{}', '{}'),
    ('approve_reply', 'internal', '{}', '{}'),
    ('return_reply', 'internal', '{}', '{}'),
    ('discard_reply', 'internal', '{}', '{}'),
    ('publish_interim_reply', 'public', '{reply_id,kind,revision,unit_name}', '{}'),
    ('publish_reply', 'public', '{reply_id,kind,revision,unit_name,feedback_until}', '{}'),
    ('rate', 'public', '{feedback_id,reply_id,rating,changed}', '{}'),
    ('reopen', 'public', '{assignment_id,unit_id,feedback_id,reopen_count}', '{}'),
    ('close', 'public', '{reason,feedback_until,feedback_id}', '{}'),
    ('plan_visit', 'internal', '{}', '{}'),
    ('record_visit', 'public', '{visited_on,method}', '{}'),
    ('alert_raised', 'internal', '{}', '{}'),
    ('import_update', 'public', '{changed,external_source,external_id,external_updated_at}', '{}'),
    ('import_reply', 'public', '{reply_id,kind,revision,unit_name,published_at,external_source,external_id,updated,feedback_until}', '{}'),
    ('acknowledge_reply', 'public', '{reply_id,board_reply_id,board_url,previous_board_reply_id}', '{}');

-- An event's details as a reader with these classes sees them (access::project_event).
CREATE FUNCTION ledger_event_details(p_action text, p_payload jsonb, p_personal boolean,
                                     p_internal boolean) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN jsonb_typeof(p_payload) = 'object' THEN COALESCE((
            SELECT jsonb_object_agg(f.key, f.value)
              FROM jsonb_each(p_payload) f
              LEFT JOIN ledger_event_classes c ON c.action = p_action
             -- A key of no list (or of an unknown action) is internal.
             WHERE CASE WHEN f.key = ANY (c.public_fields) THEN true
                        WHEN f.key = ANY (c.personal_fields) THEN p_personal
                        ELSE p_internal END), '{}'::jsonb)
        WHEN p_internal THEN p_payload
        ELSE '{}'::jsonb
    END
$$;

-- The outbox now delivers to a subscription only what its client may read: messages of its
-- region subtree, private ones only with `sync:personal`, internal events only with
-- `sync:internal`; and the details projected by the same classes. The body is fixed here,
-- with the client's scopes at the time of the event.
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
                   'payload', ledger_event_details(
                                  e.action, e.payload,
                                  coalesce(c.scopes @> ARRAY['sync:personal']::text[], false),
                                  coalesce(c.scopes @> ARRAY['sync:internal']::text[], false))
                              - ARRAY['contact_name', 'contact_phone', 'contact_email',
                                      'phone', 'email', 'address'],
                   'external_source', m.external_source,
                   'external_id', m.external_id)),
           clock_timestamp(), clock_timestamp()
    FROM new_events e
    JOIN messages m ON m.id = e.message_id
    JOIN webhook_subscriptions s ON s.active AND s.event_types @> ARRAY[e.feed_type]
    -- A deactivated integration client's subscriptions get nothing new.
    JOIN users u ON u.id = s.owner_id AND u.active
    -- Only clients own subscriptions (the API's rule); any other owner reads the minimal view.
    LEFT JOIN integration_clients c ON c.id = s.owner_id
    LEFT JOIN regions cr ON cr.code = c.region_code
    LEFT JOIN ledger_event_classes k ON k.action = e.action
    WHERE (c.region_code IS NULL OR starts_with(m.region_path, cr.path))
      AND (m.visibility = 'public' OR c.scopes @> ARRAY['sync:personal']::text[])
      AND (k.event_class = 'public' OR c.scopes @> ARRAY['sync:internal']::text[]);
    RETURN NULL;
END;
$$;
