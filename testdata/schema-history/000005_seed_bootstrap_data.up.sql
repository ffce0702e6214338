-- Seed data: the bootstrap administrator, the CI account and the sample
-- repository that every new installation starts with. The timestamps are
-- fixed so that every installation has the same rows.
INSERT INTO users (username, email, password_hash, is_admin, created_at) VALUES
    ('admin', ' Admin@Example.COM', NULL, true, '2019-02-01 09:00:00'),
    ('ci-bot', 'ci-bot@example.com', NULL, false, '2019-02-01 09:00:00');

INSERT INTO repositories (name, storage_namespace, storage_type, created_by, created_at)
SELECT 'sample-repo', 's3://example-sample-bucket/sample-repo', 's3', id, '2019-02-01 09:05:00+00'
FROM users
WHERE username = 'admin';

INSERT INTO commits (repository_id, id, parents, committer, message, metadata, created_at)
SELECT id, '086cedef18b2d618f985d4cf0da9b7eb2b16ecb3c74d8e173204a60fdba284df', '{}',
       'admin', 'Repository created', '{"origin": "seed"}', '2019-02-01 09:05:00+00'
FROM repositories
WHERE name = 'sample-repo';

INSERT INTO commits (repository_id, id, parents, committer, message, metadata, created_at)
SELECT id, 'b0b3d6d447cb32594d86599ee61fd8f7f92a505504fda2673fec6db1adf37780',
       '{086cedef18b2d618f985d4cf0da9b7eb2b16ecb3c74d8e173204a60fdba284df}',
       'admin', 'Add README; describe the sample data', '{"origin": "seed", "files": 1}',
       '2019-02-01 09:06:00+00'
FROM repositories
WHERE name = 'sample-repo';

INSERT INTO branches (repository_id, name, commit_id)
SELECT id, 'master', 'b0b3d6d447cb32594d86599ee61fd8f7f92a505504fda2673fec6db1adf37780'
FROM repositories
WHERE name = 'sample-repo';
