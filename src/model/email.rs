//! An email address a person types into a form (registration, the account
//! page, an invitation): trimmed, at most 320 characters, of the shape
//! `check_email` accepts.

use super::user::check_email;

/// The longest address accepted (RFC 5321 §4.5.3.1: 64 + 1 + 255).
pub const MAX_EMAIL_CHARS: usize = 320;

/// A parsed email address, as typed (its case kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Trims `raw` and checks it; the message suits a form.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim();
        if email.is_empty() {
            return Err("Enter an email address.".into());
        }
        if email.chars().count() > MAX_EMAIL_CHARS {
            return Err(format!(
                "An email address is at most {MAX_EMAIL_CHARS} characters long."
            ));
        }
        check_email(email)?;
        Ok(Self(email.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The part of an address before its last `@` (empty without one).
pub fn local_part(email: &str) -> &str {
    email.rsplit_once('@').map(|(local, _)| local).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_trimmed_checked_and_bounded() {
        assert_eq!(Email::parse("  ada@example.com ").unwrap().as_str(), "ada@example.com");
        assert!(Email::parse("").unwrap_err().contains("Enter"));
        assert!(Email::parse("not-an-address").is_err());
        let long = format!("{}@example.com", "a".repeat(320));
        assert!(Email::parse(&long).unwrap_err().contains("320"));
    }

    #[test]
    fn the_local_part_is_before_the_last_at_sign() {
        assert_eq!(local_part("g.hopper@example.com"), "g.hopper");
        assert_eq!(local_part("no address"), "");
    }
}
