-- users.created_at was the only timestamp without a time zone; its values
-- were always written in UTC.
ALTER TABLE users
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at SET DEFAULT now();

-- Exit codes were stored as the runner printed them; blank meant "none".
ALTER TABLE action_tasks
    ALTER COLUMN exit_code TYPE integer USING NULLIF(btrim(exit_code), '')::integer;
