-- Multipart uploads keep the object's metadata and content type; uploads
-- started before this version have NULL in both.

ALTER TABLE gateway_multiparts ADD COLUMN metadata jsonb NULL;
ALTER TABLE gateway_multiparts ADD COLUMN content_type text NULL;
