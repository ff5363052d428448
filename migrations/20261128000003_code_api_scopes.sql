-- The API scopes an authorization request asked for, per resource (RFC 8707),
-- carried from the code to its grant: {"<audience>": ["scope", …]}.
ALTER TABLE authorization_codes ADD COLUMN api_scopes jsonb NOT NULL DEFAULT '{}';
