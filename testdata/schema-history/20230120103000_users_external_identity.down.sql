DROP INDEX users_source_external_id_key;
ALTER TABLE users DROP CONSTRAINT users_source_check;
ALTER TABLE users DROP COLUMN external_id;
ALTER TABLE users DROP COLUMN source;
