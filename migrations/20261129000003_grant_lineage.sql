-- What a grant rests on, so that it ends with it and never outlives it.
-- `grant_type`: how it was made (the code flow or a token exchange).
-- `parent_grant_id`: for an exchange of an id_token that a refresh of an
-- offline grant issued, that grant (revoking it revokes this one).
-- `expires_at`: when nothing it rests on can be live any more (an exchange:
-- its session's absolute expiry, or its parent's refresh lifetime; a code
-- flow grant: its refresh tokens' absolute expiry); housekeeping deletes it
-- once every token it issued has expired too.
ALTER TABLE grants ADD COLUMN grant_type text NOT NULL DEFAULT 'authorization_code';
ALTER TABLE grants ADD COLUMN parent_grant_id uuid REFERENCES grants ON DELETE CASCADE;
ALTER TABLE grants ADD COLUMN expires_at timestamptz;
CREATE INDEX grants_parent ON grants (parent_grant_id);
CREATE INDEX grants_client ON grants (client_id);
