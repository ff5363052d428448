//! Scopes: the OIDC scopes a client may ask for, and API scope tokens.

use std::fmt;

/// An OpenID Connect scope (OIDC Core §5.4 and §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OidcScope {
    Openid,
    Profile,
    Email,
    Phone,
    Address,
    OfflineAccess,
}

impl OidcScope {
    pub const ALL: [OidcScope; 6] = [
        OidcScope::Openid,
        OidcScope::Profile,
        OidcScope::Email,
        OidcScope::Address,
        OidcScope::Phone,
        OidcScope::OfflineAccess,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OidcScope::Openid => "openid",
            OidcScope::Profile => "profile",
            OidcScope::Email => "email",
            OidcScope::Phone => "phone",
            OidcScope::Address => "address",
            OidcScope::OfflineAccess => "offline_access",
        }
    }

    /// What the scope lets an application do, in plain words (the consent
    /// and account pages say it).
    pub fn in_words(self) -> &'static str {
        match self {
            OidcScope::Openid => "know who you are (your account identifier)",
            OidcScope::Profile => "see your name and profile details",
            OidcScope::Email => "see your email address",
            OidcScope::Phone => "see your phone number",
            OidcScope::Address => "see your postal address",
            OidcScope::OfflineAccess => "stay connected while you are signed out",
        }
    }
}

protocol_names!(OidcScope, "OIDC scope");

/// An API scope name: a scope-token of RFC 6749 §3.3
/// (`1*( %x21 / %x23-5B / %x5D-7E )`), at most 128 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeToken(String);

impl ScopeToken {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid_char = |c: char| c == '\x21' || ('\x23'..='\x5b').contains(&c) || ('\x5d'..='\x7e').contains(&c);
        if raw.is_empty() || raw.len() > 128 || !raw.chars().all(valid_char) {
            return Err(format!(
                "`{raw}` is not a scope name (1 to 128 visible ASCII characters, no space, `\"` or `\\`; RFC 6749 §3.3)"
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScopeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_tokens_follow_rfc_6749() {
        for ok in ["read", "orders:write", "https://api.example/x", "a_b-c.d"] {
            assert!(ScopeToken::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "two words", "quote\"", "back\\slash", "tab\t", "é"] {
            assert!(ScopeToken::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn oidc_scopes_round_trip() {
        for s in OidcScope::ALL {
            assert_eq!(s.as_str().parse::<OidcScope>(), Ok(s));
        }
        assert!("admin".parse::<OidcScope>().is_err());
    }
}
