-- Commits get a format version and a generation (NULL until computed).

ALTER TABLE graveler_commits ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE graveler_commits ADD COLUMN generation integer NULL;
