-- Multipart uploads in progress through the S3 gateway.

CREATE TABLE gateway_multiparts (
    upload_id        varchar PRIMARY KEY,
    path             varchar COLLATE "C" NOT NULL,
    creation_date    timestamptz NOT NULL DEFAULT now(),
    physical_address varchar NULL
);
