-- For the BI dashboard: it matches the columns by their display names.
CREATE VIEW repository_overview AS
SELECT r.name                AS "Repository",
       r.default_branch_name AS "Default branch",
       r.branch_count        AS "Branches; total",
       u.username            AS "Created by",
       r.created_at          AS "Created at"
FROM repositories r
LEFT JOIN users u ON u.id = r.created_by
WHERE r.deleted_at IS NULL;

COMMENT ON VIEW repository_overview IS
    'Read by the BI dashboard; don''t rename the columns; the dashboard matches them by name.';
COMMENT ON COLUMN repository_overview."Branches; total" IS 'repositories.branch_count; kept by a trigger.';
