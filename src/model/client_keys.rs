//! Where a `private_key_jwt` client's public keys are (RFC 7591 §2 `jwks`
//! and `jwks_uri`, OIDC Core §9): a JWK Set registered with the client, or a
//! URL Lanyard fetches it from.

use std::fmt;

use super::{absolute_uri_without_fragment, https_or_loopback};

/// A client's registered public keys: exactly one of the two (RFC 7591 §2:
/// "MUST NOT both be present").
#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    /// A JWK Set (RFC 7517 §5), as registered (checked public-only and usable
    /// by `crypto::jwks` when registered).
    Jwks(serde_json::Value),
    /// Where the client publishes its JWK Set.
    JwksUri(JwksUri),
}

/// A `jwks_uri`: `https`, or `http` on a loopback host (a local test setup);
/// no fragment, no user information. Kept as the exact string registered.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JwksUri(String);

impl JwksUri {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = absolute_uri_without_fragment(raw, "RFC 7591 §2")?;
        https_or_loopback(raw, &url)?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JwksUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwks_uri_is_https_or_loopback_http() {
        for ok in [
            "https://rp.example/jwks.json",
            "http://127.0.0.1:8081/jwks",
            "http://localhost/jwks",
            "http://[::1]:9/k",
        ] {
            assert!(JwksUri::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://rp.example/jwks",
            "ftp://rp.example/jwks",
            "https://rp.example/jwks#x",
            "https://user@rp.example/jwks",
            "jwks.json",
            "file:///etc/jwks",
        ] {
            assert!(JwksUri::parse(bad).is_err(), "{bad}");
        }
    }
}
