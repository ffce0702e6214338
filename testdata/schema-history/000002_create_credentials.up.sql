BEGIN;

-- Access keys for the S3-compatible API. The secret is stored encrypted
-- with the service's master key; never log it.
CREATE TABLE credentials (
    access_key_id               text PRIMARY KEY,
    secret_access_key_encrypted bytea NOT NULL,
    user_id                     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at                   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credentials_access_key_id_format CHECK (access_key_id ~ '^AKIA[A-Z0-9]{12,28}$')
);

CREATE INDEX credentials_user_id_idx ON credentials (user_id);

COMMIT;
