//! The rules every client follows, whoever registers it (an administrator,
//! or the client itself, RFC 7591 §2): a new client's input parsed into its
//! row — redirect URIs, authentication method and keys, grant types,
//! scopes, the id_token algorithm, back-channel logout (Back-Channel Logout
//! §2.2) — or the field that breaks a rule.

use crate::clock::Clock;
use crate::crypto::Alg;
use crate::crypto::jwks::KeySet;
use crate::model::{
    AuthMethod, BackchannelLogoutUri, ClientId, DisplayName, FieldError, GrantType, JwksUri, OidcScope, RedirectUri,
};
use crate::store::clients::ClientRow;

/// What a new client asks for — from `lanyard client create`, the admin
/// page and API, or its own registration (RFC 7591) — before `parse`.
#[derive(Debug, Default)]
pub struct NewClientInput {
    pub client_id: String,
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub auth_method: Option<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub first_party: bool,
    pub id_token_alg: Option<String>,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request carries a DPoP proof.
    pub dpop_bound: bool,
    /// Its DPoP proofs carry a server nonce (RFC 9449 §8).
    pub dpop_nonce: bool,
    /// A `private_key_jwt` client's JWK Set of public keys…
    pub jwks: Option<serde_json::Value>,
    /// …or where it publishes it (one of the two).
    pub jwks_uri: Option<String>,
    /// Where its logout tokens go (Back-Channel Logout §2.2); none: it gets none.
    pub backchannel_logout_uri: Option<String>,
    /// Back-Channel Logout §2.2 `backchannel_logout_session_required`.
    pub backchannel_logout_session_required: bool,
    /// RFC 9126 §6: its authorization requests must be pushed.
    pub require_par: bool,
}

const DEFAULT_GRANT_TYPES: [GrantType; 2] = [GrantType::AuthorizationCode, GrantType::RefreshToken];
const DEFAULT_SCOPES: [OidcScope; 3] = [OidcScope::Openid, OidcScope::Profile, OidcScope::Email];

/// The row a new client's input makes (no secret yet), by the rules every
/// client follows, or the field that breaks one.
pub fn parse(input: NewClientInput, clock: &dyn Clock) -> Result<ClientRow, FieldError> {
    let client_id = FieldError::check("client-id", ClientId::parse(&input.client_id))?;
    let name = DisplayName::optional(input.name)?;
    let redirect_uris = FieldError::each("redirect-uri", &input.redirect_uris, RedirectUri::parse)?;
    let post_logout = FieldError::each(
        "post-logout-redirect-uri",
        &input.post_logout_redirect_uris,
        RedirectUri::parse,
    )?;
    let has_keys = input.jwks.is_some() || input.jwks_uri.is_some();
    let auth_method = parse_auth_method(input.public, input.auth_method.as_deref(), has_keys)?;
    let (jwks, jwks_uri) = parse_keys(auth_method, input.jwks, input.jwks_uri.as_deref())?;
    let mut grant_types = FieldError::each("grant-type", &input.grant_types, str::parse::<GrantType>)?;
    if grant_types.is_empty() {
        grant_types = DEFAULT_GRANT_TYPES.to_vec();
    }
    let mut scopes = FieldError::each("scope", &input.scopes, str::parse::<OidcScope>)?;
    if scopes.is_empty() {
        scopes = DEFAULT_SCOPES.to_vec();
    }
    let id_token_alg = FieldError::check(
        "id-token-alg",
        input.id_token_alg.as_deref().unwrap_or("RS256").parse::<Alg>(),
    )?;

    check_grants_fit(&grant_types, auth_method, !redirect_uris.is_empty())?;
    let logout_uri = parse_logout(
        input.backchannel_logout_uri.as_deref(),
        input.backchannel_logout_session_required,
    )?;
    let now = clock.now();
    Ok(ClientRow {
        name: name.map_or_else(|| client_id.to_string(), |n| n.to_string()),
        client_id: client_id.to_string(),
        secret_hash: None,
        auth_method: auth_method.as_str().to_owned(),
        jwks,
        jwks_uri: jwks_uri.map(|u| u.to_string()),
        redirect_uris: redirect_uris.iter().map(ToString::to_string).collect(),
        post_logout_redirect_uris: post_logout.iter().map(ToString::to_string).collect(),
        grant_types: grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        first_party: input.first_party,
        id_token_alg: id_token_alg.as_str().to_owned(),
        dpop_bound: input.dpop_bound,
        dpop_nonce: input.dpop_nonce,
        backchannel_logout_uri: logout_uri.map(|u| u.to_string()),
        backchannel_logout_session_required: input.backchannel_logout_session_required,
        require_par: input.require_par,
        previous_secret_hash: None,
        previous_secret_valid_until: None,
        created_at: now,
        updated_at: now,
        registered_via: "admin".to_owned(),
        registration_token_hash: None,
        registered_with: None,
        metadata_fetched_at: None,
        metadata_fresh_until: None,
    })
}

