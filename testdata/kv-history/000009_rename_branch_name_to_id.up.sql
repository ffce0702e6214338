-- A branch is named by its id, like every other ref.
ALTER TABLE branches RENAME COLUMN name TO id;
