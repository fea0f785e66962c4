DROP TABLE instructions;
DROP TABLE supervision_reports;
DROP TABLE supervisions;
DROP TABLE clarification_requests;
DROP TABLE extension_requests;
DROP TABLE deadlines;
DROP TABLE assignments;
DROP TABLE dispatch_rules;
DROP TABLE deadline_policies;
DROP TABLE calendar_days;
ALTER TABLE messages DROP COLUMN return_count;
-- Messages past acceptance go back to `accepted`, the last status the old machine knows, so the
-- old constraint can hold again without losing a row.
UPDATE messages SET status = 'accepted'
    WHERE status IN ('assigned', 'in_progress', 'awaiting_clarification');
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('submitted', 'accepted', 'rejected', 'withdrawn'));
