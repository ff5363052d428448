//! A sign-in waiting for its second step: after the right password of a
//! person with a second factor, the browser holds a short-lived signed value
//! naming them (`v1.<user id>.<expiry>.<nonce>.<MAC>`) until the second step
//! completes; no session exists before that. The MAC also covers a stamp of
//! the person's password hash, so a password change voids it; the nonce is
//! spent when the sign-in completes, so it completes once.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::crypto::field_mac::FieldMac;

/// How long the second step may take after the password.
pub const LIFETIME: TimeDelta = TimeDelta::minutes(5);

const VERSION: &str = "v1";

/// A pending sign-in, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub user_id: Uuid,
    /// Spent when the sign-in completes.
    pub nonce: String,
    pub expires: DateTime<Utc>,
}

/// What a pending sign-in is bound to of its person: their password hash
/// (a digest of it, never the hash itself).
pub fn stamp(password_hash: Option<&str>) -> String {
    URL_SAFE_NO_PAD.encode(crate::crypto::secret::sha256(password_hash.unwrap_or_default()))
}

/// Issues and checks pending sign-ins with a key derived from the master key.
pub struct PendingSignIns {
    mac: FieldMac,
}

impl PendingSignIns {
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            mac: FieldMac::new(key),
        }
    }

    /// The value for a person (of this `stamp`) whose password was right at `now`.
    pub fn issue(&self, user_id: Uuid, stamp: &str, now: DateTime<Utc>) -> String {
        let (user, expires) = (user_id.to_string(), (now + LIFETIME).timestamp().to_string());
        let nonce = URL_SAFE_NO_PAD.encode(crate::random::bytes::<16>());
        let tag = self.mac.tag(&[VERSION, &user, &expires, &nonce, stamp]);
        format!("{VERSION}.{user}.{expires}.{nonce}.{tag}")
    }

    /// Whom a value claims to be for (not checked: `verify` does that).
    pub fn person(&self, value: &str) -> Option<Uuid> {
        value.split('.').nth(1)?.parse().ok()
    }

    /// The pending sign-in a value holds, if Lanyard issued it for this
    /// person's current `stamp` and it has not expired.
    pub fn verify(&self, value: &str, stamp: &str, now: DateTime<Utc>) -> Option<Pending> {
        let mut parts = value.split('.');
        let (Some(VERSION), Some(user), Some(expires), Some(nonce), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        if !self.mac.verify(&[VERSION, user, expires, nonce, stamp], tag) {
            return None;
        }
        let expires = DateTime::from_timestamp(expires.parse().ok()?, 0)?;
        (expires > now).then_some(())?;
        Some(Pending {
            user_id: user.parse().ok()?,
            nonce: nonce.to_owned(),
            expires,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_sign_in_names_its_person_until_it_expires_or_the_password_changes() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let pending = PendingSignIns::new([3; 32]);
        let user = Uuid::now_v7();
        let value = pending.issue(user, "stamp", now);
        assert_eq!(pending.person(&value), Some(user));
        assert_eq!(pending.verify(&value, "stamp", now).map(|p| p.user_id), Some(user));
        assert_eq!(pending.verify(&value, "stamp", now + LIFETIME), None, "expired");
        assert_eq!(
            pending.verify(&value, "new password", now),
            None,
            "the password changed"
        );
        assert_eq!(
            PendingSignIns::new([4; 32]).verify(&value, "stamp", now),
            None,
            "another key"
        );
        let other = value.replacen(&user.to_string(), &Uuid::now_v7().to_string(), 1);
        assert_eq!(pending.verify(&other, "stamp", now), None, "another person");
        assert_ne!(pending.issue(user, "stamp", now), value, "a nonce of its own each time");
    }
}
