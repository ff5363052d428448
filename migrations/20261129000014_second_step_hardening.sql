-- The second step, hardened (issue 14 review): a pending sign-in is
-- completed once (its nonce is spent here, across every node: housekeeping
-- deletes rows past expires_at), and wrong authenticator codes are counted
-- until a right one, so that guessing stops for good after too many
-- (NIST SP 800-63B §5.2.2) rather than only slowing down.
CREATE TABLE pending_sign_in_nonces (
    jti_hash    bytea PRIMARY KEY,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX pending_sign_in_nonces_expiry ON pending_sign_in_nonces (expires_at);

ALTER TABLE user_totp ADD COLUMN failures integer NOT NULL DEFAULT 0;

-- Ceremonies of one browser are looked up (and trimmed) by their binding.
CREATE INDEX webauthn_ceremonies_binding ON webauthn_ceremonies (binding, purpose);
