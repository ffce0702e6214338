DROP TABLE IF EXISTS repositories;
