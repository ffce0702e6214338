-- The length of the longest path to a root commit; NULL until computed.
ALTER TABLE graveler_commits ADD COLUMN generation bigint;

CREATE INDEX graveler_commits_creation_date_idx ON graveler_commits (repository_id, creation_date);
