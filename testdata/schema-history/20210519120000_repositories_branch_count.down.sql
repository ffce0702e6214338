DROP TRIGGER branches_maintain_count ON branches;
DROP FUNCTION maintain_branch_count();
ALTER TABLE repositories DROP COLUMN branch_count;
