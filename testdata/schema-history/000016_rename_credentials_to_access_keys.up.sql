BEGIN;

-- The API and the docs call them access keys; so does the schema now.
ALTER TABLE credentials RENAME TO access_keys;

ALTER INDEX credentials_pkey RENAME TO access_keys_pkey;
ALTER INDEX credentials_user_id_idx RENAME TO access_keys_user_id_idx;
ALTER INDEX credentials_expires_at_idx RENAME TO access_keys_expires_at_idx;
ALTER TABLE access_keys RENAME CONSTRAINT credentials_access_key_id_format TO access_keys_access_key_id_format;
ALTER TABLE access_keys RENAME CONSTRAINT credentials_key_type_check TO access_keys_key_type_check;
ALTER TABLE access_keys RENAME CONSTRAINT credentials_user_id_fkey TO access_keys_user_id_fkey;

COMMIT;
