ALTER TABLE branches DROP COLUMN staging_token;
DROP TABLE staging_entries;
