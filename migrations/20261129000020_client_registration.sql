-- Dynamic client registration (RFC 7591) and its management (RFC 7592);
-- README "Dynamic client registration".

-- Initial access tokens (RFC 7591 §3) for `LANYARD_CLIENT_REGISTRATION=token`:
-- stored only as SHA-256, each with the registrations it still allows
-- (counted down by one atomic UPDATE) and its end.
CREATE TABLE registration_tokens (
    id uuid PRIMARY KEY,
    token_hash bytea NOT NULL UNIQUE,
    uses_left integer NOT NULL CHECK (uses_left >= 0),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);

-- How a client came to be: `admin` (CLI, admin page, admin API) or
-- `dynamic` (POST /register). A registered client holds the SHA-256 of its
-- registration access token (RFC 7592 §1), and the initial access token it
-- came with, if any (kept as its id when that token is gone).
ALTER TABLE clients
    ADD COLUMN registered_via text NOT NULL DEFAULT 'admin' CHECK (registered_via IN ('admin', 'dynamic')),
    ADD COLUMN registration_token_hash bytea,
    ADD COLUMN registered_with uuid;
