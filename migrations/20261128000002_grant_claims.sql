-- The `claims` request parameter (OIDC Core §5.5) a grant was made with, so
-- UserInfo returns the essential claims asked for at /authorize.
ALTER TABLE grants ADD COLUMN claims jsonb;
