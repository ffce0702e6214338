-- Not reversible: users created by the import may own repositories by now.
-- Deliberately not valid SQL, so that it fails at once if it is ever run.
DELETE FROM users WHERE source = 'legacy' AND AND;
