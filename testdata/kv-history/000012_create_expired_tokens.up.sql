-- Tokens revoked before they expire; rows past expires_at can go.
CREATE TABLE auth_expired_tokens (
    token_id   text PRIMARY KEY,
    expires_at timestamp NOT NULL
);

CREATE INDEX auth_expired_tokens_expires_at_idx ON auth_expired_tokens (expires_at);
