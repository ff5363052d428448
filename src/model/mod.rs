//! The vocabulary every layer shares: parsed, always-valid values
//! (a value that exists is valid — "parse, don't validate").

mod api;
mod audience;
pub mod auth_level;
pub mod claims;
mod client;
mod client_keys;
mod display_name;
mod email;
mod key_state;
pub mod lifecycle;
pub mod password_rules;
mod redirect_uri;
mod scope;
pub mod upstream;
mod user;

pub use api::{Api, DpopPolicy};
pub use audience::Audience;
pub use auth_level::AuthLevel;
pub use client::{AuthMethod, BackchannelLogout, Client, ClientId, GrantType, PreviousSecret};
pub use client_keys::{JwksUri, KeySource};
pub use display_name::DisplayName;
pub use email::{Email, MAX_EMAIL_CHARS, local_part};
pub use key_state::KeyState;
pub use password_rules::PasswordPolicy;
pub use redirect_uri::{BackchannelLogoutUri, RedirectUri};
pub use scope::{OidcScope, ScopeToken};
pub use upstream::{AcrMap, UpstreamId, UpstreamIssuer};
pub use user::{
    Address, MAX_PASSWORD_CHARS, NewPassword, ProfileClaim, StandardClaims, Username, check_email, username_key,
};

/// `localhost`, `127.0.0.1` or `[::1]` (RFC 8252 §7.3 and §8.3).
pub fn is_loopback_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// `https`, or `http` on a loopback host, and no user information: the rule
/// of `LANYARD_ISSUER`, a client's `jwks_uri` and an upstream's issuer.
pub fn https_or_loopback(raw: &str, url: &url::Url) -> Result<(), String> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("`{raw}` must not contain user information"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(url.host_str().unwrap_or_default()) => Ok(()),
        _ => Err(format!(
            "`{raw}` must use https (http is allowed only for localhost, 127.0.0.1 and [::1])"
        )),
    }
}

/// `https` to a host on the public internet, by its name: no loopback, no
/// `*.localhost`, no IP literal of a private, link-local, shared, loopback,
/// unspecified or multicast range. The rule for URLs Lanyard fetches or posts
/// to on behalf of clients that registered themselves (their `jwks_uri`,
/// `backchannel_logout_uri`), so a registration cannot aim Lanyard at the
/// operator's own network by address. A name that resolves to such an
/// address is not caught here (README "Dynamic client registration").
pub fn public_https(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|_| format!("`{raw}` is not an absolute URL"))?;
    let refused = || Err(format!("`{raw}` must be https to a public host"));
    if url.scheme() != "https" {
        return refused();
    }
    let private = match url.host() {
        None => true,
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(v4)) => not_public_v4(v4),
        Some(url::Host::Ipv6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => not_public_v4(v4),
            None => {
                let first = v6.segments()[0];
                v6.is_loopback() || v6.is_unspecified() || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00 // unique local, RFC 4193
                    || (first & 0xffc0) == 0xfe80 // link-local
            }
        },
    };
    match private {
        true => refused(),
        false => Ok(()),
    }
}

fn not_public_v4(v4: std::net::Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_multicast()
        || v4.is_broadcast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared, RFC 6598
}

/// The group a client address is counted in by per-address throttles: an
/// IPv4 address itself, an IPv6 address its /64 (one subscriber's network,
/// RFC 6177 — one host can use all of it). Anything else as given.
pub fn address_group(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.to_owned(),
    }
}

#[cfg(test)]
mod address_group_tests {
    use super::address_group;

    #[test]
    fn ipv6_addresses_are_counted_by_their_64() {
        assert_eq!(address_group("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_group("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
        assert_ne!(address_group("2001:db8:1:3::1"), "2001:db8:1:2::/64");
        assert_eq!(address_group("192.0.2.7"), "192.0.2.7");
        assert_eq!(address_group("::ffff:192.0.2.7"), "192.0.2.7");
    }
}

/// A value refused, with the field (CLI flag or form field) it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Parses an absolute URI without a fragment, at most 2000 characters, kept
/// as written; `rule` names the RFC section the error cites.
fn absolute_uri_without_fragment(raw: &str, rule: &str) -> Result<url::Url, String> {
    let not_absolute = || format!("`{raw}` is not an absolute URI ({rule})");
    if raw.len() > 2000 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(not_absolute());
    }
    let url = url::Url::parse(raw).map_err(|_| not_absolute())?;
    if url.fragment().is_some() || raw.contains('#') {
        return Err(format!("`{raw}` must not have a fragment ({rule})"));
    }
    Ok(url)
}

#[cfg(test)]
mod public_https_tests {
    use super::public_https;

    #[test]
    fn public_https_refuses_local_and_private_hosts() {
        for ok in [
            "https://rp.example.com/bcl",
            "https://203.0.113.7/bcl",
            "https://[2001:db8::1]/x",
        ] {
            assert!(public_https(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://rp.example.com/bcl",
            "https://localhost/x",
            "https://a.localhost/x",
            "https://127.0.0.1:2375/containers",
            "https://10.1.2.3/x",
            "https://192.168.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/x",
            "https://0.0.0.0/x",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://[fe80::1]/x",
            "https://[::ffff:127.0.0.1]/x",
        ] {
            assert!(public_https(bad).is_err(), "{bad}");
        }
    }
}
