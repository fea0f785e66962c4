-- Reverting drops the subscriptions, the outbox and its log (deliveries not yet made are lost).
DROP TRIGGER webhook_enqueue ON message_events;
DROP FUNCTION webhook_enqueue();
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_subscriptions;
