-- A key without a value is an empty value.
UPDATE auth_installation_metadata SET key_value = '' WHERE key_value IS NULL;

ALTER TABLE auth_installation_metadata
    ALTER COLUMN key_value SET DEFAULT '',
    ALTER COLUMN key_value SET NOT NULL;
