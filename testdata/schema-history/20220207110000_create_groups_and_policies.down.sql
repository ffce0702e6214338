BEGIN;
DROP TABLE group_policies;
DROP TABLE policies;
DROP TABLE group_members;
DROP TABLE groups;
COMMIT;
