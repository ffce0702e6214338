BEGIN;

-- The format of a commit's meta-range. Commits written so far are of
-- format 0; new ones are of format 1.
ALTER TABLE graveler_commits ADD COLUMN version smallint;

UPDATE graveler_commits SET version = 0;

ALTER TABLE graveler_commits
    ALTER COLUMN version SET DEFAULT 1,
    ALTER COLUMN version SET NOT NULL;

COMMIT;
