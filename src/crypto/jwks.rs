//! A client's JWK Set (RFC 7517 §5): checked to hold only asymmetric public
//! keys, and held as ready verifiers for the signatures of its
//! `private_key_jwt` assertions (RFC 7523 §3 item 9).

use std::sync::Arc;

use josekit::jwk::Jwk;
use josekit::jws::{ES256, EdDSA, JwsVerifier, PS256, RS256};
use serde_json::{Map, Value};

use super::proof::PRIVATE_MEMBERS;

/// The algorithms an assertion may be signed with: asymmetric only (never
/// `none`, never a MAC keyed with something public).
pub const ASSERTION_ALGS: [&str; 4] = ["ES256", "EdDSA", "RS256", "PS256"];

/// The most keys a client's JWK Set may hold (a rotation needs two or three).
pub const MAX_KEYS: usize = 16;

/// Why a JWK Set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("not a JWK Set: a JSON object with a `keys` array of 1 to {MAX_KEYS} keys")]
    NotASet,
    #[error("key {0} holds private key material; register public keys only")]
    Private(usize),
    #[error("key {0} is a symmetric (`oct`) key; register an EC, OKP or RSA public key")]
    Symmetric(usize),
    #[error("key {0} is not an ES256, EdDSA, RS256 or PS256 public key for signatures: {1}")]
    Unusable(usize, String),
    #[error("two keys share the kid `{0}`")]
    DuplicateKid(String),
}

/// One registered key: its `kid` and a verifier for each algorithm it may sign with.
struct Key {
    kid: Option<String>,
    verifiers: Vec<(&'static str, Arc<dyn JwsVerifier>)>,
}

/// A client's public keys, ready to verify.
pub struct KeySet {
    keys: Vec<Key>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|k| k.kid.as_deref().unwrap_or("-")).collect();
        f.debug_struct("KeySet").field("kids", &kids).finish()
    }
}

/// What checking a signature against a key set found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Verified,
    /// No key of the set has that `kid` (or, without a `kid`, none can
    /// verify that `alg`): the client may have rotated its keys.
    UnknownKey,
    /// A key was there and the signature does not verify with it.
    BadSignature,
}

impl KeySet {
    /// Checks a JWK Set: an object with `keys`, each an EC (P-256), OKP
    /// (Ed25519) or RSA (2048 bits or more) public key usable for signatures
    /// (`use` absent or `sig`, `key_ops` absent or with `verify`, `alg`
    /// absent or one of `ASSERTION_ALGS`); no private members, no symmetric
    /// keys, `kid`s distinct.
    pub fn parse(set: &Value) -> Result<Self, JwksError> {
        let keys = set
            .get("keys")
            .and_then(Value::as_array)
            .filter(|k| (1..=MAX_KEYS).contains(&k.len()))
            .ok_or(JwksError::NotASet)?;
        let mut parsed: Vec<Key> = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            let key = key.as_object().ok_or(JwksError::NotASet)?;
            let key = parse_key(i, key)?;
            if let Some(kid) = &key.kid
                && parsed.iter().any(|k| k.kid.as_ref() == Some(kid))
            {
                return Err(JwksError::DuplicateKid(kid.clone()));
            }
            parsed.push(key);
        }
        Ok(Self { keys: parsed })
    }

    /// Verifies `signature` over `signing_input` (the JWS's
    /// `header.payload`, RFC 7515 §5.2) with the key `kid` names, or
    /// without a `kid` with any key that can verify `alg`.
    pub fn verify(&self, alg: &str, kid: Option<&str>, signing_input: &[u8], signature: &[u8]) -> Verification {
        let mut found = false;
        for key in &self.keys {
            if kid.is_some() && key.kid.as_deref() != kid {
                continue;
            }
            let Some((_, verifier)) = key.verifiers.iter().find(|(a, _)| *a == alg) else {
                continue;
            };
            found = true;
            if verifier.verify(signing_input, signature).is_ok() {
                return Verification::Verified;
            }
        }
        if found {
            Verification::BadSignature
        } else {
            Verification::UnknownKey
        }
    }
}

