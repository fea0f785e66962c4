-- The scheduler looks for clarification requests left unanswered past the pause cap (issue 26,
-- item 13): only unanswered ones, oldest first.
CREATE INDEX clarification_requests_unanswered_idx ON clarification_requests (asked_at)
    WHERE answered_at IS NULL;

-- Its ledger event, `clarification_lapsed`, in the access model's table (src/app/access.rs
-- EVENT_RULES): public that the clock runs again; whom it was escalated to stays internal.
INSERT INTO ledger_event_classes (action, event_class, public_fields, personal_fields) VALUES
    ('clarification_lapsed', 'public', '{clarification_id,paused_until}', '{}');
