//! The rules for a password a person chooses (README "Self-registration,
//! invitations and email verification"), after NIST SP 800-63B-4 §3.1.1.2:
//! a minimum length, no composition rules, and no password from a list of
//! common ones or built from the context (the username, the email's local
//! part, the service's name), and none of fewer than five distinct
//! characters (`aaaa…`, `abcabc…`). Lengths count Unicode code points. The
//! list, context and distinct-character checks look at the password's NFKC
//! form in lower case (so full-width `ｐａｓｓｗｏｒｄ` is `password`); the
//! password is hashed as typed, as sign-in verifies it (normalising only new
//! hashes would lock out whoever typed a non-NFKC password before).

use std::collections::HashSet;
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization as _;

use super::email::local_part;
use super::user::MAX_PASSWORD_CHARS;

/// The common passwords Lanyard refuses: Django's list of 20,000 (lower
/// case, deduplicated; BSD-3-Clause, see `src/model/common_passwords.LICENSE`).
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    COMMON_PASSWORDS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});

/// The default minimum: 15 characters when a password is the only factor
/// (NIST SP 800-63B-4 §3.1.1.2).
pub const DEFAULT_MIN_CHARS: usize = 15;
/// The range `LANYARD_PASSWORD_MIN_LENGTH` may take (§3.1.1.2: never below
/// 8; a verifier must allow at least 64).
pub const MIN_CHARS_RANGE: std::ops::RangeInclusive<usize> = 8..=64;
/// Context words shorter than this are not looked for inside a password.
const SHORTEST_CONTEXT_WORD: usize = 4;
/// A password needs at least this many distinct characters.
const FEWEST_DISTINCT_CHARS: usize = 5;

/// How long a chosen password must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_chars: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_chars: DEFAULT_MIN_CHARS,
        }
    }
}

impl PasswordPolicy {
    /// Checks a password a person chose; `context` holds words it must not
    /// contain (the username, the email's local part). The message says the
    /// rule broken, to follow "The password …".
    pub fn check(&self, password: &str, context: &[&str]) -> Result<(), String> {
        let chars = password.chars().count();
        if chars < self.min_chars {
            return Err(format!(
                "must be at least {} characters long (a few words make a good one)",
                self.min_chars
            ));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(format!("must be at most {MAX_PASSWORD_CHARS} characters long"));
        }
        let lower = password.nfkc().collect::<String>().to_lowercase();
        if lower.chars().collect::<HashSet<char>>().len() < FEWEST_DISTINCT_CHARS {
            return Err(format!(
                "must use at least {FEWEST_DISTINCT_CHARS} different characters (not one repeated, nor a short run over and over)"
            ));
        }
        if is_common(&lower) {
            return Err("is on the list of common passwords that attackers try first: choose another".into());
        }
        let used = context
            .iter()
            .chain(std::iter::once(&"lanyard"))
            .map(|w| w.trim().nfkc().collect::<String>().to_lowercase())
            .find(|w| w.chars().count() >= SHORTEST_CONTEXT_WORD && lower.contains(w.as_str()));
        match used {
            Some(_) => Err("must not contain your username, your email address or the name of this service".into()),
            None => Ok(()),
        }
    }
}

/// The words a password of an account must not contain: its username and
/// its email's local part.
pub fn context_words<'a>(username: &'a str, email: Option<&'a str>) -> [&'a str; 2] {
    [username, email.map(local_part).unwrap_or_default()]
}

/// Whether a (lower-case) password is on the shipped list.
fn is_common(lower: &str) -> bool {
    COMMON.contains(lower) || COMMON.contains(lower.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_ships_thousands_of_passwords() {
        assert!(COMMON.len() > 19_000, "{}", COMMON.len());
        assert!(is_common("password") && is_common("123456789qwerty"));
    }

    #[test]
    fn a_short_password_is_refused_whatever_it_holds() {
        let policy = PasswordPolicy::default();
        assert!(policy.check("Xq7!vB2#kL9@", &[]).unwrap_err().contains("at least 15"));
        assert!(policy.check("a long and unusual phrase", &[]).is_ok());
        assert!(PasswordPolicy { min_chars: 8 }.check("Xq7!vB2#kL9@", &[]).is_ok());
    }

    #[test]
    fn common_passwords_are_refused_without_regard_to_case() {
        let policy = PasswordPolicy { min_chars: 8 };
        assert!(policy.check("PassWord123", &[]).unwrap_err().contains("common"));
        assert!(PasswordPolicy::default().check("QWERTY123456789", &[]).is_err());
    }

    #[test]
    fn context_words_are_refused() {
        let policy = PasswordPolicy::default();
        let context = ["grace", "grace.hopper"];
        assert!(policy.check("my name is grace and i code", &context).is_err());
        assert!(policy.check("my lanyard password 42", &[]).is_err());
        assert!(policy.check("compilers all the way down", &context).is_ok());
    }

    #[test]
    fn composition_is_never_required() {
        assert!(
            PasswordPolicy::default()
                .check("only lower case letters here", &[])
                .is_ok()
        );
    }

    #[test]
    fn a_password_of_fewer_than_five_distinct_characters_is_refused() {
        let policy = PasswordPolicy::default();
        for repeated in ["aaaaaaaaaaaaaaaa", "abcabcabcabcabca", "abcdabcdabcdabcd"] {
            assert!(
                policy.check(repeated, &[]).unwrap_err().contains("different"),
                "{repeated}"
            );
        }
        assert!(
            policy.check("abcdeabcdeabcdea", &[]).is_ok(),
            "five distinct characters"
        );
    }

    #[test]
    fn look_alike_characters_are_normalised_before_the_list_and_context_checks() {
        let policy = PasswordPolicy { min_chars: 8 };
        // Fullwidth letters are NFKC-equal to ASCII ones.
        assert!(
            policy
                .check("ＰａｓｓＷｏｒｄ１２３", &[])
                .unwrap_err()
                .contains("common")
        );
        let context = ["grace"];
        assert!(policy.check("my name is ｇｒａｃｅ and i code", &context).is_err());
    }

    #[test]
    fn context_words_are_the_username_and_the_local_part_of_the_email() {
        assert_eq!(
            context_words("grace", Some("g.hopper@example.com")),
            ["grace", "g.hopper"]
        );
        assert_eq!(context_words("grace", None), ["grace", ""]);
    }
}
