-- Before this migration a request whose assignment ended stayed pending: lapsed requests become
-- pending again (at most one per assignment, as a request needs an open assignment).
UPDATE extension_requests
   SET status = 'pending', decided_at = NULL, decided_by = NULL, decision_note = NULL,
       version = version + 1
 WHERE status = 'lapsed';
ALTER TABLE extension_requests DROP CONSTRAINT extension_requests_lapsed_undecided;
ALTER TABLE extension_requests DROP CONSTRAINT extension_requests_status_check;
ALTER TABLE extension_requests ADD CONSTRAINT extension_requests_status_check
    CHECK (status IN ('pending', 'approved', 'rejected'));
