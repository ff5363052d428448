//! A sign-in waiting for its second step: after the right password of a
//! person with a second factor, the browser holds a short-lived signed value
//! naming them (`v1.<user id>.<expiry>.<MAC>`) until the second step
//! completes; no session exists before that.

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::crypto::field_mac::FieldMac;

/// How long the second step may take after the password.
pub const LIFETIME: TimeDelta = TimeDelta::minutes(5);

const VERSION: &str = "v1";

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

    /// The value for a person whose password was right at `now`.
    pub fn issue(&self, user_id: Uuid, now: DateTime<Utc>) -> String {
        let (user, expires) = (user_id.to_string(), (now + LIFETIME).timestamp().to_string());
        let tag = self.mac.tag(&[VERSION, &user, &expires]);
        format!("{VERSION}.{user}.{expires}.{tag}")
    }

    /// The person a value names, if Lanyard issued it and it has not expired.
    pub fn verify(&self, value: &str, now: DateTime<Utc>) -> Option<Uuid> {
        let mut parts = value.split('.');
        let (Some(VERSION), Some(user), Some(expires), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let genuine = self.mac.verify(&[VERSION, user, expires], tag);
        let live = expires.parse::<i64>().is_ok_and(|e| e > now.timestamp());
        (genuine && live).then(|| user.parse().ok()).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_sign_in_names_its_person_until_it_expires() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let pending = PendingSignIns::new([3; 32]);
        let user = Uuid::now_v7();
        let value = pending.issue(user, now);
        assert_eq!(pending.verify(&value, now), Some(user));
        assert_eq!(pending.verify(&value, now + LIFETIME), None, "expired");
        assert_eq!(PendingSignIns::new([4; 32]).verify(&value, now), None, "another key");
        let other = value.replacen(&user.to_string(), &Uuid::now_v7().to_string(), 1);
        assert_eq!(pending.verify(&other, now), None, "another person");
    }
}
