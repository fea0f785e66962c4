-- An extension request still waiting when its assignment ends (the final reply is published, the
-- assignment is returned, transferred or cancelled) can no longer be decided: it lapses with the
-- assignment instead of staying pending for ever (issue 26, item 12).
ALTER TABLE extension_requests DROP CONSTRAINT extension_requests_status_check;
ALTER TABLE extension_requests ADD CONSTRAINT extension_requests_status_check
    CHECK (status IN ('pending', 'approved', 'rejected', 'lapsed'));
-- A lapsed request has no decider.
ALTER TABLE extension_requests ADD CONSTRAINT extension_requests_lapsed_undecided
    CHECK (status <> 'lapsed' OR decided_by IS NULL);

-- Requests left pending under assignments that already ended lapse now, at the assignment's end.
UPDATE extension_requests x
   SET status = 'lapsed',
       decided_at = COALESCE(a.completed_at, a.returned_at, a.updated_at),
       decision_note = 'the assignment ended (' || a.status || ') before a decision',
       version = x.version + 1
  FROM assignments a
 WHERE a.id = x.assignment_id
   AND x.status = 'pending'
   AND a.status NOT IN ('pending', 'signed_for');
