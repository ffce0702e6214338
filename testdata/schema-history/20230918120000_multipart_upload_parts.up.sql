-- Parts are tracked by the service, not only by the object store, so that
-- an interrupted upload can be listed and resumed.
CREATE TABLE multipart_upload_parts (
    upload_id   text NOT NULL REFERENCES multipart_uploads (upload_id) ON DELETE CASCADE,
    part_number integer NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    etag        text NOT NULL,
    size        bigint NOT NULL CHECK (size >= 0),
    PRIMARY KEY (upload_id, part_number)
);

-- The content type moves into the upload's metadata; drop the column.
UPDATE multipart_uploads
SET metadata = jsonb_set(coalesce(metadata, '{}'::jsonb), '{content_type}', to_jsonb(content_type))
WHERE content_type IS NOT NULL;

ALTER TABLE multipart_uploads DROP COLUMN content_type;

INSERT INTO multipart_upload_parts (upload_id, part_number, etag, size) VALUES
    ('upl-0001', 1, '"5d41402abc4b2a76b9719d911017c592"', 5242880),
    ('upl-0001', 2, '"7d793037a0760186574b0282f2f435e7"', 1048576);
