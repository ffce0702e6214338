-- Hooks after a commit and after a merge. The new labels are used from
-- the next version on: PostgreSQL refuses a label in the transaction that
-- added it.
ALTER TYPE action_event_type ADD VALUE 'post-commit';
ALTER TYPE action_event_type ADD VALUE 'post-merge';
