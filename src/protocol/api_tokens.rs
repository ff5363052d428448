//! Access tokens for APIs (the one name for what RFC 8707 calls a resource
//! and RFC 8693 an audience): which API a request targets (RFC 8707, RFC 8693
//! `audience`), which of its scopes a client may get, and minting the token.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use super::Provider;
use super::dpop::{self, Proof};
use super::error::{ErrorCode, OAuthError};
use super::mint::{self, AccessToken, AccessTokenFor};
pub use crate::model::Api;
use crate::model::{Audience, AuthLevel, Client};

fn invalid_target(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, description)
}

/// The one API that `names` (the `resource` and `audience` values) denote, if the
/// client may get any of its scopes. All names must be the same API (RFC 8707 §2).
pub fn target(p: &Provider, client: &Client, names: &[String]) -> Result<Arc<Api>, OAuthError> {
    let Some(first) = names.first() else {
        return Err(invalid_target("name the API with `resource`"));
    };
    if names.iter().any(|n| n != first) {
        return Err(invalid_target("an access token is for exactly one API; name only one"));
    }
    if !p.catalog.audiences_for(&client.client_id).contains(first) {
        return Err(invalid_target(format!("this client may not get tokens for `{first}`")));
    }
    p.catalog
        .api(first)
        .ok_or_else(|| invalid_target(format!("unknown API `{first}`")))
}

/// Whether `audience` is Lanyard's own admin API (`{issuer}/admin`), whose
/// tokens go to administrators and services only, never to other users.
pub fn is_admin_api(p: &Provider, audience: &str) -> bool {
    audience == p.config.issuer.url(crate::paths::ADMIN)
}

/// The refusal of an admin-API token for a user who is not an administrator.
pub fn not_an_administrator() -> OAuthError {
    invalid_target("only administrators may get tokens for the admin API")
}

/// The API a `client_credentials` request targets: the one named by `resource`,
/// or the client's only API when it has exactly one.
pub fn default_target(p: &Provider, client: &Client, resources: &[String]) -> Result<Arc<Api>, OAuthError> {
    for r in resources {
        Audience::parse(r).map_err(invalid_target)?;
    }
    if !resources.is_empty() {
        return target(p, client, resources);
    }
    let allowed = p.catalog.audiences_for(&client.client_id);
    match allowed.len() {
        1 => target(p, client, &allowed),
        0 => Err(invalid_target("this client may not get tokens for any API")),
        _ => Err(invalid_target(
            "this client may get tokens for several APIs: send `resource` to name one",
        )),
    }
}

/// What an API asks of a token request before a token is minted for it:
/// the admin API a client's current secret (not its previous one, in its
/// grace: `client_auth`), its DPoP policy (`dpop::enforce`) and, for a
/// user's token (`amr` given), the level of sign-in (`require_level`).
/// Every grant calls it once it knows the API.
pub fn admit(
    p: &Provider,
    client: &Client,
    api: &Api,
    proof: Option<&Proof>,
    amr: Option<&[String]>,
) -> Result<(), OAuthError> {
    if client.by_previous_secret && is_admin_api(p, &api.audience) {
        return Err(invalid_target(
            "the admin API's tokens need the client's current secret, not the previous one still in its grace",
        ));
    }
    dpop::enforce(p, api.dpop, proof, format_args!("the API {}", api.audience))?;
    amr.map_or(Ok(()), |amr| require_level(p, api, amr))
}

/// The level of sign-in an API requires: its own `min_acr`, and for the
/// admin API at least multi-factor when `LANYARD_ADMIN_REQUIRE_MFA` is on.
pub fn min_level(p: &Provider, api: &Api) -> Option<AuthLevel> {
    let admin = (p.config.admin_require_mfa && is_admin_api(p, &api.audience)).then_some(AuthLevel::MultiFactor);
    api.min_acr.max(admin)
}

/// RFC 9470: an API that requires a level of sign-in gets a user's token
/// only from a sign-in that reached it — else `insufficient_user_authentication`,
/// naming the level. (A service's own token has no sign-in to judge.)
pub fn require_level(p: &Provider, api: &Api, amr: &[String]) -> Result<(), OAuthError> {
    let reached = AuthLevel::of_methods(amr);
    match min_level(p, api) {
        Some(min) if reached < min => Err(OAuthError::new(
            ErrorCode::InsufficientUserAuthentication,
            format!(
                "the API {} requires acr `{min}`; this sign-in reached `{reached}`",
                api.audience
            ),
        )),
        _ => Ok(()),
    }
}

/// RFC 6749 §3.3 with downscoping: no `scope` → all of `allowed`; a scope
/// outside `allowed` → `invalid_scope`. The order follows `allowed`.
pub fn downscope(requested: Option<&str>, allowed: &[String]) -> Result<Vec<String>, OAuthError> {
    let granted: Vec<String> = match requested {
        None => allowed.to_vec(),
        Some(raw) => {
            let asked: Vec<&str> = raw.split(' ').filter(|s| !s.is_empty()).collect();
            if let Some(extra) = asked.iter().find(|s| !allowed.iter().any(|a| a == *s)) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("scope `{extra}` is not allowed here"),
                ));
            }
            allowed
                .iter()
                .filter(|a| asked.contains(&a.as_str()))
                .cloned()
                .collect()
        }
    };
    if granted.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "no scope of this API may be granted",
        ));
    }
    Ok(granted)
}

/// An API token's lifetime: the API's own (or the default), cut short so it
/// ends by `not_after`.
pub fn lifetime(p: &Provider, api: &Api, now: DateTime<Utc>, not_after: Option<DateTime<Utc>>) -> TimeDelta {
    let own = api.access_token_ttl.unwrap_or(p.config.lifetimes.access_token);
    match not_after {
        Some(end) => own.min(end - now).max(TimeDelta::seconds(1)),
        None => own,
    }
}

/// An RFC 9068 access token for one API, signed with the API's algorithm,
/// ending by `not_after` (the end of the session or grant it rests on).
pub fn mint(
    p: &Provider,
    api: &Api,
    holder: &AccessTokenFor<'_>,
    not_after: Option<DateTime<Utc>>,
) -> Result<AccessToken, OAuthError> {
    mint::access_token(p, &api.audience, api.alg, lifetime(p, api, p.now(), not_after), holder)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn no_scope_means_everything_allowed() {
        assert_eq!(downscope(None, &s(&["read", "write"])).unwrap(), s(&["read", "write"]));
    }

    #[test]
    fn scopes_only_narrow() {
        assert_eq!(downscope(Some("write"), &s(&["read", "write"])).unwrap(), s(&["write"]));
        assert_eq!(
            downscope(Some("admin"), &s(&["read"])).unwrap_err().code,
            ErrorCode::InvalidScope
        );
        assert_eq!(downscope(None, &[]).unwrap_err().code, ErrorCode::InvalidScope);
    }
}
