-- ALTER TYPE ... ADD VALUE may run inside the migration's transaction, but
-- the new labels cannot be used before that transaction commits: the rows
-- that need them are changed by the next version.
ALTER TYPE run_status ADD VALUE 'cancelled' AFTER 'failed';
ALTER TYPE run_status ADD VALUE IF NOT EXISTS 'skipped' BEFORE 'completed';
