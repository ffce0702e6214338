-- Repositories: a name, the bucket prefix their objects live under, and
-- the branch a new clone starts from.
CREATE TABLE repositories (
    id                text PRIMARY KEY,
    storage_namespace text NOT NULL,
    creation_date     timestamp NOT NULL DEFAULT now(),
    default_branch    text NOT NULL DEFAULT 'master'
);
