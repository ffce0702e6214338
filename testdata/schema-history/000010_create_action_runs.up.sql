-- Hooks ("actions") run on repository events; one run per event, one task
-- per hook of the run.
CREATE TYPE run_status AS ENUM ('queued', 'running', 'completed', 'failed');

CREATE TABLE action_runs (
    run_id        text PRIMARY KEY,
    repository_id integer NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    branch_name   text NOT NULL,
    event_type    text NOT NULL,
    commit_id     text,
    status        run_status NOT NULL DEFAULT 'queued',
    start_time    timestamptz NOT NULL,
    end_time      timestamptz,
    CONSTRAINT action_runs_times CHECK (end_time IS NULL OR end_time >= start_time)
);

CREATE INDEX action_runs_repository_idx ON action_runs (repository_id, start_time DESC);

CREATE TABLE action_tasks (
    run_id      text NOT NULL REFERENCES action_runs (run_id) ON DELETE CASCADE,
    hook_id     text NOT NULL,
    action_name text NOT NULL,
    status      run_status NOT NULL DEFAULT 'queued',
    exit_code   text,
    start_time  timestamptz,
    end_time    timestamptz,
    PRIMARY KEY (run_id, hook_id)
);

-- The runs of the sample repository shown in the getting-started guide.
INSERT INTO action_runs (run_id, repository_id, branch_name, event_type, commit_id, status, start_time, end_time)
SELECT '20190320T120000-0001', id, 'master', 'pre-commit',
       'b0b3d6d447cb32594d86599ee61fd8f7f92a505504fda2673fec6db1adf37780', 'completed',
       '2019-03-20 12:00:00+00', '2019-03-20 12:00:04+00'
FROM repositories WHERE name = 'sample-repo';

INSERT INTO action_runs (run_id, repository_id, branch_name, event_type, status, start_time)
SELECT '20190321T083000-0002', id, 'master', 'pre-merge', 'running', '2019-03-21 08:30:00+00'
FROM repositories WHERE name = 'sample-repo';

INSERT INTO action_tasks (run_id, hook_id, action_name, status, exit_code, start_time, end_time) VALUES
    ('20190320T120000-0001', 'check_format', 'Check file formats', 'completed', '0',
     '2019-03-20 12:00:01+00', '2019-03-20 12:00:02+00'),
    ('20190320T120000-0001', 'notify', 'Notify the team', 'completed', ' ',
     '2019-03-20 12:00:02+00', '2019-03-20 12:00:04+00'),
    ('20190321T083000-0002', 'check_format', 'Check file formats', 'running', NULL,
     '2019-03-21 08:30:01+00', NULL),
    ('20190321T083000-0002', 'notify', 'Notify the team', 'queued', NULL, NULL, NULL);
