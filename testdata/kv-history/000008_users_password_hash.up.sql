-- Users who sign in with a password rather than with access keys only.
ALTER TABLE auth_users ADD COLUMN password_hash bytea;
