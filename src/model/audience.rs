//! An API's audience: an absolute URI without a fragment (RFC 8707 §2).

use std::fmt;

/// Stored and compared as the exact string registered: no normalisation,
/// so `https://api.example.test` and `https://api.example.test/` differ.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Audience(String);

impl Audience {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() > 2000 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("`{raw}` is not an absolute URI (RFC 8707 §2)"));
        }
        let url = url::Url::parse(raw)
            .map_err(|_| format!("`{raw}` is not an absolute URI (RFC 8707 §2)"))?;
        if url.fragment().is_some() || raw.contains('#') {
            return Err(format!("`{raw}` must not have a fragment (RFC 8707 §2)"));
        }
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
            Audience::parse("https://api.example.test")
                .unwrap()
                .as_str(),
            "https://api.example.test"
        );
        assert_eq!(
            Audience::parse("https://api.example.test/")
                .unwrap()
                .as_str(),
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
