-- Every account of a role that works in a region has a region scope (issue 17). Leader accounts
-- linked to a leader record take the record's region; the rows changed are logged so that
-- down.sql can give them back exactly what they had (nothing). Supervisors, leaders and analysts
-- whose region cannot be derived keep none: they see nothing region-scoped until an
-- administrator places them (the API refuses new ones without a scope).
CREATE TABLE derived_region_scopes (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    derived_at timestamptz NOT NULL DEFAULT now()
);

WITH derived AS (
    UPDATE users u
       SET scope_region_code = l.region_code,
           version = u.version + 1,
           updated_at = now()
      FROM leaders l
     WHERE u.role = 'leader'
       AND u.leader_id = l.id
       AND u.scope_region_code IS NULL
    RETURNING u.id
)
INSERT INTO derived_region_scopes (user_id) SELECT id FROM derived;
