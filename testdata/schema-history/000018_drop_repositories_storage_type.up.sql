-- storage_type duplicated the scheme of storage_namespace and nothing has
-- read it since 2.3. The view selects it, so the view goes first; it comes
-- back with the scheme derived from the namespace.
DROP VIEW active_repositories;

ALTER TABLE repositories DROP COLUMN storage_type;

CREATE VIEW active_repositories AS
    SELECT id,
           name,
           storage_namespace,
           split_part(storage_namespace, ':', 1) AS storage_scheme,
           default_branch_name,
           created_by,
           created_at
    FROM repositories
    WHERE deleted_at IS NULL;
