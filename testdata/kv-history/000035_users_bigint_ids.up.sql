BEGIN;

-- Installations that create a user per CI job run out of 32-bit ids.
ALTER TABLE auth_users ALTER COLUMN id TYPE bigint;
ALTER SEQUENCE auth_users_id_seq AS bigint;
ALTER TABLE auth_credentials ALTER COLUMN user_id TYPE bigint;
ALTER TABLE auth_user_groups ALTER COLUMN user_id TYPE bigint;
ALTER TABLE auth_user_policies ALTER COLUMN user_id TYPE bigint;

COMMIT;
