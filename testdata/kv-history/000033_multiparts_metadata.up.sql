-- The object's user metadata and content type, given when the upload
-- starts. Uploads started before this version have neither.
ALTER TABLE gateway_multiparts ADD COLUMN metadata jsonb;
ALTER TABLE gateway_multiparts ADD COLUMN content_type text;
