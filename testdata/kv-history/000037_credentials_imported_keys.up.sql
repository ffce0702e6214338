-- Keys imported from the previous access system: some belong to no user
-- (service keys), and their issue date was not kept. Record when a key
-- was last used.
ALTER TABLE auth_credentials
    ALTER COLUMN user_id DROP NOT NULL,
    ALTER COLUMN issued_date DROP NOT NULL,
    ADD COLUMN last_used_at timestamptz;
