-- The API's repository list reads the view; give it the branch count (new
-- columns go last, so CREATE OR REPLACE keeps the view's dependants).
CREATE OR REPLACE VIEW active_repositories AS
    SELECT id,
           name,
           storage_namespace,
           split_part(storage_namespace, ':', 1) AS storage_scheme,
           default_branch_name,
           created_by,
           created_at,
           branch_count
    FROM repositories
    WHERE deleted_at IS NULL;

-- A second branch for the sample repository (the getting-started guide
-- merges "dev" into "main"); the trigger updates branch_count.
INSERT INTO commits (repository_id, id, parents, committer, message, metadata, created_at, generation)
SELECT id, '2e23503d79dcecd935fa04075e4457c2817a643d1873d6c2190a7eb387964a35',
       '{b0b3d6d447cb32594d86599ee61fd8f7f92a505504fda2673fec6db1adf37780}',
       'ci-bot', 'Add the events dataset', '{"origin": "seed"}', '2025-06-02 14:30:00+00', 3
FROM repositories WHERE name = 'sample-repo';

INSERT INTO branches (repository_id, name, commit_id, staging_token)
SELECT id, 'dev', '2e23503d79dcecd935fa04075e4457c2817a643d1873d6c2190a7eb387964a35',
       'stg-' || id || '-dev'
FROM repositories WHERE name = 'sample-repo';
