-- A hook may run more than once in a run: each hook run gets its own id,
-- which becomes the key. Existing rows get an id made of their old key.
ALTER TABLE actions_run_hooks ADD COLUMN hook_run_id text;

UPDATE actions_run_hooks SET hook_run_id = md5(action_name || '/' || hook_id);

ALTER TABLE actions_run_hooks ALTER COLUMN hook_run_id SET NOT NULL;
ALTER TABLE actions_run_hooks DROP CONSTRAINT actions_run_hooks_pkey;
ALTER TABLE actions_run_hooks ADD PRIMARY KEY (repository_id, run_id, hook_run_id);
