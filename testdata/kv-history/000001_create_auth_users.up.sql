-- Users of the service: one row per account that can sign in.
CREATE TABLE auth_users (
    id         serial PRIMARY KEY,
    created_at timestamp NOT NULL DEFAULT now(),
    username   varchar(64) NOT NULL UNIQUE,
    full_name  text,
    email      text
);
