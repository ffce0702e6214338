-- Turn the legacy billing accounts into users (source 'legacy'), unless a
-- user with the same email exists; then remember which user each account
-- became. The email trigger lowercases the addresses.
INSERT INTO users (username, email, display_name, source, external_id, created_at)
SELECT lower(regexp_replace(split_part(a."E-mail; primary", '@', 1), '[^A-Za-z0-9_.-]', '', 'g')),
       a."E-mail; primary",
       a."Full Name",
       'legacy',
       a."Account ID"::text,
       a.imported_at
FROM "legacy;accounts" a
WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.email = lower(btrim(a."E-mail; primary")))
ORDER BY a."Account ID";

ALTER TABLE "legacy;accounts"
    ADD COLUMN matched_user_id bigint REFERENCES users (id) ON DELETE SET NULL;

UPDATE "legacy;accounts" a
SET matched_user_id = u.id
FROM users u
WHERE u.source = 'legacy' AND u.external_id = a."Account ID"::text;
