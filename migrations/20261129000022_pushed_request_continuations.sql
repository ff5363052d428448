-- Pushed authorization requests after /authorize (RFC 9126 §4; README
-- "Pushed authorization requests"). Spending the `request_uri` no longer
-- hands the request to the browser: the sign-in and consent pages carry a
-- MAC'd reference to this row, so the row lives on for the sign-in
-- (`carry_until`, set when the `request_uri` is spent), and it yields one
-- authorization code at most (`code_issued_at`, set once by one UPDATE).
ALTER TABLE par_requests
    ADD COLUMN carry_until timestamptz,
    ADD COLUMN code_issued_at timestamptz;

-- Housekeeping deletes a row once the later of its two ends has passed.
CREATE INDEX par_requests_ends ON par_requests ((coalesce(carry_until, expires_at)));
DROP INDEX par_requests_expires;
