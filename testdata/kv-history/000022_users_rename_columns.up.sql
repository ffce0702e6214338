-- The names the API uses. Display names may be longer than 64
-- characters (names from identity providers are).
ALTER TABLE auth_users RENAME COLUMN username TO display_name;
ALTER TABLE auth_users ALTER COLUMN display_name TYPE text;
ALTER TABLE auth_users RENAME CONSTRAINT auth_users_username_key TO auth_users_display_name_key;
ALTER TABLE auth_users RENAME COLUMN full_name TO friendly_name;
ALTER TABLE auth_users RENAME COLUMN password_hash TO encrypted_password;
