/* Expire uploads older than 7 days (the default lifecycle rule; see
   /* ops/lifecycle.md; rule "abort-incomplete-multipart" */ for why).
COMMIT;
   The line above is inside this comment: it is not a statement. */
UPDATE multipart_uploads
SET state = 'expired'
WHERE state = 'in_progress'
  AND created_at < TIMESTAMPTZ '2025-02-03 00:00:00+00';  -- 7 days before the release; fixed on purpose

DELETE FROM multipart_upload_parts p
USING multipart_uploads u
WHERE u.upload_id = p.upload_id AND u.state = 'expired';

INSERT INTO audit_events (occurred_at, action, resource, detail)
SELECT '2024-12-31 23:59:59+00', 'upload.expire', 'multipart_uploads',
       jsonb_build_object('expired', count(*), 'note', E'run by the schema upgrade; not by a user\'s request')
FROM multipart_uploads
WHERE state = 'expired';
