-- Housekeeping finds expired rows by these without scanning whole tables.
CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at);
CREATE INDEX refresh_tokens_idle_expires ON refresh_tokens (idle_expires_at);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
CREATE INDEX grants_revoked ON grants (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX grants_expires ON grants (expires_at);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
CREATE INDEX login_throttle_window ON login_throttle (window_started_at);
CREATE INDEX revoked_access_tokens_expires ON revoked_access_tokens (expires_at);
