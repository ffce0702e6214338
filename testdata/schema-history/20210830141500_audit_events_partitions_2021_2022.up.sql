CREATE TABLE audit_events_2021 PARTITION OF audit_events
    FOR VALUES FROM ('2021-01-01 00:00:00+00') TO ('2022-01-01 00:00:00+00');
CREATE TABLE audit_events_2022 PARTITION OF audit_events
    FOR VALUES FROM ('2022-01-01 00:00:00+00') TO ('2023-01-01 00:00:00+00');

-- Events past the last yearly partition land here until ops add the next
-- year; the monthly check alerts when this partition is not empty.
CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;

INSERT INTO audit_events (occurred_at, user_id, action, resource, detail)
SELECT '2021-08-30 14:15:00+00', id, 'schema.partition', 'audit_events',
       '{"added": ["audit_events_2021", "audit_events_2022", "audit_events_default"]}'
FROM users WHERE username = 'admin';
