-- The scheduler looks for clarification requests left unanswered past the pause cap (issue 26,
-- item 13): only unanswered ones, oldest first.
CREATE INDEX clarification_requests_unanswered_idx ON clarification_requests (asked_at)
    WHERE answered_at IS NULL;
