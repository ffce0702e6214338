-- The user's id at an external identity provider, when it comes from one.
ALTER TABLE auth_users ADD COLUMN external_id varchar(255);

CREATE UNIQUE INDEX auth_users_external_id_idx ON auth_users (external_id)
    WHERE external_id IS NOT NULL;
