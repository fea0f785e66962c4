-- Foundation: reference data (regions, units, leaders, categories), users and their refresh
-- tokens, and the idempotency-key store.
-- Enumerations are text columns with CHECK constraints (not PostgreSQL enums) so that later
-- migrations can extend them inside a transaction.

CREATE TABLE regions (
    code        varchar(6)  PRIMARY KEY CHECK (code ~ '^[0-9]{6}$'),
    name        text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    level       text        NOT NULL CHECK (level IN ('province', 'city', 'county')),
    parent_code varchar(6)  REFERENCES regions (code),
    -- Materialised path of codes, '620000/620100/620102/', for subtree queries by prefix.
    path        text        NOT NULL UNIQUE,
    active      boolean     NOT NULL DEFAULT true,
    version     integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((level = 'province') = (parent_code IS NULL))
);
CREATE INDEX regions_path_prefix_idx ON regions (path text_pattern_ops);
CREATE INDEX regions_parent_idx ON regions (parent_code);

CREATE TABLE units (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    kind        text        NOT NULL CHECK (kind IN ('party_committee_office', 'government_office',
                                'department', 'district_government', 'liaison_office',
                                'supervision_office')),
    region_code varchar(6)  NOT NULL REFERENCES regions (code),
    parent_id   uuid        REFERENCES units (id),
    active      boolean     NOT NULL DEFAULT true,
    version     integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS DISTINCT FROM id)
);
CREATE UNIQUE INDEX units_region_name_key ON units (region_code, name);
CREATE INDEX units_parent_idx ON units (parent_id);
CREATE INDEX units_name_id_idx ON units (name, id);

CREATE TABLE leaders (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    title       text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    region_code varchar(6)  NOT NULL REFERENCES regions (code),
    -- The unit whose staff handle messages addressed to this leader (usually the liaison office).
    unit_id     uuid        NOT NULL REFERENCES units (id),
    active      boolean     NOT NULL DEFAULT true,
    version     integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX leaders_region_title_name_key ON leaders (region_code, title, name);
CREATE INDEX leaders_unit_idx ON leaders (unit_id);

CREATE TABLE categories (
    id          uuid        PRIMARY KEY,
    code        text        NOT NULL UNIQUE CHECK (code ~ '^[a-z][a-z0-9_]{1,49}$'),
    name        text        NOT NULL UNIQUE CHECK (char_length(name) BETWEEN 1 AND 100),
    description text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 1000),
    sort_order  integer     NOT NULL DEFAULT 0,
    active      boolean     NOT NULL DEFAULT true,
    version     integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX categories_order_idx ON categories (sort_order, id);

-- The topic list every installation starts with (admins edit it through the API).
INSERT INTO categories (id, code, name, description, sort_order) VALUES
    ('01930000-0000-7000-8000-000000000001', 'urban_construction', '城乡建设', 'Urban construction', 10),
    ('01930000-0000-7000-8000-000000000002', 'transport', '交通运输', 'Transport', 20),
    ('01930000-0000-7000-8000-000000000003', 'education', '教育', 'Education', 30),
    ('01930000-0000-7000-8000-000000000004', 'health', '医疗卫生', 'Health', 40),
    ('01930000-0000-7000-8000-000000000005', 'employment_wages', '就业和工资', 'Employment and wages', 50),
    ('01930000-0000-7000-8000-000000000006', 'social_security', '社会保障', 'Social security', 60),
    ('01930000-0000-7000-8000-000000000007', 'environment', '生态环境', 'Environment', 70),
    ('01930000-0000-7000-8000-000000000008', 'agriculture_rural', '农业农村', 'Agriculture and rural affairs', 80),
    ('01930000-0000-7000-8000-000000000009', 'public_security', '公共安全', 'Public security', 90),
    ('01930000-0000-7000-8000-00000000000a', 'cadre_work_style', '干部作风', 'Cadres'' work style', 100),
    ('01930000-0000-7000-8000-00000000000b', 'other', '其他', 'Other', 1000);

CREATE TABLE users (
    id                uuid        PRIMARY KEY,
    email             text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    password_hash     text        NOT NULL,
    display_name      text        NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 100),
    role              text        NOT NULL CHECK (role IN ('citizen', 'handler', 'unit_admin',
                                      'reviewer', 'supervisor', 'leader', 'analyst', 'admin')),
    unit_id           uuid        REFERENCES units (id),
    -- Region subtree a supervisor (or analyst) works in.
    scope_region_code varchar(6)  REFERENCES regions (code),
    -- For role `leader`: the leader this account belongs to.
    leader_id         uuid        REFERENCES leaders (id),
    active            boolean     NOT NULL DEFAULT true,
    version           integer     NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    last_login_at     timestamptz,
    CHECK (role NOT IN ('handler', 'unit_admin', 'reviewer') OR unit_id IS NOT NULL),
    CHECK (role <> 'supervisor' OR scope_region_code IS NOT NULL),
    CHECK (role <> 'citizen' OR (unit_id IS NULL AND scope_region_code IS NULL))
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_unit_idx ON users (unit_id, id);

-- Opaque refresh tokens, stored as SHA-256 hashes. A token is single-use: refreshing marks it
-- used and issues the next one in the same family; presenting a used token again revokes the
-- whole family (token theft detection).
CREATE TABLE refresh_tokens (
    id          uuid        PRIMARY KEY,
    family_id   uuid        NOT NULL,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea       NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- Idempotency-Key records (IETF draft-ietf-httpapi-idempotency-key-header): one per client
-- scope and key; `status_code` is NULL while the first request is in flight.
CREATE TABLE idempotency_keys (
    scope            text        NOT NULL,
    key              text        NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    method           text        NOT NULL,
    path             text        NOT NULL,
    request_hash     bytea       NOT NULL,
    status_code      smallint,
    response_headers jsonb,
    response_body    bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- An in-flight claim older than this is abandoned (its process died) and may be taken over.
    locked_until     timestamptz NOT NULL,
    completed_at     timestamptz,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
