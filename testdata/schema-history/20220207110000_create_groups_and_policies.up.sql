BEGIN;

-- Role-based access control: users belong to groups, groups have policies.
CREATE TABLE groups (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE group_members (
    group_id integer NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);

CREATE INDEX group_members_user_idx ON group_members (user_id);

CREATE TABLE policies (
    name       text PRIMARY KEY CHECK (name ~ '^[A-Za-z][A-Za-z0-9]*$'),
    statement  text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE group_policies (
    group_id    integer NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    policy_name text NOT NULL REFERENCES policies (name) ON UPDATE CASCADE ON DELETE CASCADE,
    PRIMARY KEY (group_id, policy_name)
);

INSERT INTO groups (name, description, created_at) VALUES
    ('Admins', E'Full access; including other users\' access keys', '2022-02-07 11:00:00+00'),
    ('Developers', E'Read and write data; create and delete branches', '2022-02-07 11:00:00+00'),
    ('Viewers', 'Read-only access', '2022-02-07 11:00:00+00');

INSERT INTO policies (name, statement, created_at) VALUES
    ('AllAccess', '[{"effect": "allow", "action": ["*"], "resource": "*"}]',
     '2022-02-07 11:00:00+00'),
    ('FSReadWrite', '[{"effect": "allow", "action": ["fs:Read*", "fs:Write*", "fs:CreateBranch"], "resource": "*"}]',
     '2022-02-07 11:00:00+00'),
    ('FSRead', '[{"effect": "allow", "action": ["fs:Read*", "fs:List*"], "resource": "*"}]',
     '2022-02-07 11:00:00+00');

INSERT INTO group_policies (group_id, policy_name)
SELECT g.id, p.name
FROM groups g
JOIN policies p ON (g.name, p.name) IN (('Admins', 'AllAccess'),
                                          ('Developers', 'FSReadWrite'),
                                          ('Viewers', 'FSRead'));

INSERT INTO group_members (group_id, user_id)
SELECT g.id, u.id
FROM groups g, users u
WHERE (g.name = 'Admins' AND u.is_admin)
   OR (g.name = 'Developers' AND u.username = 'ci-bot');

COMMIT;
