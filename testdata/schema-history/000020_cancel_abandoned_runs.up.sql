-- Runs left "queued" or "running" by runners that crashed (before 2.4 the
-- runner did not resume them) are cancelled; their tasks that never started
-- are skipped.
UPDATE action_tasks t
SET status = 'skipped'
FROM action_runs r
WHERE r.run_id = t.run_id
  AND r.end_time IS NULL
  AND t.start_time IS NULL;

UPDATE action_tasks t
SET status = 'cancelled'
FROM action_runs r
WHERE r.run_id = t.run_id
  AND r.end_time IS NULL
  AND t.status IN ('queued', 'running');

UPDATE action_runs
SET status = 'cancelled', end_time = start_time
WHERE status IN ('queued', 'running') AND end_time IS NULL;

CREATE INDEX action_runs_pending_idx ON action_runs (repository_id, start_time)
    WHERE status IN ('queued', 'running');
