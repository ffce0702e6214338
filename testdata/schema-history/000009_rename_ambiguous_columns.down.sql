START TRANSACTION;
ALTER TABLE users RENAME COLUMN encrypted_password TO password_hash;
ALTER TABLE repositories RENAME COLUMN default_branch_name TO default_branch;
COMMIT;
