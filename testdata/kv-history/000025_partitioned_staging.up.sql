BEGIN;

-- Staging moves to a hash-partitioned table keyed like the KV store it
-- imitates: (staging_token, key) -> (identity, data). The entries staged
-- so far move with it.
CREATE TABLE graveler_staging_kv (
    staging_token text NOT NULL,
    key           bytea NOT NULL,
    identity      bytea,
    data          bytea,
    PRIMARY KEY (staging_token, key)
) PARTITION BY HASH (staging_token);

CREATE TABLE graveler_staging_kv_p0 PARTITION OF graveler_staging_kv FOR VALUES WITH (MODULUS 8, REMAINDER 0);
CREATE TABLE graveler_staging_kv_p1 PARTITION OF graveler_staging_kv FOR VALUES WITH (MODULUS 8, REMAINDER 1);
CREATE TABLE graveler_staging_kv_p2 PARTITION OF graveler_staging_kv FOR VALUES WITH (MODULUS 8, REMAINDER 2);
CREATE TABLE graveler_staging_kv_p3 PARTITION OF graveler_staging_kv FOR VALUES WITH (MODULUS 8, REMAINDER 3);
CREATE TABLE graveler_staging_kv_p4 PARTITION OF graveler_staging_kv FOR VALUES WITH (MODULUS 8, REMAINDER 4);
CREATE TABLE graveler_staging_kv_p5 PARTITION OF graveler_staging_kv FOR VALUES WITH (MODULUS 8, REMAINDER 5);
CREATE TABLE graveler_staging_kv_p6 PARTITION OF graveler_staging_kv FOR VALUES WITH (MODULUS 8, REMAINDER 6);
CREATE TABLE graveler_staging_kv_p7 PARTITION OF graveler_staging_kv FOR VALUES WITH (MODULUS 8, REMAINDER 7);

INSERT INTO graveler_staging_kv (staging_token, key, identity, data)
SELECT branch_token, path, address, value FROM graveler_staging;

DROP TABLE graveler_staging;

COMMIT;
