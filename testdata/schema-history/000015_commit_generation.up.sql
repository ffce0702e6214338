-- A commit's generation is its distance from the root commit, plus one: log
-- and merge-base queries stop early with it. Two steps: big installations ran
-- the backfill by hand between them.
BEGIN;

ALTER TABLE commits ADD COLUMN generation integer;

COMMIT;

BEGIN;

-- Follow first parents from the root commits; a merge commit's generation
-- is that of its first parent plus one (good enough for the planner).
WITH RECURSIVE g (repository_id, id, generation) AS (
    SELECT repository_id, id, 1
    FROM commits
    WHERE cardinality(parents) = 0
  UNION ALL
    SELECT c.repository_id, c.id, g.generation + 1
    FROM commits c
    JOIN g ON c.repository_id = g.repository_id AND c.parents[1] = g.id
)
UPDATE commits c
SET generation = m.generation
FROM (SELECT repository_id, id, max(generation) AS generation
      FROM g
      GROUP BY repository_id, id) m
WHERE c.repository_id = m.repository_id AND c.id = m.id;

ALTER TABLE commits ALTER COLUMN generation SET NOT NULL;
ALTER TABLE commits ADD CONSTRAINT commits_generation_positive CHECK (generation > 0);

COMMIT;
