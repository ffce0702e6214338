-- New event types come with new releases of the hooks runner, not of the
-- schema: keep the type as text.
ALTER TABLE actions_runs ALTER COLUMN event_type TYPE text USING event_type::text;

DROP TYPE action_event_type;
