-- Access keys. The secret is stored encrypted with the service's key.
CREATE TABLE auth_credentials (
    access_key_id     varchar(20) PRIMARY KEY,
    access_secret_key bytea NOT NULL,
    issued_date       timestamp NOT NULL DEFAULT now(),
    user_id           integer NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE
);

CREATE INDEX auth_credentials_user_id_idx ON auth_credentials (user_id);
