//! Redirect URIs (and post-logout redirect URIs) as a client registers them,
//! and its back-channel logout URI (OpenID Connect Back-Channel Logout 1.0 §2.2).

use std::fmt;

use super::absolute_uri_without_fragment;
use super::is_loopback_host;

/// A registered redirect URI (RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700 §4.1):
/// absolute, no fragment, `http` only on a loopback host, never a scheme that
/// runs code in the browser. Kept as the exact string registered.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = absolute_uri_without_fragment(raw, "RFC 6749 §3.1.2")?;
        // `https://app.example@evil.example/` is evil.example: user
        // information (RFC 3986 §3.2.1) only disguises where a URI goes.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("`{raw}` has user information (`…@`); a redirect URI cannot"));
        }
        match url.scheme() {
            "https" => {}
            "http" => {
                let host = url.host_str().unwrap_or_default();
                if !is_loopback_host(host) {
                    return Err(format!(
                        "`{raw}` uses http on a non-loopback host; use https (http only for localhost, 127.0.0.1, [::1])"
                    ));
                }
            }
            "javascript" | "data" | "vbscript" | "file" | "blob" | "about" => {
                return Err(format!("`{raw}` uses a scheme that cannot be a redirect URI"));
            }
            // Private-use schemes of native apps (RFC 8252 §7.1), e.g. `com.example.app:/cb`.
            _ => {}
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a client receives logout tokens (OpenID Connect Back-Channel
/// Logout 1.0 §2.2 `backchannel_logout_uri`): absolute, no fragment, no user
/// information, `https` — or `http` on a loopback host only (a client on the
/// same machine, as in development). The spec would allow `http` for
/// confidential clients; Lanyard does not, since a logout token sent in the
/// clear can be read and replayed by anyone on the path. Kept as the exact
/// string registered.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BackchannelLogoutUri(String);

impl BackchannelLogoutUri {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = absolute_uri_without_fragment(raw, "Back-Channel Logout §2.2")?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("`{raw}` has user information (`…@`); a logout URI cannot"));
        }
        match url.scheme() {
            "https" => Ok(Self(raw.to_owned())),
            "http" if is_loopback_host(url.host_str().unwrap_or_default()) => Ok(Self(raw.to_owned())),
            "http" => Err(format!(
                "`{raw}` uses http on a non-loopback host; use https (http only for localhost, 127.0.0.1, [::1])"
            )),
            other => Err(format!("`{raw}` uses `{other}`; a back-channel logout URI is https")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BackchannelLogoutUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_loopback_http_and_private_schemes() {
        for ok in [
            "https://app.example.com/cb",
            "https://app.example.com/cb?tenant=1",
            "http://localhost:3000/cb",
            "http://127.0.0.1/cb",
            "http://[::1]:8000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(RedirectUri::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_relative_fragments_plain_http_and_script_schemes() {
        for bad in [
            "/cb",
            "app.example.com/cb",
            "https://app.example.com/cb#frag",
            "http://app.example.com/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_user_information() {
        // `https://app.example.com@evil.example/` goes to evil.example, not
        // app.example.com; RFC 3986 §3.2.1 user information has no place here.
        for bad in [
            "https://app.example.com@evil.example/cb",
            "https://user:pass@app.example.com/cb",
            "https://:pass@app.example.com/cb",
            "http://me@localhost/cb",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// An https URL with a host, a path and a query, as an RP registers one.
        fn https_url() -> impl Strategy<Value = String> {
            (
                // `xn--…` labels are punycode (IDNA) and must decode: not plain hosts.
                "[a-z][a-z0-9-]{0,20}(\\.[a-z]{2,6}){1,2}".prop_filter("no punycode label", |h| !h.starts_with("xn--")),
                "(/[A-Za-z0-9._~-]{0,10}){0,3}",
                "(\\?[a-z]{1,5}=[A-Za-z0-9]{0,5})?",
            )
                .prop_map(|(host, path, query)| format!("https://{host}{path}{query}"))
        }

        proptest! {
            #[test]
            fn an_https_url_is_kept_as_the_exact_string(url in https_url()) {
                let uri = RedirectUri::parse(&url).unwrap();
                prop_assert_eq!(uri.as_str(), url.as_str());
            }

            #[test]
            fn user_information_or_a_fragment_is_always_refused(url in https_url(), user in "[a-z]{1,8}", frag in "[a-z]{0,8}") {
                let with_user = url.replacen("https://", &format!("https://{user}@"), 1);
                prop_assert!(RedirectUri::parse(&with_user).is_err());
                let with_fragment = format!("{url}#{frag}");
                prop_assert!(RedirectUri::parse(&with_fragment).is_err());
            }

            #[test]
            fn any_text_is_accepted_or_refused_never_a_panic(raw in ".{0,100}") {
                if let Ok(uri) = RedirectUri::parse(&raw) {
                    let url = url::Url::parse(uri.as_str()).unwrap();
                    prop_assert!(url.fragment().is_none() && url.username().is_empty() && url.password().is_none());
                }
            }
        }
    }

    #[test]
    fn a_backchannel_logout_uri_is_https_or_loopback_http_without_fragment() {
        for ok in [
            "https://rp.example.com/logout",
            "https://rp.example.com/bcl?tenant=1",
            "http://127.0.0.1:9000/bcl",
            "http://localhost/bcl",
        ] {
            assert!(BackchannelLogoutUri::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/bcl",
            "https://rp.example.com/bcl#frag",
            "http://rp.example.com/bcl",
            "https://user@rp.example.com/bcl",
            "com.example.app:/bcl",
            "javascript:alert(1)",
            "",
        ] {
            assert!(BackchannelLogoutUri::parse(bad).is_err(), "{bad}");
        }
    }
}
