BEGIN;

-- Emails are compared case-insensitively everywhere; store them lowercased
-- and trimmed, so that the application can compare them with "=".
CREATE FUNCTION normalize_user_email() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.email IS NULL THEN
        RETURN NEW;
    END IF;
    NEW.email := lower(btrim(NEW.email));
    IF position('@' in NEW.email) < 2 THEN
        RAISE EXCEPTION 'invalid email address "%"; expected local@domain', NEW.email
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER users_normalize_email
    BEFORE INSERT OR UPDATE OF email ON users
    FOR EACH ROW EXECUTE FUNCTION normalize_user_email();

-- Fire the trigger on the rows that need it.
UPDATE users SET email = email WHERE email <> lower(btrim(email));

END;
