//! The code flow at an upstream provider, Lanyard as the relying party:
//! the authentication request (OIDC Core §3.1.2.1, PKCE S256 RFC 7636 §4,
//! `state`, `nonce`), the response's `iss` (RFC 9207 §2.4), the code
//! exchange (§3.1.3.1) and every rule of id_token validation (§3.1.3.7).
//! The flow's state waits server-side in `upstream_flows`, bound to the
//! browser, and is taken once.

use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use openidconnect::core::{CoreClient, CoreIdToken, CoreIdTokenVerifier, CoreJwsSigningAlgorithm, CoreResponseType};
use openidconnect::{
    AuthType, AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, JwsSigningAlgorithm, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError, TokenResponse,
};

use super::discovery::Metadata;
use super::{FLOW_LIFETIME, STARTS_PER_ADDRESS, Upstream, UpstreamError, audit, load};
use crate::crypto::secret::{random_token, sha256};
use crate::model::AuthLevel;
use crate::protocol::Provider;
use crate::store::login_throttle;
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

/// Starts a sign-in at upstream `id` for the browser whose binding cookie is
/// `binding`, from address `ip` (at most `STARTS_PER_ADDRESS` a window): the
/// URL of the upstream's authorization endpoint to send it to.
pub async fn start(
    p: &Provider,
    id: &str,
    binding: &str,
    carried: &Carried,
    ip: Option<&str>,
) -> Result<String, UpstreamError> {
    let now = p.now();
    if let Some(ip) = ip {
        let mut conn = p.pool.acquire().await?;
        let window = now - crate::protocol::signin::THROTTLE_WINDOW;
        let starts = login_throttle::reserve(&mut conn, &format!("upstream-ip:{ip}"), now, window, None).await?;
        if starts.is_none_or(|n| n > STARTS_PER_ADDRESS) {
            return Err(UpstreamError::Throttled);
        }
    }
    let upstream = load(p, id).await?;
    let metadata = metadata(p, &upstream, now).await?;
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
        now,
        expires_at: now + FLOW_LIFETIME,
    };
    upstream_flows::insert_flow(&mut conn, &flow).await?;
    Ok(url.to_string())
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
    if let Err(e) = &outcome {
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
    let claims = verify(p, &upstream, metadata, &id_token, &nonce, now).await?;
    let subject = claims["sub"].as_str().unwrap_or_default().to_owned();
    let level = upstream.acr_map.level_of(claims["acr"].as_str());
    Ok(Assertion {
        upstream,
        subject,
        claims,
        level,
        carried: Carried {
            request: flow.request,
            return_to: flow.return_to,
        },
    })
}

async fn metadata(p: &Provider, u: &Upstream, now: DateTime<Utc>) -> Result<Arc<Metadata>, UpstreamError> {
    p.upstreams
        .metadata(u.id.as_str(), &u.issuer, now)
        .await
        .map_err(UpstreamError::Unreachable)
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

/// OIDC Core §3.1.3.7: the signature with the upstream's keys (fetched
/// again once on an unknown key), an asymmetric algorithm it announces,
/// `iss`, `aud` (ours, and no untrusted other), `azp`, `exp`, `iat`, `nonce`.
/// Returns the verified claims.
async fn verify(
    p: &Provider,
    u: &Upstream,
    m: Arc<Metadata>,
    id_token: &CoreIdToken,
    nonce: &Nonce,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, UpstreamError> {
    let mut m = m;
    let unknown_key = ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey);
    if id_token.claims(&verifier(u, &m, now)?, nonce).err() == Some(unknown_key)
        && let Some(fresh) = p.upstreams.refetch_keys(u.id.as_str(), now).await
    {
        m = fresh;
    }
    let claims = id_token
        .claims(&verifier(u, &m, now)?, nonce)
        .map_err(|e| UpstreamError::Invalid(format!("id_token: {e}")))?;
    let (aud, azp) = (claims.audiences(), claims.authorized_party());
    if (aud.len() > 1 && azp.is_none()) || azp.is_some_and(|a| a.as_str() != u.client_id) {
        return Err(UpstreamError::Invalid(
            "id_token: azp must name us when present, and be present with several audiences".into(),
        ));
    }
    payload(id_token)
}

fn verifier<'a>(u: &Upstream, m: &Metadata, now: DateTime<Utc>) -> Result<CoreIdTokenVerifier<'a>, UpstreamError> {
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
            }),
    )
}

/// The claims of an id_token whose signature was verified, as JSON.
fn payload(id_token: &CoreIdToken) -> Result<serde_json::Value, UpstreamError> {
    let compact = id_token.to_string();
    let bad = || UpstreamError::Invalid("id_token: not a JWS".into());
    let part = compact.split('.').nth(1).ok_or_else(bad)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| bad())?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    match claims["sub"].as_str() {
        Some(sub) if !sub.is_empty() && sub.len() <= 255 => Ok(claims),
        _ => Err(UpstreamError::Invalid(
            "id_token: sub must be 1 to 255 characters".into(),
        )),
    }
}
