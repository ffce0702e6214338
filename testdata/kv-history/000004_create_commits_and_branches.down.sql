DROP TABLE branches;
DROP TABLE commits;
