-- The refs tables belong to the graveler package: name them after it,
-- with their primary keys.
ALTER TABLE repositories RENAME TO graveler_repositories;
ALTER TABLE branches RENAME TO graveler_branches;
ALTER TABLE commits RENAME TO graveler_commits;
ALTER TABLE tags RENAME TO graveler_tags;
ALTER TABLE staging_entries RENAME TO graveler_staging;

ALTER INDEX repositories_pkey RENAME TO graveler_repositories_pkey;
ALTER INDEX branches_pkey RENAME TO graveler_branches_pkey;
ALTER INDEX commits_pkey RENAME TO graveler_commits_pkey;
ALTER INDEX tags_pkey RENAME TO graveler_tags_pkey;
ALTER INDEX staging_entries_pkey RENAME TO graveler_staging_pkey;
