-- Action runs and the runs of their hooks.

CREATE TABLE actions_runs (
    repository_id text,
    run_id        text,
    event_type    text NOT NULL,
    start_time    timestamptz NOT NULL,
    end_time      timestamptz NOT NULL,
    branch_id     text NOT NULL,
    source_ref    text NOT NULL,
    commit_id     text NOT NULL,
    passed        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (repository_id, run_id)
);

CREATE TABLE actions_run_hooks (
    repository_id text,
    run_id        text,
    hook_run_id   text,
    action_name   text NOT NULL,
    hook_id       text NOT NULL,
    start_time    timestamptz NOT NULL,
    end_time      timestamptz NOT NULL,
    passed        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (repository_id, run_id, hook_run_id)
);
