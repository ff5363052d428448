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

    /// `min` and every level above it, space-separated (an `acr_values`
    /// that any of them satisfies: RFC 9470 §3).
    pub fn at_least(min: AuthLevel) -> String {
        let levels: Vec<&str> = Self::ALL.iter().filter(|l| **l >= min).map(|l| l.as_str()).collect();
        levels.join(" ")
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthLevel::Password => "password",
            AuthLevel::MultiFactor => "mfa",
            AuthLevel::PhishingResistant => "phishing-resistant",
        }
    }

    /// The level a sign-in with these `amr` methods reaches (RFC 8176 §2): a
    /// key's proof of possession (`hwk`, `swk` — WebAuthn) is phishing-
    /// resistant; `mfa`, or a password (or an upstream's sign-in, `fed`)
    /// with a one-time code, is multi-factor; anything else counts as a password.
    pub fn of_methods(amr: &[String]) -> Self {
        let has = |m: &str| amr.iter().any(|a| a == m);
        if has("hwk") || has("swk") {
            AuthLevel::PhishingResistant
        } else if has("mfa") || ((has("pwd") || has("fed")) && has("otp")) {
            AuthLevel::MultiFactor
        } else {
            AuthLevel::Password
        }
    }
}

protocol_names!(AuthLevel, "acr value");

/// An essential `acr` in a `claims` request (OIDC Core §5.5.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EssentialAcr {
    /// Whether any value was named (`value` or `values`).
    pub named: bool,
    /// The named values that are levels Lanyard knows.
    pub known: Vec<AuthLevel>,
}

impl EssentialAcr {
    /// The essential `acr` of an id_token claims request, if it has one.
    pub fn of(claims: Option<&serde_json::Value>) -> Option<Self> {
        use serde_json::Value;
        let acr = claims?.get("id_token")?.get("acr")?;
        if acr.get("essential").and_then(Value::as_bool) != Some(true) {
            return None;
        }
        let mut values: Vec<&str> = acr
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        values.extend(acr.get("value").and_then(Value::as_str));
        Some(Self {
            named: !values.is_empty(),
            known: values.iter().filter_map(|v| v.parse().ok()).collect(),
        })
    }

    /// The `acr` to state for a sign-in that reached `reached`: one of the
    /// values asked for, as §5.5.1.1 requires — the strongest the sign-in
    /// reaches — or the level reached when none was named.
    pub fn answer(&self, reached: AuthLevel) -> AuthLevel {
        self.known
            .iter()
            .copied()
            .filter(|l| *l <= reached)
            .max()
            .unwrap_or(reached)
    }
}

/// The `acr` an id_token states: the level `amr` reaches, answered in the
/// terms of an essential `acr` when the claims request has one.
pub fn stated_acr(amr: &[String], claims: Option<&serde_json::Value>) -> AuthLevel {
    let reached = AuthLevel::of_methods(amr);
    EssentialAcr::of(claims).map_or(reached, |e| e.answer(reached))
}

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
    fn an_essential_acr_is_answered_with_one_of_its_values() {
        let asked = serde_json::json!({"id_token": {"acr": {"essential": true, "values": ["password", "mfa"]}}});
        let passkey = methods(&["hwk", "user", "mfa"]);
        assert_eq!(
            stated_acr(&passkey, Some(&asked)),
            AuthLevel::MultiFactor,
            "the strongest asked for"
        );
        assert_eq!(
            stated_acr(&passkey, None),
            AuthLevel::PhishingResistant,
            "nothing asked"
        );
        let voluntary = serde_json::json!({"id_token": {"acr": {"values": ["mfa"]}}});
        assert_eq!(stated_acr(&passkey, Some(&voluntary)), AuthLevel::PhishingResistant);
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
