-- The groups and policies every installation starts with. Fixed
-- timestamps: every installation has the same rows.
INSERT INTO auth_policies (created_at, display_name, statements) VALUES
    ('2020-03-02 10:00:00', 'FSFullAccess',
     '[{"effect": "allow", "action": ["fs:*"], "resource": "*"}]'),
    ('2020-03-02 10:00:00', 'FSReadAll',
     '[{"effect": "allow", "action": ["fs:List*", "fs:Read*"], "resource": "*"}]'),
    ('2020-03-02 10:00:00', 'AuthFullAccess',
     '[{"effect": "allow", "action": ["auth:*"], "resource": "*"}]'),
    ('2020-03-02 10:00:00', 'RepoManagementFullAccess',
     '[{"effect": "allow", "action": ["fs:*Repository*", "retention:*"], "resource": "*"}]');

INSERT INTO auth_groups (created_at, display_name) VALUES
    ('2020-03-02 10:00:00', 'Admins'),
    ('2020-03-02 10:00:00', 'Developers'),
    ('2020-03-02 10:00:00', 'Viewers');

INSERT INTO auth_group_policies (group_id, policy_id)
SELECT g.id, p.id
FROM auth_groups g
JOIN auth_policies p ON (g.display_name, p.display_name) IN (
    ('Admins', 'FSFullAccess'), ('Admins', 'AuthFullAccess'),
    ('Admins', 'RepoManagementFullAccess'),
    ('Developers', 'FSFullAccess'),
    ('Viewers', 'FSReadAll'));
