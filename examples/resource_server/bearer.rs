//! Offline validation of Lanyard access tokens, as any API would do it:
//! discovery → JWKS (cached, refetched on an unknown `kid` at most once per
//! interval) → signature, `typ: at+jwt`, `iss`, `aud`, `exp`/`nbf`, `scope`
//! (RFC 9068 §4, RFC 6750 §3).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, EdDSA, JwsVerifier, RS256};
use serde_json::{Map, Value};

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

/// Why a request is refused, as RFC 6750 §3 answers it.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No token at all: 401 with a bare `Bearer` challenge.
    NoToken,
    /// 401 `invalid_token`.
    InvalidToken(String),
    /// 403 `insufficient_scope`, naming the scope needed.
    InsufficientScope(String),
}

impl Refusal {
    /// The RFC 6750 §3 response: the challenge names the error and, for scope, what is needed.
    pub fn response(self) -> actix_web::HttpResponse {
        use actix_web::HttpResponse;
        use actix_web::http::header::WWW_AUTHENTICATE;
        match self {
            Refusal::NoToken => HttpResponse::Unauthorized()
                .insert_header((WWW_AUTHENTICATE, "Bearer"))
                .finish(),
            Refusal::InvalidToken(why) => HttpResponse::Unauthorized()
                .insert_header((
                    WWW_AUTHENTICATE,
                    format!("Bearer error=\"invalid_token\", error_description=\"{why}\""),
                ))
                .json(serde_json::json!({ "error": "invalid_token", "error_description": why })),
            Refusal::InsufficientScope(scope) => HttpResponse::Forbidden()
                .insert_header((
                    WWW_AUTHENTICATE,
                    format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""),
                ))
                .json(serde_json::json!({ "error": "insufficient_scope", "scope": scope })),
        }
    }
}

pub struct Validator {
    issuer: String,
    audience: String,
    jwks_uri: String,
    http: reqwest::Client,
    keys: Mutex<(HashMap<String, Value>, Option<Instant>)>,
}

impl Validator {
    /// Reads the issuer's discovery document and its JWKS.
    pub async fn discover(issuer: &str, audience: &str) -> Result<Self, String> {
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
            keys: Mutex::new((HashMap::new(), None)),
        };
        validator.refetch().await?;
        Ok(validator)
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

    /// Validates an `Authorization` header for a route that needs `scope`.
    pub async fn check(&self, authorization: Option<&str>, scope: &str) -> Result<Map<String, Value>, Refusal> {
        let bad = |why: &str| Refusal::InvalidToken(why.to_owned());
        let token = match authorization {
            None => return Err(Refusal::NoToken),
            Some(h) => h
                .strip_prefix("Bearer ")
                .ok_or_else(|| bad("not a Bearer token"))?
                .trim(),
        };
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
        let scopes = claims.get("scope").and_then(Value::as_str).unwrap_or_default();
        if !scopes.split(' ').any(|s| s == scope) {
            return Err(Refusal::InsufficientScope(scope.to_owned()));
        }
        Ok(claims)
    }
}
