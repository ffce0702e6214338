drop table if exists branches;
drop table if exists commits;
