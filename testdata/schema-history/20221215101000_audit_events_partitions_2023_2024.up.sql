-- The default partition must hold no row of these ranges (the monthly check
-- says it is empty); PostgreSQL checks that when the partitions are created.
CREATE TABLE audit_events_2023 PARTITION OF audit_events
    FOR VALUES FROM ('2023-01-01 00:00:00+00') TO ('2024-01-01 00:00:00+00');
CREATE TABLE audit_events_2024 PARTITION OF audit_events
    FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2025-01-01 00:00:00+00');
