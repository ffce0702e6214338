DELETE FROM branches WHERE name = 'dev';
