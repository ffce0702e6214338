ALTER INDEX graveler_staging_pkey RENAME TO staging_entries_pkey;
ALTER INDEX graveler_tags_pkey RENAME TO tags_pkey;
ALTER INDEX graveler_commits_pkey RENAME TO commits_pkey;
ALTER INDEX graveler_branches_pkey RENAME TO branches_pkey;
ALTER INDEX graveler_repositories_pkey RENAME TO repositories_pkey;

ALTER TABLE graveler_staging RENAME TO staging_entries;
ALTER TABLE graveler_tags RENAME TO tags;
ALTER TABLE graveler_commits RENAME TO commits;
ALTER TABLE graveler_branches RENAME TO branches;
ALTER TABLE graveler_repositories RENAME TO repositories;
