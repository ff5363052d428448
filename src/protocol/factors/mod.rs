//! Second factors (issue 14): a TOTP authenticator with recovery codes, and
//! passkeys; what a person has enrolled, the level that lets them reach, and
//! the methods (RFC 8176 `amr`) a completed second step adds to a sign-in.

pub mod passkeys;
pub mod pending;
pub mod recovery;
pub mod totp;

use uuid::Uuid;

use super::Provider;
use super::error::OAuthError;
use crate::model::AuthLevel;
use crate::store::second_factors::{self, FactorSummary};

/// What a person has enrolled.
#[derive(Debug, Clone, Default)]
pub struct Enrolled {
    pub summary: FactorSummary,
    /// Passkeys work at this issuer (its host is not an IP address).
    passkeys_on: bool,
}

impl Enrolled {
    pub async fn of(p: &Provider, user_id: Uuid) -> Result<Self, OAuthError> {
        let summary = second_factors::summary(&mut *p.pool.acquire().await?, user_id).await?;
        Ok(Self {
            summary,
            passkeys_on: p.webauthn.is_ok(),
        })
    }

    /// Whether the person has a passkey Lanyard can ask for.
    pub fn passkeys(&self) -> bool {
        self.passkeys_on && self.summary.passkeys > 0
    }

    /// Whether a password alone no longer signs this person in. A passkey
    /// counts even while passkeys are off (a misconfigured issuer): the
    /// person is not quietly let in with the password alone.
    pub fn any(&self) -> bool {
        self.summary.totp || self.summary.passkeys > 0
    }

    /// The highest level this person can reach with what they enrolled: a
    /// passkey is phishing-resistant (W3C WebAuthn §13.4.8: bound to the RP
    /// ID), a code multi-factor.
    pub fn reach(&self) -> AuthLevel {
        match (self.passkeys(), self.summary.totp) {
            (true, _) => AuthLevel::PhishingResistant,
            (false, true) => AuthLevel::MultiFactor,
            (false, false) => AuthLevel::Password,
        }
    }
}

/// The methods of a sign-in once `added` ones were proven too (RFC 8176 §2):
/// each method once, and `mfa` when a password was followed by something
/// the person holds.
pub fn with_methods(amr: &[String], added: &[&str]) -> Vec<String> {
    let mut methods: Vec<String> = amr.iter().filter(|m| *m != "mfa").cloned().collect();
    for m in added {
        if !methods.iter().any(|have| have == m) {
            methods.push((*m).to_owned());
        }
    }
    let held = ["otp", "hwk", "swk"];
    let two_factors =
        methods.iter().any(|m| m == "pwd" || m == "fed") && methods.iter().any(|m| held.contains(&m.as_str()));
    if two_factors || amr.iter().any(|m| m == "mfa") {
        methods.push("mfa".to_owned());
    }
    methods
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(m: &[&str]) -> Vec<String> {
        m.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_code_after_a_password_makes_two_factors() {
        assert_eq!(with_methods(&owned(&["pwd"]), &["otp"]), owned(&["pwd", "otp", "mfa"]));
        assert_eq!(
            with_methods(&owned(&["pwd", "otp", "mfa"]), &["otp"]),
            owned(&["pwd", "otp", "mfa"]),
            "each method once"
        );
        assert_eq!(
            with_methods(&[], &["otp"]),
            owned(&["otp"]),
            "a code alone is one factor"
        );
    }
}
