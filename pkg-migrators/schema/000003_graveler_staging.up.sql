-- Staged objects, hash-partitioned by staging token into 10 partitions.
-- A NULL identity is a tombstone (a staged delete).

CREATE TABLE graveler_staging_kv (
    staging_token varchar NOT NULL,
    key           bytea NOT NULL,
    identity      bytea NULL,
    data          bytea NULL
) PARTITION BY HASH (staging_token);

CREATE TABLE graveler_staging_kv_p0 PARTITION OF graveler_staging_kv FOR VALUES WITH (MODULUS 10, REMAINDER 0);
CREATE TABLE graveler_staging_kv_p1 PARTITION OF graveler_staging_kv FOR VALUES WITH (MODULUS 10, REMAINDER 1);
CREATE TABLE graveler_staging_kv_p2 PARTITION OF graveler_staging_kv FOR VALUES WITH (MODULUS 10, REMAINDER 2);
CREATE TABLE graveler_staging_kv_p3 PARTITION OF graveler_staging_kv FOR VALUES WITH (MODULUS 10, REMAINDER 3);
CREATE TABLE graveler_staging_kv_p4 PARTITION OF graveler_staging_kv FOR VALUES WITH (MODULUS 10, REMAINDER 4);
CREATE TABLE graveler_staging_kv_p5 PARTITION OF graveler_staging_kv FOR VALUES WITH (MODULUS 10, REMAINDER 5);
CREATE TABLE graveler_staging_kv_p6 PARTITION OF graveler_staging_kv FOR VALUES WITH (MODULUS 10, REMAINDER 6);
CREATE TABLE graveler_staging_kv_p7 PARTITION OF graveler_staging_kv FOR VALUES WITH (MODULUS 10, REMAINDER 7);
CREATE TABLE graveler_staging_kv_p8 PARTITION OF graveler_staging_kv FOR VALUES WITH (MODULUS 10, REMAINDER 8);
CREATE TABLE graveler_staging_kv_p9 PARTITION OF graveler_staging_kv FOR VALUES WITH (MODULUS 10, REMAINDER 9);

CREATE UNIQUE INDEX graveler_staging_kv_uniq_idx ON graveler_staging_kv (staging_token, key);
