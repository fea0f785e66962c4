DELETE FROM ledger_event_classes WHERE action = 'clarification_lapsed';
DROP INDEX clarification_requests_unanswered_idx;
