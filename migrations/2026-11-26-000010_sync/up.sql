-- Liaison-platform synchronisation: messages and replies imported from an external platform
-- (matched by the platform's ids), the board's acknowledgement of our published replies, and the
-- change feed's order over the ledger.

-- Messages imported from an external platform: upserted by (external_source, external_id).
-- `external_updated_at` is the platform's version of the item: an older one never overrides.
ALTER TABLE messages
    ADD COLUMN external_source     text CHECK (char_length(external_source) BETWEEN 1 AND 64),
    ADD COLUMN external_id         text CHECK (char_length(external_id) BETWEEN 1 AND 128),
    ADD COLUMN external_updated_at timestamptz,
    ADD CONSTRAINT messages_external_ref_check
        CHECK ((external_source IS NULL) = (external_id IS NULL)
           AND (external_source IS NULL) = (external_updated_at IS NULL));
CREATE UNIQUE INDEX messages_external_ref_idx ON messages (external_source, external_id)
    WHERE external_source IS NOT NULL;

-- Replies written on the external platform (imported, already public there), and the board's
-- acknowledgement of replies we published (its reply id and URL).
ALTER TABLE replies
    ADD COLUMN external_source     text CHECK (char_length(external_source) BETWEEN 1 AND 64),
    ADD COLUMN external_id         text CHECK (char_length(external_id) BETWEEN 1 AND 128),
    ADD COLUMN external_updated_at timestamptz,
    ADD COLUMN board_reply_id      text CHECK (char_length(board_reply_id) BETWEEN 1 AND 128),
    ADD COLUMN board_url           text CHECK (char_length(board_url) BETWEEN 1 AND 2048),
    ADD COLUMN acknowledged_at     timestamptz,
    ADD COLUMN acknowledged_by     uuid REFERENCES users (id),
    ADD CONSTRAINT replies_external_ref_check
        CHECK ((external_source IS NULL) = (external_id IS NULL)
           AND (external_source IS NULL) = (external_updated_at IS NULL)),
    ADD CONSTRAINT replies_acknowledged_check
        CHECK ((acknowledged_at IS NULL) = (board_reply_id IS NULL)
           AND (acknowledged_at IS NULL) = (acknowledged_by IS NULL)
           AND (acknowledged_at IS NULL OR status = 'published'));
CREATE UNIQUE INDEX replies_external_ref_idx ON replies (external_source, external_id)
    WHERE external_source IS NOT NULL;
-- Published replies of ours the board has not acknowledged yet, oldest first.
CREATE INDEX replies_unacknowledged_idx ON replies (published_at, id)
    WHERE status = 'published' AND acknowledged_at IS NULL AND external_source IS NULL;

-- The change feed reads the ledger in the order of `(feed_txid, id)`, and only rows whose
-- `feed_txid` lies below the oldest transaction still running (`pg_snapshot_xmin`): every
-- transaction that could still add a row before that point has ended, so a reader never skips
-- a row that commits late, and what it has read never changes order.
--
-- `feed_txid` is the writing transaction's id, raised to the previous event of the same message
-- when that one is higher: a transaction that took its id early and then waited for the
-- message's lock would otherwise sort before the event it waited for. Raising it keeps each
-- message's events in chain order and stays safe: the row becomes readable only once every
-- transaction below `feed_txid`, its own included, has ended.
ALTER TABLE message_events
    ADD COLUMN feed_txid xid8,
    ADD COLUMN feed_type text;

CREATE FUNCTION feed_event_type(action text, from_status text, to_status text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN action = 'submit' THEN 'message.created'
        WHEN action IN ('publish_reply', 'publish_interim_reply') THEN 'reply.published'
        WHEN action = 'import_reply' THEN 'reply.imported'
        WHEN action = 'acknowledge_reply' THEN 'reply.acknowledged'
        WHEN action = 'rate' THEN 'feedback.received'
        WHEN from_status IS DISTINCT FROM to_status THEN 'message.status_changed'
        ELSE 'message.updated'
    END
$$;

-- Backfill: a message's existing events get the running maximum of their transactions' ids.
ALTER TABLE message_events DISABLE TRIGGER message_events_no_update_delete;
UPDATE message_events e
SET feed_txid = f.feed_txid,
    feed_type = feed_event_type(e.action, e.from_status, e.to_status)
FROM (SELECT id, max(txid) OVER (PARTITION BY message_id ORDER BY seq) AS feed_txid
      FROM message_events) f
WHERE f.id = e.id;
ALTER TABLE message_events ENABLE TRIGGER message_events_no_update_delete;
ALTER TABLE message_events
    ALTER COLUMN feed_txid SET NOT NULL,
    ALTER COLUMN feed_type SET NOT NULL;

CREATE FUNCTION message_events_feed_position() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    previous xid8;
BEGIN
    NEW.feed_txid := pg_current_xact_id();
    IF NEW.seq > 1 THEN
        SELECT feed_txid INTO previous FROM message_events
        WHERE message_id = NEW.message_id AND seq = NEW.seq - 1;
        IF previous > NEW.feed_txid THEN
            NEW.feed_txid := previous;
        END IF;
    END IF;
    NEW.feed_type := feed_event_type(NEW.action, NEW.from_status, NEW.to_status);
    RETURN NEW;
END;
$$;
CREATE TRIGGER message_events_feed_position BEFORE INSERT ON message_events
    FOR EACH ROW EXECUTE FUNCTION message_events_feed_position();

CREATE INDEX message_events_feed_idx ON message_events (feed_txid, id);
