//! How a person signed in: the methods used (RFC 8176 `amr` values) and the
//! level they reach (the `acr` claim, OIDC Core §2), ordered from weakest.

/// The authentication context classes Lanyard issues (`acr_values_supported`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuthLevel {
    /// Something the person knows: a password.
    Password,
    /// Two factors: a password and a one-time code or a second key.
    MultiFactor,
    /// A key bound to the site that cannot be phished: a passkey.
    PhishingResistant,
}

impl AuthLevel {
    pub const ALL: [AuthLevel; 3] = [
        AuthLevel::Password,
        AuthLevel::MultiFactor,
        AuthLevel::PhishingResistant,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthLevel::Password => "password",
            AuthLevel::MultiFactor => "mfa",
            AuthLevel::PhishingResistant => "phishing-resistant",
        }
    }

    /// The level a sign-in with these `amr` methods reaches (RFC 8176 §2): a
    /// key's proof of possession (`hwk`, `swk` — WebAuthn) is phishing-
    /// resistant; `mfa`, or a password with a one-time code, is
    /// multi-factor; anything else counts as a password.
    pub fn of_methods(amr: &[String]) -> Self {
        let has = |m: &str| amr.iter().any(|a| a == m);
        if has("hwk") || has("swk") {
            AuthLevel::PhishingResistant
        } else if has("mfa") || (has("pwd") && has("otp")) {
            AuthLevel::MultiFactor
        } else {
            AuthLevel::Password
        }
    }
}

protocol_names!(AuthLevel, "acr value");

#[cfg(test)]
mod tests {
    use super::*;

    fn methods(m: &[&str]) -> Vec<String> {
        m.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_methods_used_decide_the_level() {
        assert_eq!(AuthLevel::of_methods(&methods(&["pwd"])), AuthLevel::Password);
        assert_eq!(
            AuthLevel::of_methods(&methods(&["pwd", "otp", "mfa"])),
            AuthLevel::MultiFactor
        );
        assert_eq!(AuthLevel::of_methods(&methods(&["pwd", "otp"])), AuthLevel::MultiFactor);
        assert_eq!(
            AuthLevel::of_methods(&methods(&["hwk", "user"])),
            AuthLevel::PhishingResistant
        );
        assert_eq!(
            AuthLevel::of_methods(&methods(&["otp"])),
            AuthLevel::Password,
            "one factor"
        );
        assert_eq!(AuthLevel::of_methods(&[]), AuthLevel::Password);
    }

    #[test]
    fn levels_are_ordered_and_named() {
        assert!(AuthLevel::Password < AuthLevel::MultiFactor);
        assert!(AuthLevel::MultiFactor < AuthLevel::PhishingResistant);
        for level in AuthLevel::ALL {
            assert_eq!(level.as_str().parse::<AuthLevel>(), Ok(level));
        }
        assert!("gold".parse::<AuthLevel>().is_err());
    }
}
