-- Uncommitted changes of a branch, under the branch's staging token. An
-- entry without an address is a staged delete.
CREATE TABLE staging_entries (
    branch_token text NOT NULL,
    path         bytea NOT NULL,
    address      bytea,
    value        bytea,
    PRIMARY KEY (branch_token, path)
);

ALTER TABLE branches ADD COLUMN staging_token text;
