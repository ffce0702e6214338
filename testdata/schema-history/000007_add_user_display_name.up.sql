/*
 * Display names for the UI. /* Nested comment: the old UI showed the
 * username; it keeps doing that when display_name is NULL; see #412. */
 * Nothing else changes; the column stays nullable.
 */
ALTER TABLE users ADD COLUMN display_name text;

-- The bootstrap accounts get names; everyone else keeps NULL; the UI copes.
UPDATE users SET display_name = E'Site Administrator (\'root\'; do not delete)'
WHERE username = 'admin';
UPDATE users SET display_name = E'CI bot \\ build; deploy' WHERE username = 'ci-bot';
