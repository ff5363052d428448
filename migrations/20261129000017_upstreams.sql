-- Upstream OpenID providers (issue 15): Lanyard as a relying party of another
-- OpenID provider. An upstream only proves who someone is; the person becomes
-- (or is linked to) a Lanyard user, and every token stays Lanyard's.

-- A person who arrives from an upstream has no password until they set one.
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;

CREATE TABLE upstreams (
    id                     text PRIMARY KEY CHECK (id ~ '^[a-z0-9-]{1,40}$'),
    name                   text NOT NULL,
    issuer                 text NOT NULL,
    client_id              text NOT NULL,
    -- The client secret, sealed with a key derived from the master key
    -- (a compact JWE whose header names the upstream).
    sealed_secret          text NOT NULL,
    scopes                 text[] NOT NULL DEFAULT '{openid,email,profile}',
    link_by_verified_email boolean NOT NULL DEFAULT false,
    -- The standard claims copied onto the Lanyard user, and whether they are
    -- copied again at every sign-in (else only when the account is made).
    claims                 text[] NOT NULL DEFAULT '{name,given_name,family_name,email,picture,locale}',
    refresh_claims         boolean NOT NULL DEFAULT false,
    -- Upstream acr value -> Lanyard level (password, mfa, phishing-resistant).
    acr_map                jsonb NOT NULL DEFAULT '{}',
    enabled                boolean NOT NULL DEFAULT true,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL
);

-- Who a person is at an upstream: (upstream, issuer, sub) names one Lanyard
-- user. A `sub` is unique only within its issuer (OIDC Core §2): the issuer
-- the upstream had when the link was made is kept, and links of a former
-- issuer no longer apply. One link per user and upstream (and issuer).
CREATE TABLE upstream_links (
    upstream_id  text NOT NULL REFERENCES upstreams (id) ON DELETE CASCADE,
    issuer       text NOT NULL,
    subject      text NOT NULL,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    PRIMARY KEY (upstream_id, issuer, subject),
    UNIQUE (upstream_id, issuer, user_id)
);
CREATE INDEX upstream_links_user ON upstream_links (user_id);

-- A sign-in at an upstream under way: found by the SHA-256 of its `state`,
-- bound to the browser (`binding`, the SHA-256 of a random cookie), taken
-- once by DELETE … RETURNING.
CREATE TABLE upstream_flows (
    state_hash    bytea PRIMARY KEY,
    binding       bytea NOT NULL,
    upstream_id   text NOT NULL REFERENCES upstreams (id) ON DELETE CASCADE,
    pkce_verifier text NOT NULL,
    nonce         text NOT NULL,
    -- The authorization request (or admin/account page) to resume.
    request       text NOT NULL,
    return_to     text NOT NULL,
    -- Connecting from the account page: the user the upstream account is
    -- linked to (no sign-in), else NULL.
    link_user_id  uuid REFERENCES users (id) ON DELETE CASCADE,
    -- The `max_age` sent to the upstream (seconds), if any: its id_token
    -- must then carry an `auth_time` that satisfies it.
    max_age       bigint,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX upstream_flows_expires ON upstream_flows (expires_at);

-- A link waiting for the person to prove they own the account it names (an
-- existing account with the upstream's verified email): made only once this
-- browser signs in to that account with its own factors. Found by the
-- SHA-256 of its token, bound to the browser, taken once.
CREATE TABLE upstream_pending_links (
    token_hash  bytea PRIMARY KEY,
    binding     bytea NOT NULL,
    upstream_id text NOT NULL REFERENCES upstreams (id) ON DELETE CASCADE,
    issuer      text NOT NULL,
    subject     text NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- What the upstream said (the mapped claims, the level), for either answer.
    assertion   jsonb NOT NULL,
    request     text NOT NULL,
    return_to   text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX upstream_pending_links_expires ON upstream_pending_links (expires_at);

-- The sign-in page lists the enabled upstreams from the catalog in memory:
-- a change reloads it on every node (migration 0004's channel).
CREATE TRIGGER upstreams_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON upstreams
    FOR EACH STATEMENT EXECUTE FUNCTION lanyard_catalog_changed();
