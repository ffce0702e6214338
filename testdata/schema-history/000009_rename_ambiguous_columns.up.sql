START TRANSACTION;

-- "default_branch" read like a boolean in the API docs; "password_hash"
-- was never a plain hash (bcrypt with a pepper). Say what they are.
ALTER TABLE repositories RENAME COLUMN default_branch TO default_branch_name;
ALTER TABLE users RENAME COLUMN password_hash TO encrypted_password;

COMMIT;
