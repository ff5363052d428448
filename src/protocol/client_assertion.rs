//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OIDC Core
//! §9): the client sends a JWT it signed with one of its registered keys in
//! `client_assertion`, with `client_assertion_type` `…:jwt-bearer`.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use super::Provider;
use super::client_documents::Fetch;
use super::error::OAuthError;
use crate::crypto::jwks::{ASSERTION_ALGS, Verification};
use crate::crypto::secret;
use crate::model::{AuthMethod, Client};
use crate::store::StoreError;

/// `client_assertion_type` for a JWT (RFC 7523 §2.2), compared exactly.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The algorithms advertised in `token_endpoint_auth_signing_alg_values_supported`.
pub use crate::crypto::jwks::ASSERTION_ALGS as SIGNING_ALGS;

/// Clock skew allowed on `exp`, `nbf` and `iat` (RFC 7523 §3 items 4–6).
pub const LEEWAY: TimeDelta = TimeDelta::seconds(30);

/// The furthest ahead an assertion's `exp` may be: an assertion is made for
/// one request, so a long-lived one is a stolen credential waiting to be
/// used, and its `jti` would have to be remembered that long (§3 item 4
/// lets the server bound it).
pub const MAX_LIFETIME: TimeDelta = TimeDelta::minutes(5);

/// The longest assertion and `jti` read: enough for an RSA-4096 signature
/// and the claims; a bound keeps the work and the replay store small.
const MAX_ASSERTION_LEN: usize = 8 * 1024;
const MAX_JTI_LEN: usize = 256;

/// Why an assertion was refused: logged for the operator, never sent (the
/// client gets the one `invalid_client`).
#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    #[error("{0}")]
    Refused(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Not the client's failure: too many new client_id URLs (429) or too
    /// many documents being fetched (503).
    #[error("{0:?}")]
    Unavailable(OAuthError),
}

use AssertionError::Refused;

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    /// RFC 7515 §4.1.11: extensions we do not understand must be refused,
    /// and we understand none.
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audiences>,
    exp: Option<NumericDate>,
    nbf: Option<NumericDate>,
    iat: Option<NumericDate>,
    jti: Option<String>,
}

/// `aud`: one string or an array of them (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audiences {
    One(String),
    Many(Vec<String>),
}

impl Audiences {
    fn any(&self, mut f: impl FnMut(&str) -> bool) -> bool {
        match self {
            Audiences::One(a) => f(a),
            Audiences::Many(all) => all.iter().any(|a| f(a)),
        }
    }
}

/// A NumericDate: seconds, perhaps with a fraction (RFC 7519 §2).
#[derive(Deserialize)]
struct NumericDate(serde_json::Number);

impl NumericDate {
    fn time(&self) -> Option<DateTime<Utc>> {
        let secs = self
            .0
            .as_i64()
            .or_else(|| self.0.as_f64().filter(|f| f.is_finite()).map(|f| f.floor() as i64))?;
        DateTime::from_timestamp(secs, 0)
    }
}

