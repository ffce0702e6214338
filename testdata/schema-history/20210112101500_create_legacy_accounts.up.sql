-- Accounts exported from the old billing system, kept verbatim until they
-- are matched with users. The column names are the export's CSV headers,
-- quoted as they were; yes, including the semicolons.
CREATE TABLE "legacy;accounts" (
    "Account ID"      integer PRIMARY KEY,
    "Full Name"       text,
    "E-mail; primary" text,
    "odd;name"        text,
    imported_at       timestamptz NOT NULL DEFAULT now()
);

COMMENT ON COLUMN "legacy;accounts"."odd;name" IS
    'Unknown column of the export; kept as is. Don''t rely on it; it is often empty.';

INSERT INTO "legacy;accounts" ("Account ID", "Full Name", "E-mail; primary", "odd;name", imported_at) VALUES
    (1, E'Sean O\'Brien', 'Sean.OBrien@example.com', 'a;b', '2021-01-12 10:15:00+00'),
    (2, 'Jane "JJ" Doe', 'JANE@example.com', '', '2021-01-12 10:15:00+00'),
    (3, E'Bob \'Tables\'; DROP', 'bob@example.net', E'--not a comment\n/* nor this */', '2021-01-12 10:15:00+00');
