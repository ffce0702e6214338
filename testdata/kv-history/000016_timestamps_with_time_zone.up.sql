BEGIN;

-- Every timestamp so far was written by servers running in UTC, without
-- a zone. Say so in the type, so that a client in another zone reads the
-- same instant.
ALTER TABLE auth_users
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC';
ALTER TABLE auth_credentials
    ALTER COLUMN issued_date TYPE timestamptz USING issued_date AT TIME ZONE 'UTC';
ALTER TABLE auth_groups
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC';
ALTER TABLE auth_policies
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC';
ALTER TABLE auth_expired_tokens
    ALTER COLUMN expires_at TYPE timestamptz USING expires_at AT TIME ZONE 'UTC';
ALTER TABLE repositories
    ALTER COLUMN creation_date TYPE timestamptz USING creation_date AT TIME ZONE 'UTC';
ALTER TABLE commits
    ALTER COLUMN creation_date TYPE timestamptz USING creation_date AT TIME ZONE 'UTC';
ALTER TABLE actions_runs
    ALTER COLUMN start_time TYPE timestamptz USING start_time AT TIME ZONE 'UTC',
    ALTER COLUMN end_time TYPE timestamptz USING end_time AT TIME ZONE 'UTC';
ALTER TABLE actions_run_hooks
    ALTER COLUMN start_time TYPE timestamptz USING start_time AT TIME ZONE 'UTC',
    ALTER COLUMN end_time TYPE timestamptz USING end_time AT TIME ZONE 'UTC';
ALTER TABLE multipart_uploads
    ALTER COLUMN creation_date TYPE timestamptz USING creation_date AT TIME ZONE 'UTC';

COMMIT;
