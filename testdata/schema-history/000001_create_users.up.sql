-- Users of the service. Passwords are checked locally for now; single
-- sign-on comes later.
CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL,
    email         text NOT NULL,
    password_hash text,
    is_admin      boolean NOT NULL DEFAULT false,
    created_at    timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_username_format CHECK (username ~ '^[a-z0-9][a-z0-9_.-]{0,63}$')
);

CREATE UNIQUE INDEX users_email_key ON users (lower(email));