/// Authenticates a client by its assertion, presented at the issuer's
/// `endpoint` (a path, e.g. `/token`). `client_id`, when the request names
/// one, must be the assertion's. Returns the client, or why not.
pub async fn authenticate(
    p: &Provider,
    assertion: &str,
    client_id: Option<&str>,
    (endpoint, fetch): (&str, Fetch<'_>),
) -> Result<Arc<Client>, AssertionError> {
    let parsed = parse(assertion)?;
    let claims = &parsed.claims;
    // §3 items 1–2 (and OIDC Core §9): `iss` and `sub` are both the client_id.
    let sub = claims.sub.as_deref().ok_or(Refused("no sub"))?;
    if claims.iss.as_deref() != Some(sub) {
        return Err(Refused("iss is not sub"));
    }
    if client_id.is_some_and(|id| id != sub) {
        return Err(Refused("the request's client_id is not the assertion's sub"));
    }
    // The `sub` is not verified yet: at /token (`Fetch::IfKnown`) a URL
    // that is no client yet is never fetched for it.
    let client = match super::client_documents::resolve(p, sub, fetch).await {
        Ok(client) => client.ok_or(Refused("no such client"))?,
        Err(e) => {
            return Err(match e.refusal() {
                Ok(_) => Refused("its metadata document was refused"),
                Err(e) => AssertionError::Unavailable(e),
            });
        }
    };
    if client.auth_method != AuthMethod::PrivateKeyJwt {
        return Err(Refused("the client does not use private_key_jwt"));
    }
    let now = p.now();
    verify_signature(p, &client, &parsed, now).await?;
    let expires = check_claims(claims, p.config.issuer.as_str(), endpoint, now)?;
    // §3 item 7: each assertion once, across every node, until it expires.
    let jti = claims.jti.as_deref().unwrap_or_default();
    let seen = secret::sha256(&format!("{sub} {jti}")).to_vec();
    if !p.assertion_jtis.first_use(&p.pool, seen, expires + LEEWAY).await? {
        return Err(Refused("the jti was used before"));
    }
    Ok(client)
}

/// An assertion taken apart (a compact JWS, RFC 7515 §7.1).
struct Parsed<'a> {
    signing_input: &'a str,
    signature: Vec<u8>,
    header: Header,
    claims: Claims,
}

/// Decodes the assertion once and checks its header: bounded, no `crit`,
/// and signed with an asymmetric algorithm — never `none`, never HMAC (§3
/// item 9).
fn parse(assertion: &str) -> Result<Parsed<'_>, AssertionError> {
    if assertion.len() > MAX_ASSERTION_LEN {
        return Err(Refused("the assertion is too long"));
    }
    let (signing_input, signature) = assertion.rsplit_once('.').ok_or(Refused("not a JWS"))?;
    let (header, payload) = signing_input.split_once('.').ok_or(Refused("not a JWS"))?;
    let header: Header = decode(header)?;
    let claims: Claims = decode(payload)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Refused("the signature is not base64url"))?;
    if header.crit.is_some() {
        return Err(Refused("the header has crit"));
    }
    if !ASSERTION_ALGS.contains(&header.alg.as_str()) {
        return Err(Refused("alg is not ES256, EdDSA, RS256 or PS256"));
    }
    Ok(Parsed {
        signing_input,
        signature,
        header,
        claims,
    })
}

