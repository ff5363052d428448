//! Names shown to people: a client's, an API's.

use std::fmt;

/// 1 to 200 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        let len = name.chars().count();
        if len == 0 || len > Self::MAX_CHARS || name.chars().any(char::is_control) {
            return Err(format!(
                "must be 1 to {} characters without control characters",
                Self::MAX_CHARS
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An optional name (field `name`): blank counts as absent.
    pub fn optional(raw: Option<String>) -> Result<Option<Self>, super::FieldError> {
        raw.filter(|n| !n.trim().is_empty())
            .map(|n| super::FieldError::check("name", Self::parse(&n)))
            .transpose()
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(DisplayName::parse("  Orders ").unwrap().as_str(), "Orders");
        assert!(DisplayName::parse("").is_err());
        assert!(DisplayName::parse("a\u{7}b").is_err());
        assert!(DisplayName::parse(&"x".repeat(201)).is_err());
    }
}
