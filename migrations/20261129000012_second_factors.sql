-- Second factors (issue 14): a TOTP authenticator (RFC 6238) per person, its
-- secret sealed with a key derived from the master key, and the last time
-- step accepted (a code is accepted once: RFC 6238 §5.2); ten single-use
-- recovery codes, stored as SHA-256 hashes and shown once.
CREATE TABLE user_totp (
    user_id       uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret text NOT NULL,
    last_step     bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz
);

CREATE TABLE recovery_codes (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);
