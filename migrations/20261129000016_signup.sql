-- Self-registration (README "Self-registration, invitations and email
-- verification"): invitations an admin hands out, and links that verify an
-- email address. Each holds only the SHA-256 of its single-use token.

CREATE TABLE invitations (
    id uuid PRIMARY KEY,
    token_hash bytea NOT NULL UNIQUE,
    -- The invited address: fixed in the registration form.
    email text NOT NULL,
    -- The registered account gets the admin role.
    is_admin boolean NOT NULL DEFAULT false,
    -- Whether the invitation was mailed to `email` (shown to admins; it never verifies the address).
    mailed boolean NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    used_by uuid REFERENCES users (id) ON DELETE SET NULL
);

CREATE INDEX invitations_expires ON invitations (expires_at);

-- An address waiting to be verified for an account (after registering, or
-- a change on the account page): the account's email changes only when the
-- link is used.
CREATE TABLE email_verifications (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email text NOT NULL,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);

CREATE INDEX email_verifications_user ON email_verifications (user_id);
CREATE INDEX email_verifications_expires ON email_verifications (expires_at);

-- Registration and verification look accounts up by address.
CREATE INDEX users_email_lower ON users (lower(email));
