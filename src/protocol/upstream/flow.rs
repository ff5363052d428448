//! The code flow at an upstream provider, Lanyard as the relying party:
//! the authentication request (OIDC Core §3.1.2.1, PKCE S256 RFC 7636 §4,
//! `state`, `nonce`), the response's `iss` (RFC 9207 §2.4), the code
//! exchange (§3.1.3.1) and every rule of id_token validation (§3.1.3.7).
//! The flow's state waits server-side in `upstream_flows`, bound to the
//! browser, and is taken once.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use openidconnect::core::{
    CoreAuthPrompt, CoreClient, CoreIdToken, CoreIdTokenClaims, CoreIdTokenVerifier, CoreJwsSigningAlgorithm,
    CoreResponseType,
};
use openidconnect::{
    AuthType, AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, JwsSigningAlgorithm, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError, TokenResponse,
};

use super::discovery::Metadata;
use super::{FLOW_LIFETIME, STARTS_PER_ADDRESS, Upstream, UpstreamError, audit, load};
use crate::crypto::secret::{random_token, sha256};
use crate::model::AuthLevel;
use crate::protocol::{Provider, address_budget};
use crate::store::upstream_flows::{self, NewFlow};

/// How far an upstream's clock may be ahead of ours (an id_token's `iat`).
const CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

type UpstreamClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// What a sign-in carries to resume once it is back: the authorization
/// request (encoded) or the admin or account page, as the sign-in page carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Carried {
    pub request: String,
    pub return_to: String,
}

/// What a sign-in at an upstream is asked to be (OIDC Core §3.1.2.1): a
/// fresh one (`prompt=login`), one at most `max_age` seconds old, or a
/// connection of the upstream account to the signed-in `link_user_id`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asked {
    pub prompt_login: bool,
    pub max_age: Option<i64>,
    pub link_user_id: Option<uuid::Uuid>,
}

/// Starts a sign-in at upstream `id` for the browser whose binding cookie is
/// `binding`, from address `ip` (at most `STARTS_PER_ADDRESS` a window): the
/// URL of the upstream's authorization endpoint to send it to.
pub async fn start(
    p: &Provider,
    id: &str,
    binding: &str,
    (carried, asked): (&Carried, Asked),
    ip: Option<&str>,
) -> Result<String, UpstreamError> {
    let now = p.now();
    // An unknown upstream is refused before anything is counted or stored.
    let upstream = load(p, id).await?;
    throttle(p, ip, now).await?;
    let metadata = metadata(p, &upstream, now)
        .await
        .inspect_err(|e| drop(audit(p, "failed", None, ip, id, &e.to_string())))?;
    let mut rng = crate::random::rng();
    let (state, nonce, verifier) = (random_token(&mut rng), random_token(&mut rng), random_token(&mut rng));
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.clone()));
    let client = client_of(p, &upstream, &metadata)?;
    let (s, n) = (state.clone(), nonce.clone());
    let mut request = client.authorize_url(
        AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
        move || CsrfToken::new(s),
        move || Nonce::new(n),
    );
    for scope in upstream.scopes.iter().filter(|s| *s != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    if asked.prompt_login {
        request = request.add_prompt(CoreAuthPrompt::Login);
    }
    if let Some(max_age) = asked.max_age {
        request = request.set_max_age(std::time::Duration::from_secs(max_age.max(0).unsigned_abs()));
    }
    let (url, _, _) = request.set_pkce_challenge(challenge).url();
    let mut conn = p.pool.acquire().await?;
    let flow = NewFlow {
        state_hash: &sha256(&state),
        binding: &sha256(binding),
        upstream_id: id,
        pkce_verifier: &verifier,
        nonce: &nonce,
        request: &carried.request,
        return_to: &carried.return_to,
        link_user_id: asked.link_user_id,
        max_age: asked.max_age,
        now,
        expires_at: now + FLOW_LIFETIME,
    };
    upstream_flows::insert_flow(&mut conn, &flow).await?;
    Ok(url.to_string())
}

