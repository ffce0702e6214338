-- Single sign-on: a user comes from an identity provider ("source") and has
-- its id there. Local users keep source 'internal' and no external id.
ALTER TABLE users ADD COLUMN source text NOT NULL DEFAULT 'internal';
ALTER TABLE users ADD COLUMN external_id text;
ALTER TABLE users ADD CONSTRAINT users_source_check
    CHECK (source IN ('internal', 'oidc', 'ldap', 'legacy'));

CREATE UNIQUE INDEX users_source_external_id_key ON users (source, external_id)
    WHERE external_id IS NOT NULL;

COMMENT ON COLUMN users.external_id IS
    'The user''s id at the identity provider; NULL for internal users; unique per source.';
