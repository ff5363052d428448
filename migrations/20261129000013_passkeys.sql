-- Passkeys (issue 14, WebAuthn Level 3): a person's discoverable
-- credentials, each the serialised webauthn-rs `Passkey` (public key,
-- signature counter, backup flags), and the ceremonies under way.
--
-- A credential id belongs to one account only (W3C WebAuthn §7.1 step 22:
-- "verify that the credentialId is not yet registered for any user").
CREATE TABLE passkeys (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id   bytea NOT NULL UNIQUE,
    passkey         jsonb NOT NULL,
    name            text NOT NULL,
    -- The authenticator's BE and BS flags (W3C WebAuthn §6.1): a synced
    -- passkey may be backed up; a device-bound one may not.
    backup_eligible boolean NOT NULL,
    backup_state    boolean NOT NULL,
    created_at      timestamptz NOT NULL,
    last_used_at    timestamptz
);
CREATE INDEX passkeys_user ON passkeys (user_id, created_at);

-- A ceremony's state between its options and the browser's answer
-- (W3C WebAuthn §13.4.3: each challenge is used once). The row is consumed
-- by one DELETE … RETURNING, so a ceremony finishes once; `binding` is the
-- SHA-256 of what it belongs to (the session, the pending sign-in, or the
-- browser), so another browser cannot finish it.
CREATE TABLE webauthn_ceremonies (
    id         uuid PRIMARY KEY,
    purpose    text NOT NULL CHECK (purpose IN ('register', 'sign_in', 'second_step')),
    user_id    uuid REFERENCES users (id) ON DELETE CASCADE,
    binding    bytea NOT NULL,
    state      jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires ON webauthn_ceremonies (expires_at);
