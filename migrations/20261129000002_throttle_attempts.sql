-- The sign-in throttle counts attempts before their password is checked, not
-- failures after, and marks the one attempt per account (or device cookie)
-- that may be in flight at a time.
ALTER TABLE login_throttle RENAME COLUMN failures TO attempts;
ALTER TABLE login_throttle RENAME COLUMN last_failure_at TO last_attempt_at;
ALTER TABLE login_throttle ADD COLUMN in_flight_until timestamptz;
