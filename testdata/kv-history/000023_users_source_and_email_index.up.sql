-- Where a user comes from ("internal", "ldap", "oidc"); every user so far
-- was created by the service itself. One account per e-mail address,
-- whatever its case.
ALTER TABLE auth_users ADD COLUMN source text;

UPDATE auth_users SET source = 'internal';

CREATE UNIQUE INDEX auth_users_lower_email_idx ON auth_users (lower(email));
