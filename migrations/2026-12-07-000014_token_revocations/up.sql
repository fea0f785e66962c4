-- Access-token revocations. Access tokens are verified without the database (signature and
-- claims), so voiding one before it expires needs a list that every process keeps in memory.
-- A row voids either every token of an account (a person or an integration client: users.id)
-- issued up to `issued_before` (deactivation, a new password), or every token of one login
-- (`session_id` = the refresh-token family = the tokens' `sid` claim: logout, a replayed refresh
-- token). A row matters only while a token it voids can be unexpired: housekeeping deletes it
-- after `expires_at` (the access-token lifetime plus leeway after it was written).
CREATE TABLE token_revocations (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_id    uuid,
    issued_before timestamptz,
    session_id    uuid,
    reason        text        NOT NULL
                              CHECK (reason IN ('deactivated', 'password', 'logout', 'refresh_reuse')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    CONSTRAINT token_revocations_one_kind CHECK (
        (subject_id IS NOT NULL AND issued_before IS NOT NULL AND session_id IS NULL)
        OR (subject_id IS NULL AND issued_before IS NULL AND session_id IS NOT NULL))
);
CREATE INDEX token_revocations_expires_idx ON token_revocations (expires_at);

-- Every process LISTENs on `liuyan_token_revocations`; the notification is sent in the
-- transaction that writes the row, so it arrives exactly when the row is committed (never for a
-- rolled-back one). `issued_before_ms`: milliseconds since the epoch, rounded down.
CREATE FUNCTION token_revocations_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('liuyan_token_revocations', json_build_object(
        'subject_id', NEW.subject_id,
        'issued_before_ms', floor(extract(epoch FROM NEW.issued_before) * 1000)::bigint,
        'session_id', NEW.session_id)::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER token_revocations_notify AFTER INSERT ON token_revocations
    FOR EACH ROW EXECUTE FUNCTION token_revocations_notify();
