//! Request parameters as the RFCs read them: empty ones count as absent, a
//! repeated one is an error except where a spec lets it repeat.

use std::collections::BTreeMap;

use chrono::TimeDelta;

use super::error::OAuthError;

/// A request's count of `unit`s (seconds, hours) as a duration. Digits only;
/// `Ok(None)` when it is too large for any clock to reach — no limit — so no
/// number a request carries can overflow (and panic) later arithmetic.
/// `Err(())` when it is not a whole number.
#[allow(clippy::result_unit_err)]
pub fn duration(raw: &str, unit: TimeDelta) -> Result<Option<TimeDelta>, ()> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    Ok(raw
        .parse::<i32>()
        .ok()
        .and_then(|n| unit.checked_mul(n))
        // Beyond ten thousand years nothing a token or a log holds is older.
        .filter(|d| *d <= TimeDelta::days(3_652_500)))
}

/// The single value among `values` of the parameter `name` (as `Params::one`
/// reads it, for values kept to be read later).
pub fn single<'a>(name: &str, values: &'a [String]) -> Result<Option<&'a str>, OAuthError> {
    match values {
        [] => Ok(None),
        [v] if v.contains('\0') => Err(OAuthError::invalid_request(format!(
            "the `{name}` parameter holds a NUL character"
        ))),
        [v] => Ok(Some(v.as_str())),
        _ => Err(OAuthError::invalid_request(format!(
            "the `{name}` parameter is repeated"
        ))),
    }
}

/// The parameters of one request (query string or form body).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    values: BTreeMap<String, Vec<String>>,
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` text; empty values are dropped.
    pub fn parse(encoded: &str) -> Self {
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in url::form_urlencoded::parse(encoded.as_bytes()) {
            if !v.is_empty() {
                values.entry(k.into_owned()).or_default().push(v.into_owned());
            }
        }
        Self { values }
    }

    /// The single value of `name`; repeated → `invalid_request` (RFC 6749
    /// §3.1, §3.2), and so is a value holding a NUL character, which no
    /// parameter may hold (nor PostgreSQL store).
    pub fn one(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        single(name, self.all(name))
    }

    /// Every value of a parameter that may repeat (`resource`, `audience`).
    pub fn all(&self, name: &str) -> &[String] {
        self.values.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    /// The name of every parameter given (with a non-empty value).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Whether any parameter other than `except` is repeated.
    pub fn first_repeated(&self, except: &[&str]) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, v)| v.len() > 1 && !except.contains(&k.as_str()))
            .map(|(k, _)| k.as_str())
    }

    pub fn set(&mut self, name: &str, value: Option<String>) {
        match value {
            Some(v) if !v.is_empty() => {
                self.values.insert(name.to_owned(), vec![v]);
            }
            _ => {
                self.values.remove(name);
            }
        }
    }

    /// Form-urlencoded again (to carry a request through the sign-in page).
    pub fn encode(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, vs) in &self.values {
            for v in vs {
                out.append_pair(k, v);
            }
        }
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_too_large_to_matter_is_no_limit_and_never_overflows() {
        let s = TimeDelta::seconds(1);
        assert_eq!(duration("600", s), Ok(Some(TimeDelta::seconds(600))));
        assert_eq!(duration("0", s), Ok(Some(TimeDelta::zero())));
        assert_eq!(duration("9223372036854775807", s), Ok(None));
        assert_eq!(duration("99999999999999999999999", TimeDelta::hours(1)), Ok(None));
        assert_eq!(duration("2147483647", TimeDelta::hours(1)), Ok(None));
        for bad in ["", "-1", "+5", "1.5", "1e3", " 5", "٣"] {
            assert_eq!(duration(bad, s), Err(()), "{bad:?}");
        }
    }

    #[test]
    fn a_nul_character_is_invalid_request() {
        let p = Params::parse("state=a%00b&ok=1");
        assert!(p.one("state").is_err());
        assert_eq!(p.one("ok").unwrap(), Some("1"));
    }

    #[test]
    fn empty_values_count_as_absent() {
        let p = Params::parse("a=&b=1");
        assert_eq!(p.one("a").unwrap(), None);
        assert_eq!(p.one("b").unwrap(), Some("1"));
    }

    #[test]
    fn repeated_values_are_refused_unless_allowed() {
        let p = Params::parse("scope=a&scope=b&resource=x&resource=y");
        assert!(p.one("scope").is_err());
        assert_eq!(p.all("resource"), ["x", "y"]);
        assert_eq!(p.first_repeated(&["resource"]), Some("scope"));
    }

    #[test]
    fn encoding_round_trips() {
        let p = Params::parse("state=a%20b%26c&x=%C3%A9");
        assert_eq!(Params::parse(&p.encode()), p);
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn any_text_parses_and_encodes_back_to_the_same(text in ".{0,200}") {
                let p = Params::parse(&text);
                prop_assert_eq!(Params::parse(&p.encode()), p);
            }

            #[test]
            fn any_names_and_values_round_trip(pairs in proptest::collection::vec((".{1,12}", ".{1,40}"), 0..8)) {
                let mut out = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in &pairs {
                    out.append_pair(k, v);
                }
                let p = Params::parse(&out.finish());
                for (k, _) in &pairs {
                    let all: Vec<&String> = pairs.iter().filter(|(n, _)| n == k).map(|(_, v)| v).collect();
                    prop_assert_eq!(p.all(k).iter().collect::<Vec<_>>(), all);
                }
            }

            #[test]
            fn a_duration_is_refused_or_bounded_never_a_panic(raw in ".{0,30}", hours in any::<bool>()) {
                let unit = if hours { TimeDelta::hours(1) } else { TimeDelta::seconds(1) };
                match duration(&raw, unit) {
                    Ok(Some(d)) => prop_assert!(d >= TimeDelta::zero() && d <= TimeDelta::days(3_652_500)),
                    Ok(None) => prop_assert!(raw.bytes().all(|b| b.is_ascii_digit())),
                    Err(()) => prop_assert!(raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit())),
                }
            }

            #[test]
            fn a_small_number_of_seconds_is_that_many_seconds(n in 0u32..315_360_000) {
                prop_assert_eq!(duration(&n.to_string(), TimeDelta::seconds(1)), Ok(Some(TimeDelta::seconds(n.into()))));
            }
        }
    }
}
