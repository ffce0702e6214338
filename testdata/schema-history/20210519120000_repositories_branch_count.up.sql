BEGIN;

-- The repository list shows the number of branches; counting them on every
-- page view was too slow for the large installations.
ALTER TABLE repositories ADD COLUMN branch_count integer;

UPDATE repositories r
SET branch_count = (SELECT count(*) FROM branches b WHERE b.repository_id = r.id);

ALTER TABLE repositories
    ALTER COLUMN branch_count SET DEFAULT 0,
    ALTER COLUMN branch_count SET NOT NULL,
    ADD CONSTRAINT repositories_branch_count_check CHECK (branch_count >= 0);

CREATE FUNCTION maintain_branch_count() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    repo  integer;
    delta integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        repo := NEW.repository_id;
        delta := 1;
    ELSIF TG_OP = 'DELETE' THEN
        repo := OLD.repository_id;
        delta := -1;
    ELSE
        RETURN NULL;
    END IF;
    BEGIN
        UPDATE repositories SET branch_count = branch_count + delta WHERE id = repo;
    EXCEPTION WHEN check_violation THEN
        -- The count drifted (rows deleted by hand); leave it; the nightly
        -- job recounts.
        RAISE WARNING 'branch_count of repository % would go negative; left as is', repo;
    END;
    RETURN NULL;
END;
$$;

CREATE TRIGGER branches_maintain_count
    AFTER INSERT OR DELETE ON branches
    FOR EACH ROW EXECUTE FUNCTION maintain_branch_count();

end;
