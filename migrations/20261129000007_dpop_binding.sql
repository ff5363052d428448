-- DPoP binding follows the grant (RFC 9449 §5, §10): the key an
-- authorization request named (`dpop_jkt`) travels with its code, and the key
-- a grant is bound to — its refresh tokens and the id_tokens it issued need a
-- proof of it — is the grant's. An RFC 7638 thumbprint, base64url.
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt text;
ALTER TABLE grants ADD COLUMN dpop_jkt text;
