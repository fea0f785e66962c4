DROP TABLE statistics_policy;
DROP FUNCTION stat_hist_add(integer[], integer[]);
DROP TABLE stat_cells;
DROP TRIGGER deadlines_stat ON deadlines;
DROP FUNCTION stat_track_deadline();
DROP TRIGGER messages_stat_update ON messages;
DROP TRIGGER messages_stat_insert_delete ON messages;
DROP FUNCTION stat_track_message();
DROP TABLE stat_deltas;
DROP FUNCTION stat_day(timestamptz);
DROP FUNCTION stat_measures(messages);
-- The copied facts are derived from deadlines, replies, feedback and return_visits, which keep
-- them: dropping the copies loses nothing.
ALTER TABLE messages
    DROP COLUMN visit_finding,
    DROP COLUMN rating,
    DROP COLUMN handling_days,
    DROP COLUMN reply_on_time,
    DROP COLUMN overdue_deadlines;