/// At most `STARTS_PER_ADDRESS` starts a window per client address (IPv6
/// counted by its /64): each start waits in `upstream_flows`.
async fn throttle(p: &Provider, ip: Option<&str>, now: DateTime<Utc>) -> Result<(), UpstreamError> {
    let Some(ip) = ip else {
        return Ok(());
    };
    let mut conn = p.pool.acquire().await?;
    let window = crate::protocol::signin::THROTTLE_WINDOW;
    match address_budget::exceeded(&mut conn, "upstream-ip", ip, STARTS_PER_ADDRESS, window, now).await? {
        true => Err(UpstreamError::Throttled),
        false => Ok(()),
    }
}

/// The authorization response at the callback (OIDC Core §3.1.2.5-6).
#[derive(Debug, Default)]
pub struct Callback<'a> {
    pub state: Option<&'a str>,
    pub code: Option<&'a str>,
    pub error: Option<&'a str>,
    pub iss: Option<&'a str>,
}

/// Who the upstream says signed in, its id_token verified.
pub struct Assertion {
    pub upstream: Upstream,
    /// The upstream's `sub`.
    pub subject: String,
    /// The verified id_token's claims.
    pub claims: serde_json::Value,
    /// The level the upstream's `acr` reaches, as the admin mapped it.
    pub level: AuthLevel,
    /// The upstream's `auth_time`, when it sent one.
    pub auth_time: Option<DateTime<Utc>>,
    /// Connecting from the account page: the user to link to.
    pub link_user_id: Option<uuid::Uuid>,
    pub carried: Carried,
}

/// Completes a sign-in at upstream `id` from its authorization response:
/// the flow this browser started (once), `iss`, the code exchange and the
/// id_token. Every refusal is audited with its reason.
pub async fn finish(
    p: &Provider,
    id: &str,
    binding: Option<&str>,
    cb: &Callback<'_>,
    ip: Option<&str>,
) -> Result<Assertion, UpstreamError> {
    let outcome = response(p, id, binding, cb).await;
    // A callback with no binding cookie or an unknown state is not audited
    // (anyone can send those, without limit); every other refusal is.
    if let Some(e) = outcome.as_ref().err().filter(|e| !matches!(e, UpstreamError::NoFlow)) {
        audit(p, "failed", None, ip, id, &e.to_string())?;
    }
    outcome
}

async fn response(
    p: &Provider,
    id: &str,
    binding: Option<&str>,
    cb: &Callback<'_>,
) -> Result<Assertion, UpstreamError> {
    let (binding, state) = binding.zip(cb.state).ok_or(UpstreamError::NoFlow)?;
    let mut conn = p.pool.acquire().await?;
    let flow = upstream_flows::take_flow(&mut conn, &sha256(state), &sha256(binding), id).await?;
    drop(conn);
    let flow = flow.ok_or(UpstreamError::NoFlow)?;
    let now = p.now();
    if flow.expires_at <= now {
        return Err(UpstreamError::Expired);
    }
    let upstream = load(p, id).await?;
    let metadata = metadata(p, &upstream, now).await?;
    check_iss(&upstream, &metadata, cb.iss)?;
    if let Some(error) = cb.error {
        return Err(UpstreamError::Refused(printable(error)));
    }
    let code = cb
        .code
        .ok_or_else(|| UpstreamError::Invalid("the response has no code".into()))?;
    let id_token = exchange(p, &upstream, &metadata, code, flow.pkce_verifier).await?;
    let nonce = Nonce::new(flow.nonce);
    let checks = Checks {
        nonce: &nonce,
        max_age: flow.max_age,
        now,
    };
    let verified = verify(p, &upstream, metadata, &id_token, &checks).await?;
    let auth_time = verified.auth_time();
    let claims = payload(&verified)?;
    let subject = claims["sub"].as_str().unwrap_or_default().to_owned();
    let level = upstream.acr_map.level_of(claims["acr"].as_str());
    Ok(Assertion {
        upstream,
        subject,
        claims,
        level,
        auth_time,
        link_user_id: flow.link_user_id,
        carried: Carried {
            request: flow.request,
            return_to: flow.return_to,
        },
    })
}

/// The upstream's metadata, its endpoints checked.
async fn metadata(p: &Provider, u: &Upstream, now: DateTime<Utc>) -> Result<Arc<Metadata>, UpstreamError> {
    let m = p
        .upstreams
        .metadata(u.id.as_str(), &u.issuer, now)
        .await
        .map_err(UpstreamError::Unreachable)?;
    secure_endpoints(&m)?;
    Ok(m)
}

