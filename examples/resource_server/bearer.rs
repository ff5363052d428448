//! Offline validation of Lanyard access tokens, as any API would do it:
//! discovery → JWKS (cached, refetched on an unknown `kid` at most once per
//! interval) → signature, `typ: at+jwt`, `iss`, `aud`, `exp`/`nbf`; then the
//! scheme its binding asks for — a bearer token as `Bearer`, a DPoP-bound
//! one (`cnf.jkt`) as `DPoP` with a proof (RFC 9449 §7, `dpop.rs`) — the
//! level of sign-in when the API requires one (`acr`, RFC 9470) and `scope`
//! (RFC 9068 §4, RFC 6750 §3).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, EdDSA, JwsVerifier, RS256};
use serde_json::{Map, Value};

use crate::dpop::{self, ProofChecker, ProofError, ProofRequest};

/// Lanyard's sign-in levels (its `acr_values_supported`), weakest first.
pub const LEVELS: [&str; 3] = ["password", "mfa", "phishing-resistant"];

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: i64 = 30;
/// An unknown `kid` refetches the JWKS at most this often (`JWKS_REFETCH_SECS`, default 30).
fn refetch_every() -> Duration {
    let secs = std::env::var("JWKS_REFETCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// The authentication scheme of a request (RFC 6750, RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
}

/// Why a request is refused, as RFC 6750 §3 and RFC 9449 §7.1 answer it:
/// the challenge names the scheme the client used.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No token at all: 401 with a bare challenge for each scheme.
    NoToken,
    /// 401 `invalid_token`.
    InvalidToken(Scheme, String),
    /// 401 `invalid_dpop_proof`: a DPoP-bound token without a good proof.
    InvalidProof(String),
    /// 403 `insufficient_scope`, naming the scope needed.
    InsufficientScope(Scheme, String),
    /// 401 `insufficient_user_authentication` (RFC 9470 §3), naming the
    /// levels that would do in `acr_values` (space-separated): the client
    /// signs the person in again asking for one.
    InsufficientUserAuthentication(Scheme, String),
    /// 503: too many recent proofs to remember another one.
    Busy,
}

/// A challenge for `scheme` with these auth-params; `DPoP` also lists the
/// proof algorithms (`algs`, RFC 9449 §7.1).
fn challenge(scheme: Scheme, params: &[(&str, &str)]) -> String {
    let mut params: Vec<String> = params
        .iter()
        .map(|(name, value)| format!("{name}=\"{}\"", value.replace(['"', '\\'], "'")))
        .collect();
    let name = match scheme {
        Scheme::Bearer => "Bearer",
        Scheme::Dpop => {
            params.push(format!("algs=\"{}\"", dpop::ALGS.join(" ")));
            "DPoP"
        }
    };
    match params.is_empty() {
        true => name.to_owned(),
        false => format!("{name} {}", params.join(", ")),
    }
}

impl Refusal {
    /// The response: one `WWW-Authenticate` field per challenge.
    pub fn response(self) -> actix_web::HttpResponse {
        use actix_web::HttpResponse;
        use actix_web::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
        use serde_json::json;
        let error = |scheme, code: &str, why: &str| {
            HttpResponse::Unauthorized()
                .insert_header((
                    WWW_AUTHENTICATE,
                    challenge(scheme, &[("error", code), ("error_description", why)]),
                ))
                .json(json!({ "error": code, "error_description": why }))
        };
        match self {
            Refusal::NoToken => HttpResponse::Unauthorized()
                .append_header((WWW_AUTHENTICATE, challenge(Scheme::Bearer, &[])))
                .append_header((WWW_AUTHENTICATE, challenge(Scheme::Dpop, &[])))
                .finish(),
            Refusal::InvalidToken(scheme, why) => error(scheme, "invalid_token", &why),
            Refusal::InvalidProof(why) => error(Scheme::Dpop, "invalid_dpop_proof", &why),
            Refusal::InsufficientUserAuthentication(scheme, level) => {
                let why = format!("this API needs a sign-in of one of these levels: {level}");
                let code = "insufficient_user_authentication";
                HttpResponse::Unauthorized()
                    .insert_header((
                        WWW_AUTHENTICATE,
                        challenge(
                            scheme,
                            &[("error", code), ("error_description", &why), ("acr_values", &level)],
                        ),
                    ))
                    .json(json!({ "error": code, "error_description": why, "acr_values": level }))
            }
            Refusal::InsufficientScope(scheme, scope) => HttpResponse::Forbidden()
                .insert_header((
                    WWW_AUTHENTICATE,
                    challenge(scheme, &[("error", "insufficient_scope"), ("scope", &scope)]),
                ))
                .json(json!({ "error": "insufficient_scope", "scope": scope })),
            Refusal::Busy => HttpResponse::ServiceUnavailable()
                .insert_header((RETRY_AFTER, "5"))
                .finish(),
        }
    }
}

