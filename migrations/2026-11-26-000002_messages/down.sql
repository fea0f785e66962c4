DROP TABLE message_events;
DROP FUNCTION message_events_append_only();
DROP TABLE messages;
DROP SEQUENCE message_tracking_seq;
