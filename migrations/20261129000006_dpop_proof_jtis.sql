-- DPoP proofs seen (RFC 9449 §11.1): a proof's jti is accepted once across
-- every node while its iat is within the accepted window. Keyed by the
-- SHA-256 of the key's thumbprint and the jti; housekeeping deletes rows
-- past expires_at.
CREATE TABLE dpop_proof_jtis (
    jti_hash    bytea PRIMARY KEY,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX dpop_proof_jtis_expiry ON dpop_proof_jtis (expires_at);
