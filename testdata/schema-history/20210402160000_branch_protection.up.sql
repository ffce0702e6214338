BEGIN;

ALTER TABLE branches ADD COLUMN protected boolean NOT NULL DEFAULT false;

CREATE TABLE branch_protection_rules (
    repository_id   integer NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    pattern         text NOT NULL CHECK (pattern <> ''),
    blocked_actions text[] NOT NULL DEFAULT '{staging_write,commit}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, pattern)
);

-- Protect every default branch, as the release notes of 2.6 promised.
INSERT INTO branch_protection_rules (repository_id, pattern, created_at)
SELECT id, default_branch_name, '2021-04-02 16:00:00+00'
FROM repositories
WHERE deleted_at IS NULL;

UPDATE branches b
SET protected = true
FROM repositories r
WHERE r.id = b.repository_id AND b.name = r.default_branch_name;

COMMIT;
