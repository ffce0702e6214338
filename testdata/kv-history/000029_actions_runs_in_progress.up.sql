-- Runs are recorded when they start: a run or hook still running has no
-- end time. The UI lists a branch's runs, newest first.
ALTER TABLE actions_runs ALTER COLUMN end_time DROP NOT NULL;
ALTER TABLE actions_run_hooks ALTER COLUMN end_time DROP NOT NULL;

CREATE INDEX actions_runs_branch_idx ON actions_runs (repository_id, branch_id, start_time DESC);
