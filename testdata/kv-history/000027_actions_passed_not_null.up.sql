-- A run or hook that never reported is a failure.
UPDATE actions_runs SET passed = false WHERE passed IS NULL;
ALTER TABLE actions_runs
    ALTER COLUMN passed SET DEFAULT false,
    ALTER COLUMN passed SET NOT NULL;

UPDATE actions_run_hooks SET passed = false WHERE passed IS NULL;
ALTER TABLE actions_run_hooks
    ALTER COLUMN passed SET DEFAULT false,
    ALTER COLUMN passed SET NOT NULL;