/// What the validator needs of a request.
pub struct Request<'a> {
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// Every `DPoP` header field.
    pub dpop: &'a [&'a str],
    pub method: &'a str,
    pub path: &'a str,
}

pub struct Validator {
    issuer: String,
    audience: String,
    jwks_uri: String,
    http: reqwest::Client,
    proofs: ProofChecker,
    keys: Mutex<(HashMap<String, Value>, Option<Instant>)>,
    /// The level of sign-in a user's token needs (an index in `LEVELS`).
    min_acr: Option<usize>,
}

impl Validator {
    /// Reads the issuer's discovery document and its JWKS; `public_url` is
    /// this server's own URL as clients call it (DPoP proofs name it).
    pub async fn discover(issuer: &str, audience: &str, public_url: &str) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let doc: Value = http
            .get(format!("{issuer}/.well-known/openid-configuration"))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("discovery: {e}"))?
            .json()
            .await
            .map_err(|e| format!("discovery: {e}"))?;
        if doc["issuer"].as_str() != Some(issuer) {
            return Err(format!("discovery names issuer {} instead of {issuer}", doc["issuer"]));
        }
        let jwks_uri = doc["jwks_uri"].as_str().ok_or("discovery has no jwks_uri")?.to_owned();
        let validator = Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            jwks_uri,
            http,
            proofs: ProofChecker::new(public_url),
            keys: Mutex::new((HashMap::new(), None)),
            min_acr: None,
        };
        validator.refetch().await?;
        Ok(validator)
    }

    /// Requires a level of sign-in of a user's token (`MIN_ACR`, RFC 9470):
    /// one of `LEVELS`, or none.
    pub fn requiring(mut self, level: Option<&str>) -> Result<Self, String> {
        self.min_acr = match level {
            None => None,
            Some(l) => Some(
                LEVELS
                    .iter()
                    .position(|x| *x == l)
                    .ok_or(format!("MIN_ACR `{l}` is not one of {LEVELS:?}"))?,
            ),
        };
        Ok(self)
    }

    async fn refetch(&self) -> Result<(), String> {
        let jwks: Value = self
            .http
            .get(&self.jwks_uri)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("jwks: {e}"))?
            .json()
            .await
            .map_err(|e| format!("jwks: {e}"))?;
        let keys = jwks["keys"]
            .as_array()
            .ok_or("jwks has no keys")?
            .iter()
            .filter_map(|k| Some((k["kid"].as_str()?.to_owned(), k.clone())))
            .collect();
        *self.keys.lock().unwrap_or_else(|e| e.into_inner()) = (keys, Some(Instant::now()));
        Ok(())
    }

    /// The published key with this `kid`, refetching the JWKS once per interval if unknown.
    async fn key(&self, kid: &str) -> Option<Value> {
        let (known, refetch) = {
            let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            let stale = keys.1.is_none_or(|at| at.elapsed() >= refetch_every());
            (keys.0.get(kid).cloned(), stale)
        };
        if known.is_some() || !refetch {
            return known;
        }
        self.refetch().await.ok()?;
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).0.get(kid).cloned()
    }

    /// Validates a request's credentials for a route that needs `scope`.
    pub async fn check(&self, req: &Request<'_>, scope: &str) -> Result<Map<String, Value>, Refusal> {
        let Some(authorization) = req.authorization else {
            return Err(Refusal::NoToken);
        };
        // The scheme is case-insensitive (RFC 9110 §11.1).
        let (scheme, token) = match authorization.split_once(' ') {
            Some((s, token)) if s.eq_ignore_ascii_case("Bearer") => (Scheme::Bearer, token.trim()),
            Some((s, token)) if s.eq_ignore_ascii_case("DPoP") => (Scheme::Dpop, token.trim()),
            _ => return Err(Refusal::NoToken),
        };
        let bad = |why: &str| Refusal::InvalidToken(scheme, why.to_owned());
        let header: Value = token
            .split('.')
            .next()
            .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("malformed token"))?;
        if !matches!(
            header["typ"].as_str().map(str::to_ascii_lowercase).as_deref(),
            Some("at+jwt" | "application/at+jwt")
        ) {
            return Err(bad("not an access token (typ is not at+jwt)"));
        }
        let kid = header["kid"].as_str().ok_or_else(|| bad("no kid"))?;
        let key = self.key(kid).await.ok_or_else(|| bad("unknown signing key"))?;
        let alg = key["alg"].as_str().unwrap_or_default();
        if header["alg"].as_str() != Some(alg) {
            return Err(bad("alg does not match the key"));
        }
        let jwk = key
            .as_object()
            .cloned()
            .and_then(|m| Jwk::from_map(m).ok())
            .ok_or_else(|| bad("unusable key"))?;
        let verifier: Box<dyn JwsVerifier> = match alg {
            "RS256" => Box::new(RS256.verifier_from_jwk(&jwk).map_err(|_| bad("unusable key"))?),
            "ES256" => Box::new(ES256.verifier_from_jwk(&jwk).map_err(|_| bad("unusable key"))?),
            "EdDSA" => Box::new(EdDSA.verifier_from_jwk(&jwk).map_err(|_| bad("unusable key"))?),
            _ => return Err(bad("algorithm not allowed")),
        };
        let (payload, _) =
            josekit::jws::deserialize_compact(token, verifier.as_ref()).map_err(|_| bad("bad signature"))?;
        let claims: Map<String, Value> = serde_json::from_slice(&payload).map_err(|_| bad("malformed claims"))?;
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(bad("another issuer"));
        }
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => *a == self.audience,
            Some(Value::Array(a)) => a.len() == 1 && a[0].as_str() == Some(self.audience.as_str()),
            _ => false,
        };
        if !aud_ok {
            return Err(bad("the token is for another audience"));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        if claims
            .get("exp")
            .and_then(Value::as_i64)
            .is_none_or(|exp| exp + LEEWAY_SECS <= now)
        {
            return Err(bad("the token has expired"));
        }
        if claims
            .get("nbf")
            .and_then(Value::as_i64)
            .is_some_and(|nbf| nbf - LEEWAY_SECS > now)
        {
            return Err(bad("the token is not valid yet"));
        }
        self.check_binding(req, scheme, token, &claims)?;
        self.check_level(scheme, &claims)?;
        let scopes = claims.get("scope").and_then(Value::as_str).unwrap_or_default();
        if !scopes.split(' ').any(|s| s == scope) {
            return Err(Refusal::InsufficientScope(scheme, scope.to_owned()));
        }
        Ok(claims)
    }

    /// RFC 9470 §3: a user's token below the required level — or saying no
    /// level at all — is refused with the levels that would do. (A service's
    /// own token, whose `sub` is its `client_id`, has no sign-in to judge.)
    fn check_level(&self, scheme: Scheme, claims: &Map<String, Value>) -> Result<(), Refusal> {
        let Some(min) = self.min_acr else { return Ok(()) };
        if claims.get("sub").is_some() && claims.get("sub") == claims.get("client_id") {
            return Ok(());
        }
        let reached = claims
            .get("acr")
            .and_then(Value::as_str)
            .and_then(|acr| LEVELS.iter().position(|l| *l == acr));
        match reached {
            Some(reached) if reached >= min => Ok(()),
            _ => Err(Refusal::InsufficientUserAuthentication(scheme, LEVELS[min..].join(" "))),
        }
    }

    /// RFC 9449 §7: a token bound to a key (`cnf.jkt`) only under the `DPoP`
    /// scheme, with a proof for this request by that key — never as a
    /// bearer (§7.2); an unbound token only as a bearer.
    fn check_binding(
        &self,
        req: &Request<'_>,
        scheme: Scheme,
        token: &str,
        claims: &Map<String, Value>,
    ) -> Result<(), Refusal> {
        let bad = |why: &str| Refusal::InvalidToken(scheme, why.to_owned());
        let jkt = claims.get("cnf").map(|cnf| cnf.get("jkt").and_then(Value::as_str));
        match (scheme, jkt) {
            (Scheme::Bearer, None) => Ok(()),
            (Scheme::Bearer, Some(_)) => Err(bad("the token is bound to a key: use the DPoP scheme with a proof")),
            (Scheme::Dpop, None) => Err(bad("the token is not bound to a key: use the Bearer scheme")),
            (Scheme::Dpop, Some(None)) => Err(bad("the token is bound to a key DPoP cannot prove")),
            (Scheme::Dpop, Some(Some(jkt))) => self
                .proofs
                .check(&ProofRequest {
                    proofs: req.dpop,
                    method: req.method,
                    path: req.path,
                    access_token: token,
                    jkt,
                })
                .map_err(|e| match e {
                    ProofError::Invalid(why) => Refusal::InvalidProof(why),
                    ProofError::WrongKey => bad("the DPoP proof's key is not the key the token is bound to"),
                    ProofError::Busy => Refusal::Busy,
                }),
        }
    }
}
