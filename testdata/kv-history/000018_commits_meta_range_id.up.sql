-- A commit points at a meta-range, not at a tree.
ALTER TABLE graveler_commits RENAME COLUMN tree_id TO meta_range_id;
