-- Irreversible: restore the database from the backup taken before the
-- upgrade. Deliberately not SQL, so that running it fails at once.
IRREVERSIBLE MIGRATION: restore users.created_at from the backup;
