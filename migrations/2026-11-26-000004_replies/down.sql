DROP TABLE return_visits;
DROP TABLE feedback;
DROP TABLE reply_revisions;
DROP TABLE replies;
DROP TABLE reply_policy;
-- Reopened assignments become plain assignments again (the old constraint knows no other origin).
UPDATE assignments SET origin = 'assigned' WHERE origin = 'reopened';
ALTER TABLE assignments DROP CONSTRAINT assignments_origin_check;
ALTER TABLE assignments ADD CONSTRAINT assignments_origin_check
    CHECK (origin IN ('assigned', 'claimed', 'transferred'));
DROP INDEX messages_leader_status_idx;
DROP INDEX messages_public_board_idx;
DROP INDEX messages_feedback_until_idx;
ALTER TABLE messages
    DROP COLUMN reopen_count,
    DROP COLUMN closed_at,
    DROP COLUMN feedback_until,
    DROP COLUMN replied_at;
-- Replied and closed messages go back to `in_progress`, the last status the old machine knows
-- for a message a unit has worked on, so the old constraint can hold again without losing a row.
UPDATE messages SET status = 'in_progress' WHERE status IN ('replied', 'closed');
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check CHECK (status IN (
    'submitted', 'accepted', 'rejected', 'withdrawn',
    'assigned', 'in_progress', 'awaiting_clarification'));
