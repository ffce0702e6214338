-- Deleting a repository only marks it; a background job removes its data
-- later. A deleted repository's name can be used again.
ALTER TABLE repositories ADD COLUMN deleted_at timestamptz;

ALTER TABLE repositories DROP CONSTRAINT repositories_name_key;
CREATE UNIQUE INDEX repositories_name_live_key ON repositories (name) WHERE deleted_at IS NULL;

CREATE VIEW active_repositories AS
    SELECT id, name, storage_namespace, storage_type, default_branch_name, created_by, created_at
    FROM repositories
    WHERE deleted_at IS NULL;
