-- Give the derived scopes back: exactly the rows up.sql changed lose the scope it gave them.
UPDATE users u
   SET scope_region_code = NULL,
       version = u.version + 1,
       updated_at = now()
  FROM derived_region_scopes d
 WHERE d.user_id = u.id;

DROP TABLE derived_region_scopes;
