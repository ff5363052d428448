-- Usernames are unique by, and found by, one normalisation computed in
-- Lanyard (Unicode NFKC, then lower case), not by PostgreSQL's lower(),
-- which follows the database's locale. Rows made before this migration get
-- their key from `lanyard migrate` (and at start-up), not from SQL.
ALTER TABLE users ADD COLUMN username_key text;
DROP INDEX users_username_key;
CREATE UNIQUE INDEX users_username_key ON users (username_key);
