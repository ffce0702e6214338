BEGIN;
ALTER TABLE access_keys RENAME CONSTRAINT access_keys_user_id_fkey TO credentials_user_id_fkey;
ALTER TABLE access_keys RENAME CONSTRAINT access_keys_key_type_check TO credentials_key_type_check;
ALTER TABLE access_keys RENAME CONSTRAINT access_keys_access_key_id_format TO credentials_access_key_id_format;
ALTER INDEX access_keys_expires_at_idx RENAME TO credentials_expires_at_idx;
ALTER INDEX access_keys_user_id_idx RENAME TO credentials_user_id_idx;
ALTER INDEX access_keys_pkey RENAME TO credentials_pkey;
ALTER TABLE access_keys RENAME TO credentials;
COMMIT;
