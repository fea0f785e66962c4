-- Instructions that briefings produced stay: they are leader instructions on the messages, with
-- their `instruct` events in the append-only ledger.
DROP INDEX supervisions_closed_idx;
DROP INDEX feedback_unsatisfied_idx;
DROP INDEX messages_important_activity_idx;
DROP TABLE briefing_items;
DROP TABLE briefings;
