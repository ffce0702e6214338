-- New repositories start with "main". Existing default branches named
-- "master" are renamed, unless the repository already has a "main" branch.
-- Action runs keep the branch name they ran on: they are history.
UPDATE branches b
SET name = 'main'
FROM repositories r
WHERE r.id = b.repository_id
  AND b.name = 'master'
  AND r.default_branch_name = 'master'
  AND NOT EXISTS (SELECT 1 FROM branches o WHERE o.repository_id = b.repository_id AND o.name = 'main');

UPDATE branch_protection_rules p
SET pattern = 'main'
WHERE pattern = 'master'
  AND EXISTS (SELECT 1 FROM branches b WHERE b.repository_id = p.repository_id AND b.name = 'main');

UPDATE repositories r
SET default_branch_name = 'main'
WHERE default_branch_name = 'master'
  AND EXISTS (SELECT 1 FROM branches b WHERE b.repository_id = r.id AND b.name = 'main');

ALTER TABLE repositories ALTER COLUMN default_branch_name SET DEFAULT 'main';
