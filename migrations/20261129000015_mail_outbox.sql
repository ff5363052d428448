-- Mail waiting to leave (README "Email and password reset"): a request only
-- inserts here; a worker on any node claims due rows (FOR UPDATE SKIP LOCKED),
-- sends them, and retries failures with backoff for about a day.
CREATE TABLE mail_outbox (
    id uuid PRIMARY KEY,
    recipient text NOT NULL,
    subject text NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    sent_at timestamptz,
    -- Set when the worker gives up (about 24 hours of failures).
    failed_at timestamptz,
    last_error text
);

-- The worker's query: rows still to send, by when they are due.
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

-- Password reset links: the SHA-256 of a single-use token, short-lived.
CREATE TABLE password_resets (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);

CREATE INDEX password_resets_user ON password_resets (user_id);
CREATE INDEX password_resets_expires ON password_resets (expires_at);