/// The signature, by one of the client's keys; an unknown `kid` fetches a
/// `jwks_uri` client's keys again (at most once a minute, `ClientKeys`).
async fn verify_signature(
    p: &Provider,
    client: &Client,
    parsed: &Parsed<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AssertionError> {
    let keys = p
        .client_keys
        .current(client, now)
        .await
        .ok_or(Refused("the client's keys are unavailable"))?;
    let (alg, kid, input) = (
        &parsed.header.alg,
        parsed.header.kid.as_deref(),
        parsed.signing_input.as_bytes(),
    );
    let mut verified = keys.verify(alg, kid, input, &parsed.signature);
    if verified == Verification::UnknownKey
        && let Some(keys) = p.client_keys.refetched(client, now).await
    {
        verified = keys.verify(alg, kid, input, &parsed.signature);
    }
    match verified {
        Verification::Verified => Ok(()),
        Verification::UnknownKey => Err(Refused("no key of the client has that kid and alg")),
        Verification::BadSignature => Err(Refused("the signature does not verify")),
    }
}

fn decode<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, AssertionError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Refused("a part is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| Refused("the header or claims are not the expected JSON"))
}

/// RFC 7523 §3 items 3–7 on an assertion whose signature verified: `aud`,
/// `exp`, `nbf`, `iat`, `jti`. Returns its `exp`.
fn check_claims(
    claims: &Claims,
    issuer: &str,
    endpoint: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, AssertionError> {
    // Item 3: the issuer identifier, or the URL of the endpoint it is sent
    // to; OIDC Core §9 names the token endpoint, so that one is accepted at
    // introspection and revocation too.
    let ours = |aud: &str| {
        aud == issuer
            || aud
                .strip_prefix(issuer)
                .is_some_and(|path| path == endpoint || path == crate::paths::TOKEN)
    };
    if !claims.aud.as_ref().is_some_and(|a| a.any(ours)) {
        return Err(Refused("aud is neither the issuer nor this endpoint"));
    }
    // Item 4: `exp` required, not passed, and (our bound) not far ahead.
    let exp = claims
        .exp
        .as_ref()
        .and_then(NumericDate::time)
        .ok_or(Refused("no usable exp"))?;
    if exp + LEEWAY <= now {
        return Err(Refused("the assertion has expired"));
    }
    if exp > now + MAX_LIFETIME + LEEWAY {
        return Err(Refused("exp is too far ahead"));
    }
    // Items 5–6: not before `nbf`, not issued in the future.
    for (date, why) in [
        (&claims.nbf, "nbf is in the future"),
        (&claims.iat, "iat is in the future"),
    ] {
        if let Some(date) = date {
            let at = date.time().ok_or(Refused("a date is not a NumericDate"))?;
            if at > now + LEEWAY {
                return Err(Refused(why));
            }
        }
    }
    // Item 7: a `jti`, to be accepted once.
    if !claims
        .jti
        .as_deref()
        .is_some_and(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
    {
        return Err(Refused("no usable jti"));
    }
    Ok(exp)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "https://id.example";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn claims(changes: serde_json::Value) -> Claims {
        let mut c = json!({
            "iss": "svc", "sub": "svc", "aud": "https://id.example/token",
            "exp": 1_800_000_060, "iat": 1_800_000_000, "jti": "j1",
        });
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        serde_json::from_value(c).unwrap()
    }

    fn check(changes: serde_json::Value, endpoint: &str) -> Result<DateTime<Utc>, String> {
        check_claims(&claims(changes), ISSUER, endpoint, now()).map_err(|e| e.to_string())
    }

    #[test]
    fn the_issuer_or_the_endpoint_is_the_audience() {
        for aud in [json!(ISSUER), json!("https://id.example/token"), json!(["x", ISSUER])] {
            assert!(check(json!({ "aud": aud }), "/token").is_ok(), "{aud}");
        }
        assert!(check(json!({"aud": "https://id.example/introspect"}), "/introspect").is_ok());
        assert!(check(json!({"aud": "https://id.example/token"}), "/revoke").is_ok());
        for aud in [
            json!("https://id.example/introspect"),
            json!("https://id.example/"),
            json!("https://other.example/token"),
            json!([]),
            json!(null),
        ] {
            assert!(
                check(json!({ "aud": aud }), "/token").unwrap_err().contains("aud"),
                "{aud}"
            );
        }
    }

    #[test]
    fn exp_is_required_near_and_not_passed() {
        assert!(
            check(json!({"exp": 1_800_000_000 - 31}), "/token")
                .unwrap_err()
                .contains("expired")
        );
        assert!(
            check(json!({"exp": 1_800_000_000 - 29}), "/token").is_ok(),
            "within the leeway"
        );
        assert!(check(json!({"exp": 1_800_000_000 + 300}), "/token").is_ok());
        assert!(
            check(json!({"exp": 1_800_000_000 + 3600}), "/token")
                .unwrap_err()
                .contains("ahead")
        );
        assert!(check(json!({"exp": null}), "/token").unwrap_err().contains("exp"));
        assert!(check(json!({"exp": 1_800_000_060.5}), "/token").is_ok(), "a fraction");
    }

    #[test]
    fn nbf_iat_and_jti_are_checked() {
        assert!(
            check(json!({"nbf": 1_800_000_100}), "/token")
                .unwrap_err()
                .contains("nbf")
        );
        assert!(
            check(json!({"iat": 1_800_000_100}), "/token")
                .unwrap_err()
                .contains("iat")
        );
        assert!(check(json!({"nbf": 1_799_999_000, "iat": 1_800_000_010}), "/token").is_ok());
        assert!(check(json!({"jti": null}), "/token").unwrap_err().contains("jti"));
        assert!(check(json!({"jti": ""}), "/token").unwrap_err().contains("jti"));
        assert!(
            check(json!({"jti": "x".repeat(257)}), "/token")
                .unwrap_err()
                .contains("jti")
        );
    }
}
