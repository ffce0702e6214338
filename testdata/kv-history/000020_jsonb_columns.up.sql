-- jsonb: indexable, and compared by value rather than by text.
ALTER TABLE graveler_commits ALTER COLUMN metadata TYPE jsonb USING metadata::jsonb;
ALTER TABLE auth_policies ALTER COLUMN statements TYPE jsonb USING statements::jsonb;