/// Back-Channel Logout §2.2: where its logout tokens go (blank: nowhere),
/// and `backchannel_logout_session_required` only with somewhere to go.
fn parse_logout(uri: Option<&str>, session_required: bool) -> Result<Option<BackchannelLogoutUri>, FieldError> {
    let logout_uri = uri.filter(|u| !u.trim().is_empty());
    let logout_uri = FieldError::check(
        "backchannel-logout-uri",
        logout_uri.map(BackchannelLogoutUri::parse).transpose(),
    )?;
    if session_required && logout_uri.is_none() {
        return Err(FieldError::new(
            "backchannel-logout-session-required",
            "needs a back-channel logout URI",
        ));
    }
    Ok(logout_uri)
}

/// The authentication method: `none` for a public client, else the one
/// asked for (`private_key_jwt` when keys are given, else
/// `client_secret_basic` by default).
fn parse_auth_method(public: bool, requested: Option<&str>, has_keys: bool) -> Result<AuthMethod, FieldError> {
    let requested = requested.map(str::parse::<AuthMethod>).transpose();
    Ok(match (public, FieldError::check("auth-method", requested)?) {
        (true, None | Some(AuthMethod::None)) => AuthMethod::None,
        (true, Some(other)) => {
            return Err(FieldError::new(
                "auth-method",
                format!("a public client authenticates with `none`, not `{other}`"),
            ));
        }
        (false, Some(method)) => method,
        (false, None) if has_keys => AuthMethod::PrivateKeyJwt,
        (false, None) => AuthMethod::ClientSecretBasic,
    })
}

/// A `private_key_jwt` client's keys: exactly one of a JWK Set of public
/// keys (checked usable, public only) or an `https` `jwks_uri` (RFC 7591
/// §2); any other client has none — its secret and keys never coexist.
fn parse_keys(
    method: AuthMethod,
    jwks: Option<serde_json::Value>,
    jwks_uri: Option<&str>,
) -> Result<(Option<serde_json::Value>, Option<JwksUri>), FieldError> {
    if method != AuthMethod::PrivateKeyJwt {
        if jwks.is_some() || jwks_uri.is_some() {
            return Err(FieldError::new(
                "jwks",
                format!("keys are registered only with auth method private_key_jwt, not `{method}`"),
            ));
        }
        return Ok((None, None));
    }
    match (jwks, jwks_uri) {
        (Some(jwks), None) => {
            KeySet::parse(&jwks).map_err(|e| FieldError::new("jwks", e.to_string()))?;
            Ok((Some(jwks), None))
        }
        (None, Some(uri)) => Ok((None, Some(FieldError::check("jwks-uri", JwksUri::parse(uri))?))),
        (Some(_), Some(_)) => Err(FieldError::new("jwks", "give a JWK Set or a jwks_uri, not both")),
        (None, None) => Err(FieldError::new(
            "jwks",
            "a private_key_jwt client needs its public keys: a JWK Set (--jwks-file) or a jwks_uri",
        )),
    }
}

/// Whether a client row's method presents a secret.
pub fn uses_secret(row: &ClientRow) -> bool {
    row.auth_method.parse::<AuthMethod>().is_ok_and(AuthMethod::uses_secret)
}

/// The grant types fit the rest of the client: the code flow needs a
/// redirect URI, refresh tokens come from sign-ins, and a public client
/// cannot use client_credentials, which rests on client authentication
/// alone. (It may exchange id_tokens bound to its DPoP key: the proof
/// stands in for authentication, `protocol::token::exchange`.)
fn check_grants_fit(
    grant_types: &[GrantType],
    auth_method: AuthMethod,
    has_redirect_uri: bool,
) -> Result<(), FieldError> {
    let has = |g| grant_types.contains(&g);
    if has(GrantType::AuthorizationCode) && !has_redirect_uri {
        return Err(FieldError::new(
            "redirect-uri",
            "a client with the authorization_code grant needs at least one",
        ));
    }
    if has(GrantType::RefreshToken) && !has(GrantType::AuthorizationCode) {
        return Err(FieldError::new(
            "grant-type",
            "refresh_token needs authorization_code (refresh tokens come from sign-ins)",
        ));
    }
    if auth_method == AuthMethod::None && has(GrantType::ClientCredentials) {
        return Err(FieldError::new(
            "grant-type",
            "a public client cannot use client_credentials: it cannot authenticate",
        ));
    }
    Ok(())
}
