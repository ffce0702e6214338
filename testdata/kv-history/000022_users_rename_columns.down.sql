ALTER TABLE auth_users RENAME COLUMN encrypted_password TO password_hash;
ALTER TABLE auth_users RENAME COLUMN friendly_name TO full_name;
ALTER TABLE auth_users RENAME CONSTRAINT auth_users_display_name_key TO auth_users_username_key;
ALTER TABLE auth_users ALTER COLUMN display_name TYPE varchar(64);
ALTER TABLE auth_users RENAME COLUMN display_name TO username;
