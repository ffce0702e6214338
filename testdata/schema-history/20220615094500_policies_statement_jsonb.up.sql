-- Policy statements were validated by the application only; store them as
-- jsonb and let the database check the shape.
ALTER TABLE policies ALTER COLUMN statement TYPE jsonb USING statement::jsonb;
ALTER TABLE policies
    ADD CONSTRAINT policies_statement_is_array CHECK (jsonb_typeof(statement) = 'array');
