-- private_key_jwt (RFC 7523 §2.2, OIDC Core §9): a client may authenticate
-- with a JWT signed by one of its own keys, registered as a JWK Set of public
-- keys (`jwks`) or the URL where the client publishes it (`jwks_uri`).
-- A client holds a secret only with a secret method, keys only with
-- private_key_jwt, and never both (RFC 7591 §2: jwks and jwks_uri are exclusive).
ALTER TABLE clients ADD COLUMN jwks jsonb, ADD COLUMN jwks_uri text;
ALTER TABLE clients DROP CONSTRAINT clients_auth_method_check;
ALTER TABLE clients DROP CONSTRAINT clients_check;
ALTER TABLE clients ADD CONSTRAINT clients_auth_method_check
    CHECK (auth_method IN ('client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'));
ALTER TABLE clients ADD CONSTRAINT clients_secret_with_secret_method
    CHECK ((auth_method IN ('client_secret_basic', 'client_secret_post')) = (secret_hash IS NOT NULL));
ALTER TABLE clients ADD CONSTRAINT clients_keys_with_private_key_jwt
    CHECK ((auth_method = 'private_key_jwt') = (num_nonnulls(jwks, jwks_uri) = 1)
           AND num_nonnulls(jwks, jwks_uri) <= 1);

-- The client assertions already accepted (RFC 7523 §3 item 7): a `jti` is
-- accepted once per client across every node until the assertion expires.
-- Keyed by the SHA-256 of the client_id and the jti; housekeeping deletes
-- rows past expires_at.
CREATE TABLE client_assertion_jtis (
    jti_hash    bytea PRIMARY KEY,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX client_assertion_jtis_expiry ON client_assertion_jtis (expires_at);
