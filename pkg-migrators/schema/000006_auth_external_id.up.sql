-- Users get an external id (from an external identity provider), and
-- email addresses become unique regardless of case.

ALTER TABLE auth_users ADD COLUMN external_id varchar(255) NULL UNIQUE;

CREATE UNIQUE INDEX auth_users_lower_email_idx ON auth_users (lower(email));
