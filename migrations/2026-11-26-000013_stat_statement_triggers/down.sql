-- Back to one trigger call per inserted or deleted row (the same deltas).
DROP TRIGGER messages_stat_delete ON messages;
DROP TRIGGER messages_stat_insert ON messages;
DROP FUNCTION stat_track_deleted();
DROP FUNCTION stat_track_inserted();
CREATE TRIGGER messages_stat_insert_delete AFTER INSERT OR DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION stat_track_message();
