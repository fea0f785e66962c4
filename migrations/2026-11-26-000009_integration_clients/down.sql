-- Reverting keeps every account that has acted: an integration client's account may be the
-- actor of ledger events (append-only), so a database with integration clients is not reverted
-- (the error says why) rather than losing their history.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM users WHERE role = 'integration') THEN
        RAISE EXCEPTION 'integration clients exist: deactivate them instead of reverting 000009 (their accounts may be actors in the ledger)';
    END IF;
END
$$;
DROP TABLE integration_clients;
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('citizen', 'handler',
    'unit_admin', 'reviewer', 'supervisor', 'leader', 'analyst', 'admin'));
