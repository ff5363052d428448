//! The lifecycles of what a sign-in leaves behind, as states read from their
//! rows: a refresh token (live → rotated, reused when presented again;
//! revoked or expired), a grant (live → revoked) and a sign-in session (live
//! → signed out, expired or idled out). Flows match on these states; the
//! store's transitions (`rotate`, `revoke`, `end`) are the only way to move.

use chrono::{DateTime, Utc};

/// A refresh token, when presented (RFC 6749 §6, RFC 9700 §4.14.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshState {
    /// May be rotated for a new one, once.
    Live,
    /// Rotated already: presenting it again is reuse, which revokes its grant.
    Rotated,
    /// It or its grant was revoked.
    Revoked,
    /// Past its idle or absolute expiry.
    Expired,
}

impl RefreshState {
    /// Rotated comes first: a rotated token presented again is reuse
    /// whatever else is true of it; then revoked, then expired.
    pub fn of(rotated: bool, revoked: bool, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        match (rotated, revoked, expires_at <= now) {
            (true, _, _) => RefreshState::Rotated,
            (false, true, _) => RefreshState::Revoked,
            (false, false, true) => RefreshState::Expired,
            (false, false, false) => RefreshState::Live,
        }
    }
}

/// A grant: its tokens are honoured while it is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantState {
    Live,
    Revoked,
}

impl GrantState {
    pub fn of(revoked_at: Option<DateTime<Utc>>) -> Self {
        match revoked_at {
            Some(_) => GrantState::Revoked,
            None => GrantState::Live,
        }
    }
}

/// A sign-in session (OIDC Core §3.1.2.1, Session Management).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Live,
    /// Ended by a sign-out, an admin, a password reset or disabling.
    SignedOut,
    /// Past its absolute lifetime.
    Expired,
    /// Unused for longer than the idle timeout.
    IdledOut,
}

impl SessionState {
    pub fn of(
        ended: bool,
        expires_at: DateTime<Utc>,
        last_seen_at: DateTime<Utc>,
        idle: chrono::TimeDelta,
        now: DateTime<Utc>,
    ) -> Self {
        match (ended, expires_at <= now, last_seen_at + idle <= now) {
            (true, _, _) => SessionState::SignedOut,
            (false, true, _) => SessionState::Expired,
            (false, false, true) => SessionState::IdledOut,
            (false, false, false) => SessionState::Live,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn a_rotated_refresh_token_is_reuse_whatever_else_is_true_of_it() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let past = now - TimeDelta::seconds(1);
        assert_eq!(RefreshState::of(true, true, past, now), RefreshState::Rotated);
        assert_eq!(RefreshState::of(false, true, past, now), RefreshState::Revoked);
        assert_eq!(RefreshState::of(false, false, now, now), RefreshState::Expired);
        assert_eq!(
            RefreshState::of(false, false, now + TimeDelta::seconds(1), now),
            RefreshState::Live
        );
    }

    #[test]
    fn a_session_is_signed_out_before_it_is_expired_or_idle() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let idle = TimeDelta::minutes(30);
        let long_ago = now - TimeDelta::hours(2);
        assert_eq!(
            SessionState::of(true, long_ago, long_ago, idle, now),
            SessionState::SignedOut
        );
        assert_eq!(SessionState::of(false, long_ago, now, idle, now), SessionState::Expired);
        assert_eq!(
            SessionState::of(false, now + idle, long_ago, idle, now),
            SessionState::IdledOut
        );
        assert_eq!(SessionState::of(false, now + idle, now, idle, now), SessionState::Live);
    }
}
