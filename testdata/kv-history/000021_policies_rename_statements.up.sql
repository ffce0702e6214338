ALTER TABLE auth_policies RENAME COLUMN statements TO statement;
