DROP TRIGGER token_revocations_notify ON token_revocations;
DROP FUNCTION token_revocations_notify();
DROP TABLE token_revocations;
