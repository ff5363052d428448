-- Lanyard's schema: every table of DESIGN.md "Data".
-- Secrets a client or browser holds are stored only as their SHA-256 (bytea, 32 bytes).

-- People who sign in. `id` is the OIDC `sub`: a random UUID v4, stable for life.
CREATE TABLE users (
    id                      uuid PRIMARY KEY,
    username                text NOT NULL,
    password_hash           text NOT NULL,
    is_admin                boolean NOT NULL DEFAULT false,
    disabled_at             timestamptz,
    -- OIDC Core §5.1 standard claims.
    name                    text,
    given_name              text,
    family_name             text,
    middle_name             text,
    nickname                text,
    preferred_username      text,
    profile                 text,
    picture                 text,
    website                 text,
    email                   text,
    email_verified          boolean NOT NULL DEFAULT false,
    gender                  text,
    birthdate               text,
    zoneinfo                text,
    locale                  text,
    phone_number            text,
    phone_number_verified   boolean NOT NULL DEFAULT false,
    address_formatted       text,
    address_street_address  text,
    address_locality        text,
    address_region          text,
    address_postal_code     text,
    address_country         text,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

-- Relying parties and services.
CREATE TABLE clients (
    client_id                   text PRIMARY KEY,
    name                        text NOT NULL,
    secret_hash                 bytea CHECK (secret_hash IS NULL OR length(secret_hash) = 32),
    auth_method                 text NOT NULL CHECK (auth_method IN ('client_secret_basic', 'client_secret_post', 'none')),
    redirect_uris               text[] NOT NULL DEFAULT '{}',
    post_logout_redirect_uris   text[] NOT NULL DEFAULT '{}',
    grant_types                 text[] NOT NULL,
    scopes                      text[] NOT NULL,
    first_party                 boolean NOT NULL DEFAULT false,
    id_token_alg                text NOT NULL DEFAULT 'RS256' CHECK (id_token_alg IN ('RS256', 'ES256', 'EdDSA')),
    created_at                  timestamptz NOT NULL,
    updated_at                  timestamptz NOT NULL,
    CHECK ((auth_method = 'none') = (secret_hash IS NULL))
);

-- `client_id` may exchange id_tokens issued to `trusted_client_id` (RFC 8693).
CREATE TABLE client_trusts (
    client_id           text NOT NULL REFERENCES clients ON DELETE CASCADE,
    trusted_client_id   text NOT NULL REFERENCES clients ON DELETE CASCADE,
    created_at          timestamptz NOT NULL,
    PRIMARY KEY (client_id, trusted_client_id),
    CHECK (client_id <> trusted_client_id)
);

-- Resource servers. `audience` is an absolute URI, compared as the exact string (RFC 8707 §2).
CREATE TABLE apis (
    id                  uuid PRIMARY KEY,
    audience            text NOT NULL UNIQUE,
    name                text NOT NULL,
    access_token_ttl    integer CHECK (access_token_ttl IS NULL OR access_token_ttl > 0),
    alg                 text NOT NULL DEFAULT 'ES256' CHECK (alg IN ('RS256', 'ES256', 'EdDSA')),
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);

CREATE TABLE api_scopes (
    api_id      uuid NOT NULL REFERENCES apis ON DELETE CASCADE,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    PRIMARY KEY (api_id, name)
);

-- Clients that may introspect an API's tokens (RFC 7662 §4).
CREATE TABLE api_resource_servers (
    api_id      uuid NOT NULL REFERENCES apis ON DELETE CASCADE,
    client_id   text NOT NULL REFERENCES clients ON DELETE CASCADE,
    PRIMARY KEY (api_id, client_id)
);

-- Which client may get which scopes of which API: the only source of that answer.
CREATE TABLE client_api_access (
    client_id   text NOT NULL REFERENCES clients ON DELETE CASCADE,
    api_id      uuid NOT NULL,
    scope       text NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (client_id, api_id, scope),
    FOREIGN KEY (api_id, scope) REFERENCES api_scopes (api_id, name) ON DELETE CASCADE
);

-- JWS signing keys. The private key is a compact JWE (dir + A256GCM, master key),
-- kept only while the key may sign (next, active).
CREATE TABLE signing_keys (
    kid                 text PRIMARY KEY,
    alg                 text NOT NULL CHECK (alg IN ('RS256', 'ES256', 'EdDSA')),
    state               text NOT NULL CHECK (state IN ('next', 'active', 'retired', 'retained', 'revoked')),
    public_jwk          jsonb NOT NULL,
    private_key_jwe     text,
    created_at          timestamptz NOT NULL,
    activated_at        timestamptz,
    retired_at          timestamptz,
    retained_at         timestamptz,
    revoked_at          timestamptz,
    CHECK ((private_key_jwe IS NOT NULL) = (state IN ('next', 'active')))
);
-- At most one active and one next key per algorithm.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE state = 'active';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (alg) WHERE state = 'next';

-- Browser sign-in sessions. The cookie holds a random value; the row holds its SHA-256.
-- `sid` (in id_tokens) is a separate random public id.
CREATE TABLE sessions (
    id              uuid PRIMARY KEY,
    token_hash      bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    sid             text NOT NULL UNIQUE,
    user_id         uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    auth_time       timestamptz NOT NULL,
    amr             text[] NOT NULL DEFAULT '{pwd}',
    created_at      timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    ip              text,
    user_agent      text
);
CREATE INDEX sessions_user ON sessions (user_id);

-- What a user allowed a client: OIDC scopes, and API scopes per API.
CREATE TABLE consents (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    client_id   text NOT NULL REFERENCES clients ON DELETE CASCADE,
    scopes      text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (user_id, client_id)
);

CREATE TABLE consent_api_scopes (
    consent_id  uuid NOT NULL REFERENCES consents ON DELETE CASCADE,
    api_id      uuid NOT NULL REFERENCES apis ON DELETE CASCADE,
    scope       text NOT NULL,
    PRIMARY KEY (consent_id, api_id, scope)
);

-- One authorization: one code exchange. Its refresh-token family and access tokens carry its id.
CREATE TABLE grants (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    client_id       text NOT NULL REFERENCES clients ON DELETE CASCADE,
    session_id      uuid REFERENCES sessions ON DELETE SET NULL,
    consent_id      uuid REFERENCES consents ON DELETE SET NULL,
    scopes          text[] NOT NULL,
    api_scopes      jsonb NOT NULL DEFAULT '{}',
    resources       text[] NOT NULL DEFAULT '{}',
    auth_time       timestamptz NOT NULL,
    offline         boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    revoked_reason  text
);
CREATE INDEX grants_user ON grants (user_id);
CREATE INDEX grants_consent ON grants (consent_id);
CREATE INDEX grants_session ON grants (session_id);

CREATE TABLE authorization_codes (
    code_hash               bytea PRIMARY KEY CHECK (length(code_hash) = 32),
    client_id               text NOT NULL REFERENCES clients ON DELETE CASCADE,
    user_id                 uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    session_id              uuid REFERENCES sessions ON DELETE SET NULL,
    redirect_uri            text NOT NULL,
    scopes                  text[] NOT NULL,
    resources               text[] NOT NULL DEFAULT '{}',
    nonce                   text,
    code_challenge          text,
    code_challenge_method   text,
    claims                  jsonb,
    auth_time               timestamptz NOT NULL,
    created_at              timestamptz NOT NULL,
    expires_at              timestamptz NOT NULL,
    redeemed_at             timestamptz,
    grant_id                uuid REFERENCES grants ON DELETE SET NULL
);

-- Rotated on every use; a rotated token used again revokes its grant.
CREATE TABLE refresh_tokens (
    token_hash      bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    grant_id        uuid NOT NULL REFERENCES grants ON DELETE CASCADE,
    scopes          text[] NOT NULL,
    created_at      timestamptz NOT NULL,
    idle_expires_at timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    rotated_at      timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);

-- Access tokens without a grant (client_credentials) revoked before `exp` (RFC 7009).
CREATE TABLE revoked_access_tokens (
    jti         uuid PRIMARY KEY,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz NOT NULL
);

-- Sign-in failures per account (`user:<id>`) and per client address (`ip:<addr>`).
CREATE TABLE login_throttle (
    key                 text PRIMARY KEY,
    failures            integer NOT NULL,
    window_started_at   timestamptz NOT NULL,
    last_failure_at     timestamptz NOT NULL
);

CREATE TABLE audit_events (
    id          uuid PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    kind        text NOT NULL,
    outcome     text NOT NULL,
    actor       text,
    client_id   text,
    user_id     uuid,
    ip          text,
    reason      text,
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_time ON audit_events (occurred_at DESC);
CREATE INDEX audit_events_kind ON audit_events (kind, occurred_at DESC);
CREATE INDEX audit_events_client ON audit_events (client_id, occurred_at DESC);
CREATE INDEX audit_events_user ON audit_events (user_id, occurred_at DESC);

-- Token issuance per hour, grant type and client (charts and metrics).
CREATE TABLE token_counters (
    hour        timestamptz NOT NULL,
    grant_type  text NOT NULL,
    client_id   text NOT NULL,
    count       bigint NOT NULL,
    PRIMARY KEY (hour, grant_type, client_id)
);
