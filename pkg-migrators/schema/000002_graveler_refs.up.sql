-- Repositories, branches, tags and commits.

CREATE TABLE graveler_repositories (
    id                text PRIMARY KEY,
    storage_namespace text NOT NULL,
    creation_date     timestamptz NOT NULL,
    default_branch    text NOT NULL
);

CREATE TABLE graveler_branches (
    repository_id text,
    id            text,
    staging_token text NULL,
    commit_id     text NULL,
    PRIMARY KEY (repository_id, id)
);

CREATE TABLE graveler_tags (
    repository_id text,
    id            text,
    commit_id     text NOT NULL,
    PRIMARY KEY (repository_id, id)
);

CREATE TABLE graveler_commits (
    repository_id text,
    id            text,
    committer     text NOT NULL,
    message       text NOT NULL,
    creation_date timestamptz NOT NULL,
    meta_range_id text NOT NULL,
    metadata      jsonb NULL,
    parents       text[] NULL,
    PRIMARY KEY (repository_id, id)
);
