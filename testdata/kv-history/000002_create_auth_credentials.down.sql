DROP TABLE auth_credentials;
