Begin;

-- S3 multipart uploads in progress: the gateway maps the upload id it hands
-- out to the physical address of the object being assembled.
CREATE TABLE multipart_uploads (
    upload_id        text PRIMARY KEY,
    repository_id    integer NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    path             text NOT NULL,
    physical_address text NOT NULL,
    content_type     text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    metadata         jsonb
);

CREATE INDEX multipart_uploads_created_at_idx ON multipart_uploads (created_at);

INSERT INTO multipart_uploads (upload_id, repository_id, path, physical_address, content_type, created_at)
SELECT 'upl-0001', id, 'datasets/2019/03/events.parquet',
       's3://example-sample-bucket/sample-repo/data/gq1b2c3', 'application/octet-stream',
       '2019-04-02 10:00:00+00'
FROM repositories WHERE name = 'sample-repo';

End;
