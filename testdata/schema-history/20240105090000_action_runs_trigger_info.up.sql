-- Which user or system event started a run; "event_type" becomes "event"
-- to match the hooks' YAML.
ALTER TABLE action_runs ADD COLUMN triggered_by bigint REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE action_runs ADD COLUMN attempt smallint NOT NULL DEFAULT 1 CHECK (attempt > 0);
ALTER TABLE action_runs RENAME COLUMN event_type TO event;

-- Skipped tasks are listed apart in the UI.
CREATE INDEX action_tasks_skipped_idx ON action_tasks (run_id) WHERE status = 'skipped';
