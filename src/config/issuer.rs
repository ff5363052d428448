//! The issuer identifier: the one URL that names this provider everywhere.

use std::fmt;

use crate::model::https_or_loopback;

/// The issuer identifier (OIDC Discovery §3, RFC 8414 §2): `https`, or `http`
/// on a loopback host; a host and an optional port; no path, query, fragment,
/// user information or trailing slash. It is kept as written, so it is
/// byte-identical in discovery, every token's `iss` and the authorization
/// response's `iss` (RFC 9207 §2).
#[derive(Clone, PartialEq, Eq)]
pub struct Issuer(String);

impl Issuer {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("`{raw}` is not an absolute URL ({e})"))?;
        url.host_str().ok_or_else(|| format!("`{raw}` has no host"))?;
        https_or_loopback(raw, &url)?;
        if url.query().is_some() || raw.contains('?') {
            return Err(format!("`{raw}` must not have a query"));
        }
        if url.fragment().is_some() || raw.contains('#') {
            return Err(format!("`{raw}` must not have a fragment"));
        }
        if url.path() != "/" {
            return Err(format!("`{raw}` must not have a path"));
        }
        if raw.ends_with('/') {
            return Err(format!("`{raw}` must not end with a slash"));
        }
        // The URL crate writes the canonical form; we require the operator's
        // string to be that form so nobody compares two spellings of one URL.
        let canonical = url.as_str().trim_end_matches('/');
        if canonical != raw {
            return Err(format!("`{raw}` is not in canonical form; write `{canonical}`"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An absolute URL under the issuer, for a path that starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Issuer({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_host_and_port() {
        for ok in [
            "https://id.example.com",
            "https://id.example.com:8443",
            "http://localhost:8080",
            "http://127.0.0.1",
            "http://[::1]:9000",
        ] {
            assert_eq!(Issuer::parse(ok).map(|i| i.0), Ok(ok.to_owned()), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_but_scheme_host_and_port() {
        for bad in [
            "http://id.example.com",
            "ftp://id.example.com",
            "https://id.example.com/",
            "https://id.example.com/tenant",
            "https://id.example.com?x=1",
            "https://id.example.com#frag",
            "https://user@id.example.com",
            "https://ID.example.com",
            "https://id.example.com:443",
            "id.example.com",
            "",
        ] {
            assert!(Issuer::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn any_text_is_an_issuer_in_canonical_form_or_refused(raw in ".{0,60}") {
                if let Ok(issuer) = Issuer::parse(&raw) {
                    let s = issuer.as_str();
                    prop_assert_eq!(s, raw.as_str(), "byte-identical to what was configured");
                    prop_assert!(!s.ends_with('/') && !s.contains('?') && !s.contains('#') && !s.contains('@'));
                }
            }

            #[test]
            fn an_https_host_and_port_is_an_issuer(host in "[a-z][a-z0-9-]{0,15}\\.[a-z]{2,6}", port in proptest::option::of(1u16..=65535)) {
                prop_assume!(port != Some(443));
                // `xn--…` labels are punycode (IDNA) and must decode: not plain hosts.
                prop_assume!(!host.starts_with("xn--"));
                let raw = match port {
                    Some(p) => format!("https://{host}:{p}"),
                    None => format!("https://{host}"),
                };
                let issuer = Issuer::parse(&raw).unwrap();
                prop_assert_eq!(issuer.as_str(), raw.as_str());
            }
        }
    }
}
