DROP TABLE auth_group_policies;
DROP TABLE auth_user_policies;
DROP TABLE auth_user_groups;
DROP TABLE auth_policies;
DROP TABLE auth_groups;
