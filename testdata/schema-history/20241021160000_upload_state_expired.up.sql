-- Uploads older than the bucket's lifecycle rule are "expired": the object
-- store has dropped their parts. Used from the next version on (a new enum
-- label cannot be used in the transaction that adds it).
ALTER TYPE upload_state ADD VALUE 'expired';
