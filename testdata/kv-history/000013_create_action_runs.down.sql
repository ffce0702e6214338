DROP TABLE actions_run_hooks;
DROP TABLE actions_runs;
DROP TYPE action_event_type;