/// Every endpoint Lanyard uses from the discovery (authorization, token,
/// JWKS, userinfo) is `https`, or `http` on a loopback host — the rule of
/// the issuer itself (OIDC Discovery §3 asks TLS of them all).
fn secure_endpoints(m: &Metadata) -> Result<(), UpstreamError> {
    let endpoints = [
        ("authorization_endpoint", Some(m.authorization_endpoint().url())),
        ("token_endpoint", m.token_endpoint().map(|e| e.url())),
        ("jwks_uri", Some(m.jwks_uri().url())),
        ("userinfo_endpoint", m.userinfo_endpoint().map(|e| e.url())),
    ];
    for (name, url) in endpoints {
        if let Some(url) = url
            && crate::model::https_or_loopback(url.as_str(), url).is_err()
        {
            return Err(UpstreamError::Insecure(format!("its {name} `{url}` must use https")));
        }
    }
    Ok(())
}

/// RFC 9207 §2.4: `iss` must be the upstream's issuer whenever present, and
/// present when its metadata says it sends one.
fn check_iss(u: &Upstream, m: &Metadata, iss: Option<&str>) -> Result<(), UpstreamError> {
    let announced = m.additional_metadata().authorization_response_iss_parameter_supported == Some(true);
    match iss {
        Some(iss) if iss != u.issuer => Err(UpstreamError::Invalid(
            "the response's iss is not the upstream's issuer (RFC 9207)".into(),
        )),
        None if announced => Err(UpstreamError::Invalid(
            "the response has no iss, which the upstream announces (RFC 9207)".into(),
        )),
        _ => Ok(()),
    }
}

/// An upstream's error code as shown and audited: printable ASCII, short.
fn printable(raw: &str) -> String {
    raw.chars().filter(|c| c.is_ascii_graphic()).take(64).collect()
}

fn client_of(p: &Provider, u: &Upstream, m: &Metadata) -> Result<UpstreamClient, UpstreamError> {
    use openidconnect::core::CoreClientAuthMethod as Method;
    let redirect = RedirectUrl::new(Upstream::redirect_uri(p, u.id.as_str()))
        .map_err(|e| UpstreamError::Internal(crate::protocol::error::OAuthError::internal(e)))?;
    // client_secret_basic unless the upstream supports only client_secret_post
    // (OIDC Discovery §3: absent means client_secret_basic).
    let methods = m.token_endpoint_auth_methods_supported();
    let post_only =
        methods.is_some_and(|ms| !ms.contains(&Method::ClientSecretBasic) && ms.contains(&Method::ClientSecretPost));
    let auth = if post_only {
        AuthType::RequestBody
    } else {
        AuthType::BasicAuth
    };
    Ok(CoreClient::from_provider_metadata(
        m.clone(),
        ClientId::new(u.client_id.clone()),
        Some(ClientSecret::new(u.secret.clone())),
    )
    .set_redirect_uri(redirect)
    .set_auth_type(auth))
}

/// The code exchange (OIDC Core §3.1.3.1) with the PKCE verifier: the id_token.
async fn exchange(
    p: &Provider,
    u: &Upstream,
    m: &Metadata,
    code: &str,
    verifier: String,
) -> Result<CoreIdToken, UpstreamError> {
    let client = client_of(p, u, m)?;
    let request = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|_| UpstreamError::Invalid("the upstream has no token endpoint".into()))?;
    let tokens = request
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&p.upstreams.http)
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => {
                UpstreamError::Refused(format!("token endpoint: {}", printable(r.error().as_ref())))
            }
            RequestTokenError::Request(e) => UpstreamError::Unreachable(format!("token endpoint: {e}")),
            _ => UpstreamError::Invalid("the token response is not one (OIDC Core §3.1.3.3)".into()),
        })?;
    tokens
        .id_token()
        .cloned()
        .ok_or_else(|| UpstreamError::Invalid("the token response has no id_token".into()))
}

/// What an id_token is checked against besides the upstream's keys.
struct Checks<'a> {
    nonce: &'a Nonce,
    /// The `max_age` sent: `auth_time` must be present and satisfy it.
    max_age: Option<i64>,
    now: DateTime<Utc>,
}

