-- Facts about the installation itself, read at start-up. The rows below
-- are the same on every installation; setup fills in the e-mail address.
CREATE TABLE auth_installation_metadata (
    key_name  text PRIMARY KEY,
    key_value text
);

INSERT INTO auth_installation_metadata (key_name, key_value) VALUES
    ('metadata_layout', '1'),
    ('setup_contact_email', NULL);
