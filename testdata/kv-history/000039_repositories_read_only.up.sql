-- A repository can be made read-only (during a storage move, say). New
-- repositories start on "main".
ALTER TABLE graveler_repositories
    ADD COLUMN read_only boolean NOT NULL DEFAULT false,
    ALTER COLUMN default_branch SET DEFAULT 'main';