/// OIDC Core §3.1.3.7: the signature with the upstream's keys (fetched
/// again once on an unknown key), an asymmetric algorithm it announces
/// (never `none`), `iss`, `aud` (ours, and no untrusted other), `azp`,
/// `exp`, `iat`, `nonce`, and `auth_time` when `max_age` was sent.
/// Returns the verified claims.
async fn verify(
    p: &Provider,
    u: &Upstream,
    m: Arc<Metadata>,
    id_token: &CoreIdToken,
    checks: &Checks<'_>,
) -> Result<CoreIdTokenClaims, UpstreamError> {
    let mut m = m;
    let unknown_key = ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey);
    if id_token.claims(&verifier(u, &m, checks)?, checks.nonce).err() == Some(unknown_key)
        && let Some(fresh) = p.upstreams.refetch_keys(u.id.as_str(), checks.now).await
    {
        m = fresh;
    }
    let claims = id_token
        .claims(&verifier(u, &m, checks)?, checks.nonce)
        .map_err(|e| UpstreamError::Invalid(format!("id_token: {e}")))?;
    let (aud, azp) = (claims.audiences(), claims.authorized_party());
    if (aud.len() > 1 && azp.is_none()) || azp.is_some_and(|a| a.as_str() != u.client_id) {
        return Err(UpstreamError::Invalid(
            "id_token: azp must name us when present, and be present with several audiences".into(),
        ));
    }
    Ok(claims.clone())
}

fn verifier<'a>(u: &Upstream, m: &Metadata, checks: &Checks<'_>) -> Result<CoreIdTokenVerifier<'a>, UpstreamError> {
    let issuer = IssuerUrl::new(u.issuer.clone()).map_err(|_| UpstreamError::Invalid("issuer".into()))?;
    let mut algs: Vec<CoreJwsSigningAlgorithm> = m
        .id_token_signing_alg_values_supported()
        .iter()
        .filter(|a| !a.uses_shared_secret() && **a != CoreJwsSigningAlgorithm::None)
        .cloned()
        .collect();
    if algs.is_empty() {
        algs.push(CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
    }
    let (now, max_age) = (checks.now, checks.max_age);
    let oldest = now - FLOW_LIFETIME - CLOCK_SKEW;
    // A public-client verifier: no HMAC keyed with our secret is accepted.
    Ok(
        CoreIdTokenVerifier::new_public_client(ClientId::new(u.client_id.clone()), issuer, m.jwks().clone())
            .set_allowed_algs(algs)
            .set_time_fn(move || now)
            .set_issue_time_verifier_fn(move |iat| match iat {
                t if t > now + CLOCK_SKEW => Err("iat is in the future".into()),
                t if t < oldest => Err("iat is too old".into()),
                _ => Ok(()),
            })
            .set_auth_time_verifier_fn(move |auth_time| auth_time_fits(auth_time, max_age, now)),
    )
}

/// OIDC Core §3.1.2.1 and §3.1.3.7 rule 13: with `max_age` sent, `auth_time`
/// must be present and at most `max_age` (plus the clock skew) old; never
/// in the future.
fn auth_time_fits(auth_time: Option<DateTime<Utc>>, max_age: Option<i64>, now: DateTime<Utc>) -> Result<(), String> {
    match (auth_time, max_age) {
        (Some(t), _) if t > now + CLOCK_SKEW => Err("auth_time is in the future".into()),
        (None, Some(_)) => Err("auth_time is missing, though max_age was sent".into()),
        (Some(t), Some(max)) if now - t > TimeDelta::seconds(max) + CLOCK_SKEW => {
            Err("auth_time is older than the max_age sent".into())
        }
        _ => Ok(()),
    }
}

/// The verified claims as JSON (what `accounts` maps by claim name), from
/// the crate's own typed claims — the id_token is not decoded a second time.
/// `sub` must be 1 to 255 characters (it is stored as the link's key).
fn payload(claims: &CoreIdTokenClaims) -> Result<serde_json::Value, UpstreamError> {
    let json = serde_json::to_value(claims).map_err(|_| UpstreamError::Invalid("id_token: its claims".into()))?;
    match json["sub"].as_str() {
        Some(sub) if !sub.is_empty() && sub.len() <= 255 => Ok(json),
        _ => Err(UpstreamError::Invalid(
            "id_token: sub must be 1 to 255 characters".into(),
        )),
    }
}
