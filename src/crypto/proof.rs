//! Verifying a JWS signed by the key it carries in its header (`jwk`), as a
//! DPoP proof is (RFC 9449 §4.2), and that key's RFC 7638 thumbprint.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{self, ES256, EdDSA, JwsVerifier, PS256, RS256};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The algorithms a self-signed proof may use: asymmetric only.
pub const PROOF_ALGS: [&str; 4] = ["ES256", "EdDSA", "RS256", "PS256"];

/// Why a proof's signature or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("not a compact JWS (three base64url parts) with a JSON header and claims")]
    Malformed,
    #[error("alg `{0}` is not allowed (use ES256, EdDSA, RS256 or PS256)")]
    AlgorithmNotAllowed(String),
    #[error("the header carries no jwk")]
    NoKey,
    #[error("the jwk holds private key material")]
    PrivateKey,
    #[error("the jwk is not a usable public key of that alg: {0}")]
    BadKey(String),
    #[error("the signature does not verify with the jwk")]
    BadSignature,
}

/// A proof whose signature verified with the key in its header.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    /// The RFC 7638 SHA-256 thumbprint of the header's `jwk`.
    pub thumbprint: String,
}

/// JWK members that hold private key material (RFC 7518 §6.2.2, §6.3.2,
/// §6.4; RFC 8037 §2).
pub(crate) const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn decode_object(part: &str) -> Result<Map<String, Value>, ProofError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| ProofError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ProofError::Malformed),
    }
}

/// Verifiers of the keys proofs were signed with, by `alg` and thumbprint:
/// building one from a JWK costs more than verifying a signature (an EC
/// point is decoded and checked), and a client signs every proof with the
/// same key. Bounded: when full it starts again empty.
#[derive(Default)]
pub struct VerifierCache(Mutex<HashMap<String, Arc<dyn JwsVerifier>>>);

/// How many keys the cache holds at most.
const CACHED_KEYS: usize = 10_000;

impl VerifierCache {
    fn get(&self, id: &str) -> Option<Arc<dyn JwsVerifier>> {
        self.lock().get(id).cloned()
    }

    /// Keeps a verifier that has just verified a signature (never one that
    /// did not: a forged proof must not decide how the next one is read).
    fn keep(&self, id: String, verifier: Arc<dyn JwsVerifier>) {
        let mut map = self.lock();
        if map.len() >= CACHED_KEYS {
            map.clear();
        }
        map.insert(id, verifier);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<dyn JwsVerifier>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A verifier of the key alone: built from the members the thumbprint
/// covers, so nothing else in the `jwk` (a `kid`, `use`, `key_ops`) bears on
/// verification — keys with one thumbprint verify alike.
fn build_verifier(alg: &str, key_members: Map<String, Value>) -> Result<Arc<dyn JwsVerifier>, ProofError> {
    let key = Jwk::from_map(key_members).map_err(|e| ProofError::BadKey(e.to_string()))?;
    let bad = |e: josekit::JoseError| ProofError::BadKey(e.to_string());
    Ok(match alg {
        "ES256" => Arc::new(ES256.verifier_from_jwk(&key).map_err(bad)?),
        "EdDSA" => Arc::new(EdDSA.verifier_from_jwk(&key).map_err(bad)?),
        "RS256" => Arc::new(RS256.verifier_from_jwk(&key).map_err(bad)?),
        _ => Arc::new(PS256.verifier_from_jwk(&key).map_err(bad)?),
    })
}

/// Verifies `jwt` with the public key of its header's `jwk`: the `alg` one
/// of `PROOF_ALGS` (never `none`, never a MAC), the key public only.
pub fn verify_self_signed(jwt: &str, cache: &VerifierCache) -> Result<SelfSigned, ProofError> {
    let mut parts = jwt.split('.');
    let (Some(header), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(ProofError::Malformed);
    };
    let header = decode_object(header)?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or_default();
    if !PROOF_ALGS.contains(&alg) {
        return Err(ProofError::AlgorithmNotAllowed(alg.chars().take(16).collect()));
    }
    let jwk = header.get("jwk").and_then(Value::as_object).ok_or(ProofError::NoKey)?;
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(ProofError::PrivateKey);
    }
    let (members, thumbprint) = key_of(jwk)?;
    let id = format!("{alg}.{thumbprint}");
    let (verifier, cached) = match cache.get(&id) {
        Some(v) => (v, true),
        None => (build_verifier(alg, members)?, false),
    };
    let (payload, _) = jws::deserialize_compact(jwt, verifier.as_ref()).map_err(|_| ProofError::BadSignature)?;
    if !cached {
        cache.keep(id, verifier);
    }
    let claims = match serde_json::from_slice(&payload) {
        Ok(Value::Object(map)) => map,
        _ => return Err(ProofError::Malformed),
    };
    Ok(SelfSigned {
        header,
        claims,
        thumbprint,
    })
}

/// The JWK SHA-256 thumbprint (RFC 7638 §3): the required members of its
/// key type, in lexicographic order, without whitespace, hashed, base64url.
pub fn thumbprint(jwk: &Map<String, Value>) -> Result<String, ProofError> {
    key_of(jwk).map(|(_, thumbprint)| thumbprint)
}

/// The required members of a JWK's key type, and their thumbprint.
fn key_of(jwk: &Map<String, Value>) -> Result<(Map<String, Value>, String), ProofError> {
    let members: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        Some("RSA") => &["e", "kty", "n"],
        other => return Err(ProofError::BadKey(format!("kty {other:?} is not EC, OKP or RSA"))),
    };
    let mut canonical = Map::new();
    for m in members {
        let value = jwk
            .get(*m)
            .and_then(Value::as_str)
            .ok_or_else(|| ProofError::BadKey(format!("the jwk has no `{m}`")))?;
        canonical.insert((*m).to_owned(), Value::String(value.to_owned()));
    }
    // serde_json's Map keeps keys sorted, so this is the lexicographic order.
    let json = serde_json::to_vec(&canonical).map_err(|e| ProofError::BadKey(e.to_string()))?;
    Ok((canonical, URL_SAFE_NO_PAD.encode(Sha256::digest(&json))))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// RFC 7638 §3.1's example key and thumbprint.
    #[test]
    fn the_thumbprint_is_rfc_7638s() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(jwk.as_object().unwrap()).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn a_token_without_a_usable_public_key_is_refused() {
        let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let claims = b64(json!({"jti": "x"}));
        for (header, why) in [
            (json!({"alg": "none", "jwk": {"kty": "OKP"}}), "none"),
            (json!({"alg": "HS256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}}), "HS256"),
            (json!({"alg": "ES256"}), "no jwk"),
            (
                json!({"alg": "ES256", "jwk": {"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"}}),
                "private",
            ),
        ] {
            let jwt = format!("{}.{claims}.AAAA", b64(header));
            let refused = verify_self_signed(&jwt, &VerifierCache::default()).unwrap_err();
            let matched = match why {
                "none" | "HS256" => matches!(refused, ProofError::AlgorithmNotAllowed(_)),
                "no jwk" => refused == ProofError::NoKey,
                _ => refused == ProofError::PrivateKey,
            };
            assert!(matched, "{why}: {refused:?}");
        }
        assert!(matches!(
            verify_self_signed("a.b", &VerifierCache::default()),
            Err(ProofError::Malformed)
        ));
    }
}
