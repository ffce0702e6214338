BEGIN;

-- Merge commits have two parents: keep the list. A commit without a
-- parent gets an empty list.
ALTER TABLE graveler_commits ADD COLUMN parents text[];

UPDATE graveler_commits
SET parents = CASE WHEN parent_id IS NULL THEN '{}'::text[] ELSE ARRAY[parent_id] END;

ALTER TABLE graveler_commits DROP COLUMN parent_id;

COMMIT;
