-- Reverting drops the synchronisation columns. Refused while imported data or board
-- acknowledgements exist: dropping them would lose which external item a message or reply is
-- (and a later import would duplicate it).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM messages WHERE external_source IS NOT NULL)
       OR EXISTS (SELECT 1 FROM replies WHERE external_source IS NOT NULL
                                           OR acknowledged_at IS NOT NULL) THEN
        RAISE EXCEPTION 'imported messages or replies, or board acknowledgements, exist: reverting 000010 would lose their external ids';
    END IF;
END
$$;
DROP INDEX message_events_feed_idx;
DROP TRIGGER message_events_feed_position ON message_events;
DROP FUNCTION message_events_feed_position();
ALTER TABLE message_events DROP COLUMN feed_type, DROP COLUMN feed_txid;
DROP FUNCTION feed_event_type(text, text, text);
DROP INDEX replies_unacknowledged_idx;
DROP INDEX replies_external_ref_idx;
ALTER TABLE replies
    DROP CONSTRAINT replies_acknowledged_check,
    DROP CONSTRAINT replies_external_ref_check,
    DROP COLUMN acknowledged_by,
    DROP COLUMN acknowledged_at,
    DROP COLUMN board_url,
    DROP COLUMN board_reply_id,
    DROP COLUMN external_updated_at,
    DROP COLUMN external_id,
    DROP COLUMN external_source;
DROP INDEX messages_external_ref_idx;
ALTER TABLE messages
    DROP CONSTRAINT messages_external_ref_check,
    DROP COLUMN external_updated_at,
    DROP COLUMN external_id,
    DROP COLUMN external_source;
