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
mod public_address;
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
pub use public_address::{is_public, public_https};
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
    /// One value parsed, naming the field it came from on failure.
    pub fn check<T>(field: &'static str, result: Result<T, String>) -> Result<T, FieldError> {
        result.map_err(|m| FieldError::new(field, m))
    }

    /// Every value of a repeated field parsed, a duplicate refused.
    pub fn each<T: PartialEq>(
        field: &'static str,
        raws: &[String],
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, FieldError> {
        let mut out: Vec<T> = Vec::with_capacity(raws.len());
        for raw in raws {
            let value = Self::check(field, parse(raw))?;
            if out.contains(&value) {
                return Err(FieldError::new(field, format!("`{raw}` is given twice")));
            }
            out.push(value);
        }
        Ok(out)
    }

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
