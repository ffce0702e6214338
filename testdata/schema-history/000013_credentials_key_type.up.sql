-- Service accounts and temporary keys (issued by the web UI's login) share
-- the table with users' keys.
ALTER TABLE credentials
    ADD COLUMN key_type text NOT NULL DEFAULT 'user',
    ADD CONSTRAINT credentials_key_type_check
        CHECK (key_type IN ('user', 'service', 'temporary'));

ALTER TABLE credentials ADD COLUMN expires_at timestamptz;

CREATE INDEX credentials_expires_at_idx ON credentials (expires_at) WHERE expires_at IS NOT NULL;
