START TRANSACTION;
ALTER TABLE multipart_uploads DROP COLUMN state;
DROP TYPE upload_state;
COMMIT;
