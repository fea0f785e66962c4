-- The `alert_raised` events stay in the append-only ledger, and messages a keyword marked
-- important stay important: both are history, not schema.
DROP TABLE alert_messages;
DROP TABLE alerts;
DROP TABLE alert_rules;
DROP INDEX messages_address_key_idx;
DROP FUNCTION alert_address_key(text);
