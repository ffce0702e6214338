CREATE TABLE repositories (
    id                serial PRIMARY KEY,
    name              text NOT NULL UNIQUE,
    storage_namespace text NOT NULL,
    storage_type      text NOT NULL DEFAULT 's3',
    default_branch    text NOT NULL DEFAULT 'master',
    created_by        bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT repositories_name_format CHECK (name ~ '^[a-z0-9][a-z0-9-]{2,62}$'),
    CONSTRAINT repositories_storage_type_check
        CHECK (storage_type IN ('s3', 'gs', 'azure', 'local'))
);

CREATE INDEX repositories_created_by_idx ON repositories (created_by);

COMMENT ON TABLE repositories IS
    'One row per repository; a repository''s objects live under its storage namespace.';
COMMENT ON COLUMN repositories.storage_namespace IS
    'URI prefix of the repository''s objects (e.g. s3://bucket/prefix); it never changes once set.';
