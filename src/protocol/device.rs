//! Device cookies (OWASP Authentication Cheat Sheet, "Slow down online
//! guessing attacks with device cookies"): a browser that signed in to an
//! account gets a signed, long-lived cookie for it. Sign-in attempts that carry
//! a valid one for the account they name are throttled per device, so an
//! attacker who locks the account out does not lock out the browsers its owner
//! already uses.
//!
//! The value is `v1.<device id>.<expiry>.<HMAC-SHA256>`; the MAC covers the
//! device id, the expiry and the account's username key, so the cookie names
//! no account in the clear and vouches only for the account it was issued for.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};

use crate::crypto::field_mac::FieldMac;

/// How long a device cookie vouches for its browser; every sign-in renews it.
pub const LIFETIME: TimeDelta = TimeDelta::days(365);

const VERSION: &str = "v1";

/// A browser known to have signed in to an account: the random id its
/// device cookie carries (base64url of 128 bits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceId(String);

impl DeviceId {
    fn random() -> Self {
        let bytes: [u8; 16] = crate::random::bytes();
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The throttle key of this device's attempts.
    pub fn throttle_key(&self) -> String {
        format!("device:{}", self.0)
    }
}

/// Issues and checks device cookies with a key derived from the master key
/// (so every node accepts every node's cookies).
pub struct DeviceCookies {
    mac: FieldMac,
}

impl DeviceCookies {
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            mac: FieldMac::new(key),
        }
    }

    /// The MAC of a cookie's fields (a username may hold any character).
    fn mac(&self, device: &str, expires: i64, username_key: &str) -> String {
        self.mac.tag(&[VERSION, device, &expires.to_string(), username_key])
    }

    /// A cookie value for this account, keeping `device` (the browser's id
    /// from a valid cookie) or choosing a new one.
    pub fn issue(&self, username_key: &str, device: Option<DeviceId>, now: DateTime<Utc>) -> String {
        let device = device.unwrap_or_else(DeviceId::random);
        let expires = (now + LIFETIME).timestamp();
        let mac = self.mac(&device.0, expires, username_key);
        format!("{VERSION}.{}.{expires}.{mac}", device.0)
    }

    /// The device a cookie value vouches for, if it was issued by Lanyard for
    /// this account and has not expired.
    pub fn verify(&self, value: &str, username_key: &str, now: DateTime<Utc>) -> Option<DeviceId> {
        let mut parts = value.split('.');
        let (Some(VERSION), Some(device), Some(expires), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        // A device id is 128 bits in base64url, an expiry digits only.
        let well_formed = device.len() == 22
            && device
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !expires.is_empty()
            && expires.bytes().all(|b| b.is_ascii_digit());
        if !well_formed {
            return None;
        }
        let expires: i64 = expires.parse().ok()?;
        let genuine = self
            .mac
            .verify(&[VERSION, device, &expires.to_string(), username_key], mac);
        (genuine && expires > now.timestamp()).then(|| DeviceId(device.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn cookies() -> DeviceCookies {
        DeviceCookies::new([7; 32])
    }

    #[test]
    fn a_cookie_vouches_for_its_own_account_until_it_expires() {
        let now = test_now();
        let value = cookies().issue("ada", None, now);
        let device = cookies().verify(&value, "ada", now).expect("valid");
        assert_eq!(cookies().verify(&value, "bob", now), None, "another account");
        assert_eq!(cookies().verify(&value, "ada", now + LIFETIME), None, "expired");
        assert_eq!(
            DeviceCookies::new([8; 32]).verify(&value, "ada", now),
            None,
            "another key"
        );
        let renewed = cookies().issue("ada", Some(device.clone()), now);
        assert_eq!(cookies().verify(&renewed, "ada", now), Some(device), "the same device");
    }

    /// Found in review: with the fields joined by a separator, a user named
    /// `9999999999|bob` could turn their own cookie into one for `bob`.
    #[test]
    fn a_cookie_for_one_username_never_reads_as_one_for_another() {
        let now = test_now();
        let mallory = format!("{}|bob", (now + LIFETIME * 2).timestamp());
        let value = cookies().issue(&mallory, None, now);
        let parts: Vec<&str> = value.split('.').collect();
        let (device, expires, mac) = (parts[1], parts[2], parts[3]);
        let shifted = format!("v1.{device}|{expires}.{}.{mac}", (now + LIFETIME * 2).timestamp());
        assert_eq!(cookies().verify(&shifted, "bob", now), None);
    }

    #[test]
    fn a_tampered_cookie_vouches_for_nothing() {
        let now = test_now();
        let value = cookies().issue("ada", None, now);
        let later = (now + LIFETIME * 2).timestamp().to_string();
        let parts: Vec<&str> = value.split('.').collect();
        for forged in [
            format!("{}.{}.{later}.{}", parts[0], parts[1], parts[3]),
            format!("{}.AAAAAAAAAAAAAAAAAAAAAA.{}.{}", parts[0], parts[2], parts[3]),
            format!("v2.{}.{}.{}", parts[1], parts[2], parts[3]),
            format!("{value}.x"),
            String::new(),
        ] {
            assert_eq!(cookies().verify(&forged, "ada", now), None, "{forged}");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn a_cookie_vouches_for_exactly_the_account_it_was_issued_for(a in ".{1,30}", b in ".{1,30}") {
                let now = test_now();
                let value = cookies().issue(&a, None, now);
                prop_assert!(cookies().verify(&value, &a, now).is_some());
                prop_assert_eq!(cookies().verify(&value, &b, now).is_some(), a == b);
            }

            #[test]
            fn any_cookie_value_is_refused_unless_issued(value in ".{0,120}", user in ".{1,20}") {
                prop_assert!(cookies().verify(&value, &user, test_now()).is_none());
            }
        }
    }
}