fn parse_key(i: usize, key: &Map<String, Value>) -> Result<Key, JwksError> {
    let kty = key.get("kty").and_then(Value::as_str).unwrap_or_default();
    if kty == "oct" {
        return Err(JwksError::Symmetric(i));
    }
    if PRIVATE_MEMBERS.iter().any(|m| key.contains_key(*m)) {
        return Err(JwksError::Private(i));
    }
    let unusable = |why: String| JwksError::Unusable(i, why);
    if let Some(alg) = key.get("alg")
        && !alg.as_str().is_some_and(|a| ASSERTION_ALGS.contains(&a))
    {
        return Err(unusable(format!(
            "alg {alg} is not one of {}",
            ASSERTION_ALGS.join(", ")
        )));
    }
    let kid = match key.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(unusable("its kid is not a string".into())),
    };
    let jwk = Jwk::from_map(key.clone()).map_err(|e| unusable(e.to_string()))?;
    let candidates: &[&'static str] = match (kty, key.get("crv").and_then(Value::as_str)) {
        ("EC", Some("P-256")) => &["ES256"],
        ("OKP", Some("Ed25519")) => &["EdDSA"],
        ("RSA", _) => &["RS256", "PS256"],
        _ => return Err(unusable(format!("kty `{kty}` with this crv"))),
    };
    let mut verifiers: Vec<(&'static str, Arc<dyn JwsVerifier>)> = Vec::new();
    let mut last_error = String::new();
    for alg in candidates {
        // josekit checks `use`, `key_ops`, `alg`, the curve point and the RSA size.
        let built: Result<Arc<dyn JwsVerifier>, _> = match *alg {
            "ES256" => ES256.verifier_from_jwk(&jwk).map(|v| Arc::new(v) as _),
            "EdDSA" => EdDSA.verifier_from_jwk(&jwk).map(|v| Arc::new(v) as _),
            "RS256" => RS256.verifier_from_jwk(&jwk).map(|v| Arc::new(v) as _),
            _ => PS256.verifier_from_jwk(&jwk).map(|v| Arc::new(v) as _),
        };
        match built {
            Ok(v) => verifiers.push((alg, v)),
            Err(e) => last_error = e.to_string(),
        }
    }
    if verifiers.is_empty() {
        return Err(unusable(last_error));
    }
    Ok(Key { kid, verifiers })
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use josekit::jws::JwsHeader;
    use serde_json::json;

    use super::*;

    fn es256() -> (Value, josekit::jws::alg::ecdsa::EcdsaJwsSigner) {
        let pair = ES256.generate_key_pair().unwrap();
        let mut public: Map<String, Value> = pair.to_jwk_public_key().as_ref().clone();
        public.insert("kid".into(), json!("k1"));
        (
            Value::Object(public),
            ES256.signer_from_jwk(&pair.to_jwk_private_key()).unwrap(),
        )
    }

    #[test]
    fn a_set_of_public_keys_verifies_its_signatures() {
        let (public, signer) = es256();
        let set = KeySet::parse(&json!({ "keys": [public] })).unwrap();
        let jws = josekit::jws::serialize_compact(b"{}", &JwsHeader::new(), &signer).unwrap();
        let (input, sig) = jws.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        assert_eq!(
            set.verify("ES256", Some("k1"), input.as_bytes(), &sig),
            Verification::Verified
        );
        assert_eq!(
            set.verify("ES256", None, input.as_bytes(), &sig),
            Verification::Verified
        );
        assert_eq!(
            set.verify("ES256", Some("k2"), input.as_bytes(), &sig),
            Verification::UnknownKey
        );
        assert_eq!(
            set.verify("EdDSA", None, input.as_bytes(), &sig),
            Verification::UnknownKey
        );
        assert_eq!(
            set.verify("ES256", Some("k1"), b"other", &sig),
            Verification::BadSignature
        );
    }

    #[test]
    fn private_symmetric_and_unusable_keys_are_refused() {
        let pair = ES256.generate_key_pair().unwrap();
        let private = Value::Object(pair.to_jwk_private_key().as_ref().clone());
        let (public, _) = es256();
        let mut enc = public.clone();
        enc["use"] = json!("enc");
        let mut hs = public.clone();
        hs["alg"] = json!("HS256");
        for (set, refusal) in [
            (json!({ "keys": [private] }), JwksError::Private(0)),
            (
                json!({ "keys": [{"kty": "oct", "k": "c2VjcmV0"}] }),
                JwksError::Symmetric(0),
            ),
            (json!({ "keys": [] }), JwksError::NotASet),
            (json!([public]), JwksError::NotASet),
            (
                json!({ "keys": [public, public] }),
                JwksError::DuplicateKid("k1".into()),
            ),
        ] {
            assert_eq!(KeySet::parse(&set).unwrap_err(), refusal, "{set}");
        }
        for bad in [enc, hs, json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"})] {
            assert!(
                matches!(KeySet::parse(&json!({ "keys": [bad] })), Err(JwksError::Unusable(0, _))),
                "{bad}"
            );
        }
    }
}
