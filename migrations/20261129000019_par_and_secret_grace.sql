-- Pushed authorization requests (RFC 9126) and client secret rotation with a
-- grace period (README "Pushed authorization requests", "Rotating a secret").

-- RFC 9126 §6: a client that must push its authorization requests.
ALTER TABLE clients ADD COLUMN require_par boolean NOT NULL DEFAULT false;

-- RFC 9126 §2.2: one pushed request, referenced by its `request_uri`
-- (`urn:ietf:params:oauth:request_uri:` + 256 random bits), stored only as
-- the SHA-256 of that random part. `params` is the checked request,
-- form-urlencoded. Spent once (`used_at`) by the first /authorize that names
-- it; what the sign-in pages carry afterwards is the resolved request with a
-- MAC, so the row is never read twice to start an authorization.
CREATE TABLE par_requests (
    id_hash bytea PRIMARY KEY CHECK (length(id_hash) = 32),
    client_id text NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    params text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX par_requests_client ON par_requests (client_id, expires_at);
CREATE INDEX par_requests_expires ON par_requests (expires_at);

-- A rotated secret's predecessor, still accepted until the grace ends.
ALTER TABLE clients
    ADD COLUMN previous_secret_hash bytea CHECK (previous_secret_hash IS NULL OR length(previous_secret_hash) = 32),
    ADD COLUMN previous_secret_valid_until timestamptz;
