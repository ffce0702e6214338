DROP TRIGGER IF EXISTS users_normalize_email ON users;
DROP FUNCTION IF EXISTS normalize_user_email();
