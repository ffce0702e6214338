START TRANSACTION;

-- An upload's state, instead of deleting the row when it completes or is
-- aborted: the gateway answers ListMultipartUploads from this table.
CREATE TYPE upload_state AS ENUM ('in_progress', 'completed', 'aborted');

ALTER TABLE multipart_uploads ADD COLUMN state upload_state NOT NULL DEFAULT 'in_progress';

CREATE INDEX multipart_uploads_in_progress_idx ON multipart_uploads (repository_id, created_at)
    WHERE state = 'in_progress';

COMMENT ON TYPE upload_state IS 'State of a multipart upload; see the gateway''s docs/multipart.md.';

COMMIT;
