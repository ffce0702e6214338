-- Multipart uploads in progress through the S3 gateway.
CREATE TABLE multipart_uploads (
    upload_id        text PRIMARY KEY,
    path             text NOT NULL,
    creation_date    timestamp NOT NULL DEFAULT now(),
    physical_address text
);
