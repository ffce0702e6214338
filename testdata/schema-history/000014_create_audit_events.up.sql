-- Who did what, kept for compliance. Range partitioned by year so that old
-- years can be detached and archived.
CREATE SEQUENCE audit_event_id_seq AS bigint START WITH 1000 INCREMENT BY 1 NO CYCLE;

CREATE TABLE audit_events (
    id          bigint NOT NULL DEFAULT nextval('audit_event_id_seq'),
    occurred_at timestamptz NOT NULL,
    user_id     bigint REFERENCES users (id) ON DELETE SET NULL,
    action      text NOT NULL,
    resource    text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);

ALTER SEQUENCE audit_event_id_seq OWNED BY audit_events.id;

CREATE TABLE audit_events_2019 PARTITION OF audit_events
    FOR VALUES FROM ('2019-01-01 00:00:00+00') TO ('2020-01-01 00:00:00+00');
CREATE TABLE audit_events_2020 PARTITION OF audit_events
    FOR VALUES FROM ('2020-01-01 00:00:00+00') TO ('2021-01-01 00:00:00+00');

CREATE INDEX audit_events_user_idx ON audit_events (user_id, occurred_at);

COMMENT ON TABLE audit_events IS
    'Append-only; never UPDATE a row. One partition per year; ops add next year''s in December.';
COMMENT ON COLUMN audit_events.detail IS 'Free-form JSON; keys are the action''s parameters; no secrets.';

INSERT INTO audit_events (occurred_at, user_id, action, resource, detail)
SELECT '2019-05-06 07:08:09+00', id, 'repository.create', 'sample-repo',
       '{"storage_namespace": "s3://example-sample-bucket/sample-repo"}'
FROM users WHERE username = 'admin';
