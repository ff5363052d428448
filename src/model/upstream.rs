//! Upstream OpenID providers as data (OpenID Connect Core §3.1, Lanyard as
//! the relying party): the id, the issuer, which claims are copied onto the
//! Lanyard user, and the acr values an admin maps to Lanyard's levels.

use std::collections::BTreeMap;
use std::fmt;

use super::{AuthLevel, ProfileClaim, absolute_uri_without_fragment, https_or_loopback};

/// An upstream's id: 1 to 40 of `a-z`, `0-9` and `-` (it is a path segment).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UpstreamId(String);

impl UpstreamId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = (1..=40).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        match ok {
            true => Ok(Self(raw.to_owned())),
            false => Err(format!("`{raw}` is not an upstream id (1 to 40 of a-z, 0-9 and -)")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UpstreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An upstream's issuer identifier (OIDC Discovery §3): `https`, or `http`
/// on a loopback host (the rule of `LANYARD_ISSUER`); a path is allowed (many
/// providers have one), a query, a fragment or user information is not. Kept
/// as written: the id_token's `iss` and the discovery's `issuer` must equal it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamIssuer(String);

impl UpstreamIssuer {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = absolute_uri_without_fragment(raw, "OIDC Discovery §3")?;
        url.host_str().ok_or_else(|| format!("`{raw}` has no host"))?;
        https_or_loopback(raw, &url)?;
        if url.query().is_some() || raw.contains('?') {
            return Err(format!("`{raw}` must not have a query"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The scopes asked of an upstream: `openid` always; the default
/// `openid email profile`.
pub fn upstream_scopes(raws: &[String]) -> Result<Vec<String>, String> {
    if raws.is_empty() {
        return Ok(["openid", "email", "profile"].map(str::to_owned).to_vec());
    }
    let mut scopes = vec!["openid".to_owned()];
    for raw in raws.iter().flat_map(|r| r.split(' ')).filter(|s| !s.is_empty()) {
        let ok = raw.len() <= 200 && raw.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
        if !ok {
            return Err(format!("`{raw}` is not a scope (RFC 6749 §3.3)"));
        }
        if !scopes.iter().any(|s| s == raw) {
            scopes.push(raw.to_owned());
        }
    }
    Ok(scopes)
}

/// The claims copied from an upstream by default.
pub const DEFAULT_MAPPED_CLAIMS: [ProfileClaim; 6] = [
    ProfileClaim::Name,
    ProfileClaim::GivenName,
    ProfileClaim::FamilyName,
    ProfileClaim::Email,
    ProfileClaim::Picture,
    ProfileClaim::Locale,
];

/// The standard claims an upstream's id_token may set on the user (each an
/// OIDC Core §5.1 claim a person could edit; `email` brings the upstream's
/// `email_verified` with it).
pub fn mapped_claims(raws: &[String]) -> Result<Vec<ProfileClaim>, String> {
    if raws.is_empty() {
        return Ok(DEFAULT_MAPPED_CLAIMS.to_vec());
    }
    let mut out: Vec<ProfileClaim> = Vec::new();
    for raw in raws.iter().flat_map(|r| r.split([' ', ','])).filter(|s| !s.is_empty()) {
        let claim = ProfileClaim::parse(raw)?;
        if !out.contains(&claim) {
            out.push(claim);
        }
    }
    Ok(out)
}

/// Upstream `acr` values an admin trusts, each mapped to a Lanyard level;
/// an unmapped value counts as the lowest level.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AcrMap(BTreeMap<String, String>);

impl AcrMap {
    /// `VALUE=LEVEL` pairs (`--acr VALUE=LEVEL`, repeatable; the page's lines).
    pub fn parse(pairs: &[String]) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for pair in pairs
            .iter()
            .flat_map(|p| p.lines())
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (value, level) = pair
                .rsplit_once('=')
                .ok_or_else(|| format!("`{pair}` is not VALUE=LEVEL"))?;
            let level: AuthLevel = level
                .trim()
                .parse()
                .map_err(|_| format!("`{level}` is not a level (password, mfa or phishing-resistant)"))?;
            let value = value.trim();
            if value.is_empty() || value.len() > 500 {
                return Err(format!("`{pair}` has no upstream acr value"));
            }
            map.insert(value.to_owned(), level.as_str().to_owned());
        }
        Ok(Self(map))
    }

    /// The map as stored (JSON object); an unreadable one maps nothing.
    pub fn from_json(value: &serde_json::Value) -> Self {
        serde_json::from_value(value.clone()).unwrap_or_default()
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }

    /// The level an upstream's `acr` reaches: its mapped level, else the lowest.
    pub fn level_of(&self, acr: Option<&str>) -> AuthLevel {
        acr.and_then(|a| self.0.get(a))
            .and_then(|l| l.parse().ok())
            .unwrap_or(AuthLevel::Password)
    }

    /// `VALUE=LEVEL` pairs, as `parse` reads them.
    pub fn pairs(&self) -> Vec<String> {
        self.0.iter().map(|(v, l)| format!("{v}={l}")).collect()
    }
}

/// The `amr` of a sign-in through an upstream (RFC 8176 `fed`), with what
/// the mapped level adds so that `AuthLevel::of_methods` reaches it.
pub fn federated_amr(level: AuthLevel) -> Vec<String> {
    let methods: &[&str] = match level {
        AuthLevel::Password => &["fed"],
        AuthLevel::MultiFactor => &["fed", "mfa"],
        AuthLevel::PhishingResistant => &["fed", "hwk", "mfa"],
    };
    methods.iter().map(|m| (*m).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_ids_are_short_slugs() {
        assert!(UpstreamId::parse("corp-sso").is_ok());
        for bad in ["", "Corp", "a/b", "a b", &"x".repeat(41)] {
            assert!(UpstreamId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn upstream_issuers_are_https_or_loopback_http() {
        assert!(UpstreamIssuer::parse("https://login.example.com/realms/x").is_ok());
        assert!(UpstreamIssuer::parse("http://127.0.0.1:9000").is_ok());
        for bad in [
            "http://example.com",
            "https://u:p@example.com",
            "https://e.com/?a",
            "ftp://e.com",
        ] {
            assert!(UpstreamIssuer::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_mapped_acr_values_raise_the_level() {
        let map = AcrMap::parse(&["urn:corp:mfa=mfa".to_owned()]).unwrap();
        assert_eq!(map.level_of(Some("urn:corp:mfa")), AuthLevel::MultiFactor);
        assert_eq!(map.level_of(Some("other")), AuthLevel::Password);
        assert_eq!(map.level_of(None), AuthLevel::Password);
        assert!(AcrMap::parse(&["x=gold".to_owned()]).is_err());
        for level in AuthLevel::ALL {
            assert_eq!(AuthLevel::of_methods(&federated_amr(level)), level);
        }
    }

    #[test]
    fn openid_is_always_asked_for() {
        assert_eq!(upstream_scopes(&["email".to_owned()]).unwrap(), ["openid", "email"]);
        assert_eq!(upstream_scopes(&[]).unwrap(), ["openid", "email", "profile"]);
    }
}
