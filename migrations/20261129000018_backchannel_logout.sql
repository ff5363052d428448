-- OpenID Connect Back-Channel Logout 1.0 (README "Back-channel logout").

-- §2.2: where a client receives logout tokens, and whether it needs `sid`
-- in them (Lanyard always sends `sid`; the flag is the client's metadata).
ALTER TABLE clients
    ADD COLUMN backchannel_logout_uri text,
    ADD COLUMN backchannel_logout_session_required boolean NOT NULL DEFAULT false;

-- Logout tokens waiting to leave: one row per ended session and client that
-- received tokens in it, written in the transaction that ends the session
-- (or that redeems a code of a session already ended). A worker on any node
-- claims due rows (FOR UPDATE SKIP LOCKED), mints the token at send time,
-- POSTs it (§2.5) and retries failures with backoff for about a day, as
-- `mail_outbox` does. The client's URI is read from the catalog at send
-- time; a deleted client's rows go.
CREATE TABLE logout_outbox (
    id uuid PRIMARY KEY,
    client_id text NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    -- The user's `sub` and the session's public `sid` (not a reference: the
    -- logout must leave even when the user or the session row is deleted).
    sub text NOT NULL,
    sid text NOT NULL,
    created_at timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    sent_at timestamptz,
    -- Set when the worker gives up (a day of failures, or the queue full).
    failed_at timestamptz,
    last_error text
);

CREATE INDEX logout_outbox_due ON logout_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX logout_outbox_pending ON logout_outbox (created_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX logout_outbox_client ON logout_outbox (client_id);
-- One logout per session and client, whichever path queues it (a session
-- ending, or a code redeemed in an ended session, at the same moment); the
-- lab reads by sid.
CREATE UNIQUE INDEX logout_outbox_sid ON logout_outbox (sid, client_id);
