//! An API's audience: an absolute URI without a fragment (RFC 8707 §2).

use std::fmt;

use super::absolute_uri_without_fragment;

/// Stored and compared as the exact string registered: no normalisation,
/// so `https://api.example.test` and `https://api.example.test/` differ.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Audience(String);

impl Audience {
    pub fn parse(raw: &str) -> Result<Self, String> {
        absolute_uri_without_fragment(raw, "RFC 8707 §2")?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_are_absolute_uris_without_fragment() {
        assert_eq!(
            Audience::parse("https://api.example.test").unwrap().as_str(),
            "https://api.example.test"
        );
        assert_eq!(
            Audience::parse("https://api.example.test/").unwrap().as_str(),
            "https://api.example.test/"
        );
        assert!(Audience::parse("urn:example:orders").is_ok());
        for bad in [
            "api.example.test",
            "/orders",
            "https://api.example.test/#x",
            "",
            "https://a b",
        ] {
            assert!(Audience::parse(bad).is_err(), "{bad}");
        }
    }
}
