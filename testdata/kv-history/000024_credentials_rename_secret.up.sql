-- The S3 name for it.
ALTER TABLE auth_credentials RENAME COLUMN access_secret_key TO secret_access_key;
