BEGIN;

-- A commit points at the tree of its objects and at its parent (none for
-- the first commit of a repository).
CREATE TABLE commits (
    repository_id text NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    id            text NOT NULL,
    committer     text NOT NULL,
    message       text NOT NULL DEFAULT '',
    creation_date timestamp NOT NULL,
    tree_id       text NOT NULL,
    metadata      json,
    parent_id     text,
    PRIMARY KEY (repository_id, id)
);

CREATE TABLE branches (
    repository_id text NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name          text NOT NULL,
    commit_id     text,
    PRIMARY KEY (repository_id, name)
);

COMMIT;
