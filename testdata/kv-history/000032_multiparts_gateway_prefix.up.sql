-- Multipart uploads belong to the gateway package. Paths are compared
-- byte by byte, like S3 keys.
ALTER TABLE multipart_uploads RENAME TO gateway_multiparts;
ALTER INDEX multipart_uploads_pkey RENAME TO gateway_multiparts_pkey;
ALTER TABLE gateway_multiparts ALTER COLUMN path TYPE text COLLATE "C";
