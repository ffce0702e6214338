DROP VIEW repository_overview;
