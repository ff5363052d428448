-- What a client and an API ask of DPoP (RFC 9449): a client registered with
-- `dpop_bound_access_tokens` (§5.2) sends a proof with every token request;
-- an API that requires DPoP gets only bound tokens; either may ask for a
-- server nonce in the proofs (§8).
ALTER TABLE clients ADD COLUMN dpop_bound boolean NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN dpop_nonce boolean NOT NULL DEFAULT false;
ALTER TABLE apis ADD COLUMN require_dpop boolean NOT NULL DEFAULT false;
ALTER TABLE apis ADD COLUMN dpop_nonce boolean NOT NULL DEFAULT false;
