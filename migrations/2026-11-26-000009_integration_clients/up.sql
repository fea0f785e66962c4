-- Integration clients (service accounts) of machine clients such as the provincial liaison
-- platform: OAuth 2.0 client credentials with scopes. Each client acts through an account of
-- role `integration` (same id), so its actions are recorded like anyone's, in the ledger.

ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('citizen', 'handler',
    'unit_admin', 'reviewer', 'supervisor', 'leader', 'analyst', 'admin', 'integration'));

CREATE TABLE integration_clients (
    -- The id of the client's account in `users`.
    id                uuid        PRIMARY KEY REFERENCES users (id),
    -- Public identifier sent with the secret.
    client_id         text        NOT NULL UNIQUE CHECK (client_id ~ '^lyc_[0-9a-f]{32}$'),
    name              text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- SHA-256 of the secret. Secrets are 256 random bits, so a fast hash is as safe as a slow
    -- one and costs nothing per token request; the secret itself is shown once, never stored.
    secret_hash       bytea       NOT NULL CHECK (length(secret_hash) = 32),
    scopes            text[]      NOT NULL
                                  CHECK (scopes <@ ARRAY['sync:read', 'sync:write', 'webhooks:manage']::text[]),
    active            boolean     NOT NULL DEFAULT true,
    version           integer     NOT NULL DEFAULT 1,
    created_by        uuid        NOT NULL REFERENCES users (id),
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    secret_rotated_at timestamptz NOT NULL,
    last_used_at      timestamptz
);
CREATE INDEX integration_clients_created_idx ON integration_clients (created_at DESC, id DESC);
