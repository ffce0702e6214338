-- Uncommitted changes of a branch, keyed by the branch's staging token.
-- Hash partitioned: the table grows large and every query names one token.
CREATE TABLE staging_entries (
    staging_token    text NOT NULL,
    path             text NOT NULL,
    physical_address text,
    size             bigint NOT NULL DEFAULT 0 CHECK (size >= 0),
    checksum         text,
    is_tombstone     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (staging_token, path)
) PARTITION BY HASH (staging_token);

CREATE TABLE staging_entries_p0 PARTITION OF staging_entries FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE staging_entries_p1 PARTITION OF staging_entries FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE staging_entries_p2 PARTITION OF staging_entries FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE staging_entries_p3 PARTITION OF staging_entries FOR VALUES WITH (MODULUS 4, REMAINDER 3);

-- Every branch gets its staging token; existing branches get a derived one.
ALTER TABLE branches ADD COLUMN staging_token text;
UPDATE branches SET staging_token = 'stg-' || repository_id || '-' || name;
ALTER TABLE branches ALTER COLUMN staging_token SET NOT NULL;
CREATE UNIQUE INDEX branches_staging_token_key ON branches (staging_token);
