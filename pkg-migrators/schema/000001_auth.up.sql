-- Users, groups, policies, their memberships and attachments, access
-- credentials, installation metadata and expired tokens.

CREATE TABLE auth_users (
    id                 serial PRIMARY KEY,
    created_at         timestamptz NOT NULL,
    display_name       text NOT NULL UNIQUE,
    friendly_name      text NULL,
    source             text NULL,
    email              text NULL UNIQUE,
    encrypted_password bytea NULL
);

CREATE TABLE auth_groups (
    id           serial PRIMARY KEY,
    created_at   timestamptz NOT NULL,
    display_name text NOT NULL UNIQUE
);

-- statement holds a JSON array of statements.
CREATE TABLE auth_policies (
    id           serial PRIMARY KEY,
    created_at   timestamptz NOT NULL,
    display_name text NOT NULL UNIQUE,
    statement    jsonb NOT NULL
);

CREATE TABLE auth_user_groups (
    user_id  integer REFERENCES auth_users (id) ON DELETE CASCADE,
    group_id integer REFERENCES auth_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);

CREATE TABLE auth_user_policies (
    user_id   integer REFERENCES auth_users (id) ON DELETE CASCADE,
    policy_id integer REFERENCES auth_policies (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, policy_id)
);

CREATE TABLE auth_group_policies (
    group_id  integer REFERENCES auth_groups (id) ON DELETE CASCADE,
    policy_id integer REFERENCES auth_policies (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, policy_id)
);

-- secret_access_key is stored encrypted.
CREATE TABLE auth_credentials (
    access_key_id     varchar(20) PRIMARY KEY,
    secret_access_key bytea NOT NULL,
    issued_date       timestamptz NOT NULL,
    user_id           integer NULL REFERENCES auth_users (id) ON DELETE CASCADE
);

CREATE TABLE auth_installation_metadata (
    key_name  text PRIMARY KEY,
    key_value text NOT NULL
);

CREATE TABLE auth_expired_tokens (
    token_id         text NOT NULL UNIQUE,
    token_expires_at timestamptz NOT NULL
);
