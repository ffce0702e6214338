BEGIN;

-- Hooks run on repository events; a run is one event, with one row per
-- hook it ran.
CREATE TYPE action_event_type AS ENUM ('pre-commit', 'pre-merge');

CREATE TABLE actions_runs (
    repository_id text NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    run_id        text NOT NULL,
    event_type    action_event_type NOT NULL,
    start_time    timestamp NOT NULL,
    end_time      timestamp NOT NULL,
    branch_id     text NOT NULL,
    source_ref    text NOT NULL,
    commit_id     text NOT NULL DEFAULT '',
    passed        boolean,
    PRIMARY KEY (repository_id, run_id)
);

CREATE TABLE actions_run_hooks (
    repository_id text NOT NULL,
    run_id        text NOT NULL,
    action_name   text NOT NULL,
    hook_id       text NOT NULL,
    start_time    timestamp NOT NULL,
    end_time      timestamp NOT NULL,
    passed        boolean,
    PRIMARY KEY (repository_id, run_id, action_name, hook_id),
    FOREIGN KEY (repository_id, run_id) REFERENCES actions_runs ON DELETE CASCADE
);

COMMIT;
