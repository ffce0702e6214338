CREATE TABLE tags (
    repository_id text NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    id            text NOT NULL,
    commit_id     text NOT NULL,
    PRIMARY KEY (repository_id, id)
);
