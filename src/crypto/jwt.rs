//! Verifying compact JWS tokens against Lanyard's own public keys.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{self, ES256, EdDSA, JwsVerifier, RS256};
use serde_json::{Map, Value};

use super::{Alg, CryptoError};

/// Why a token did not verify. Each is a reason an admin can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("not a compact JWS (three base64url parts)")]
    Malformed,
    #[error("the header names no key Lanyard publishes (kid {0:?})")]
    UnknownKey(Option<String>),
    #[error("the header's alg `{0}` is not the algorithm of that key")]
    AlgorithmNotAllowed(String),
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the payload is not a JSON object")]
    BadClaims,
}

/// The JOSE header members Lanyard looks at (RFC 7515 §4.1).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Header {
    pub alg: String,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// Reads the header without verifying anything (to pick the key).
pub fn peek_header(jwt: &str) -> Result<Header, JwtError> {
    let mut parts = jwt.split('.');
    let (Some(header), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwtError::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

/// A public key that verifies signatures of one algorithm.
pub struct Verifier {
    pub alg: Alg,
    inner: Box<dyn JwsVerifier>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn from_jwk(alg: Alg, jwk: &Value) -> Result<Self, CryptoError> {
        let bad = |e: String| CryptoError::BadKey {
            kid: jwk["kid"].as_str().unwrap_or_default().to_owned(),
            alg: alg.as_str(),
            reason: e,
        };
        let map = jwk
            .as_object()
            .cloned()
            .ok_or_else(|| bad("not a JSON object".into()))?;
        let jwk = Jwk::from_map(map).map_err(|e| bad(e.to_string()))?;
        let inner: Box<dyn JwsVerifier> = match alg {
            Alg::RS256 => Box::new(RS256.verifier_from_jwk(&jwk).map_err(|e| bad(e.to_string()))?),
            Alg::ES256 => Box::new(ES256.verifier_from_jwk(&jwk).map_err(|e| bad(e.to_string()))?),
            Alg::EdDSA => Box::new(EdDSA.verifier_from_jwk(&jwk).map_err(|e| bad(e.to_string()))?),
        };
        Ok(Self { alg, inner })
    }

    /// Checks the header's `alg` is this key's (so `none` and HS256 never pass),
    /// verifies the signature and returns the claims.
    pub fn verify(&self, jwt: &str) -> Result<Map<String, Value>, JwtError> {
        match serde_json::from_slice(&self.verify_payload(jwt)?) {
            Ok(Value::Object(claims)) => Ok(claims),
            _ => Err(JwtError::BadClaims),
        }
    }

    /// As `verify`, but returns the payload's bytes, for a caller that reads
    /// them into its own claim set.
    pub fn verify_payload(&self, jwt: &str) -> Result<Vec<u8>, JwtError> {
        let header = peek_header(jwt)?;
        if header.alg != self.alg.as_str() {
            return Err(JwtError::AlgorithmNotAllowed(header.alg));
        }
        let (payload, _) = jws::deserialize_compact(jwt, self.inner.as_ref()).map_err(|_| JwtError::BadSignature)?;
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::crypto::{SigningKey, generate_key};

    #[test]
    fn verifies_its_own_signatures_and_refuses_tampering() {
        let key = generate_key(Alg::ES256).unwrap();
        let signer = SigningKey::from_der(Alg::ES256, &key.kid, &key.private_der).unwrap();
        let verifier = Verifier::from_jwk(Alg::ES256, &key.public_jwk).unwrap();
        let jwt = signer.sign("at+jwt", &json!({"sub": "a"})).unwrap();
        assert_eq!(verifier.verify(&jwt).unwrap()["sub"], "a");
        let header = peek_header(&jwt).unwrap();
        assert_eq!(
            (header.typ.as_deref(), header.kid.as_deref()),
            (Some("at+jwt"), Some(key.kid.as_str()))
        );
        let mut parts: Vec<&str> = jwt.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"b"}"#);
        parts[1] = &forged;
        assert_eq!(verifier.verify(&parts.join(".")), Err(JwtError::BadSignature));
    }

    /// Found by fuzzing (fuzz/seeds/jwt_verify/regression-float-exp): a time
    /// claim too large for an integer reads back as a float, not the number
    /// signed. Every reader takes `exp` as an integer, so such a token has
    /// no usable `exp` and is refused as expired or without one.
    #[test]
    fn a_time_claim_beyond_an_integer_is_no_time_at_all() {
        let key = generate_key(Alg::ES256).unwrap();
        let signer = SigningKey::from_der(Alg::ES256, &key.kid, &key.private_der).unwrap();
        let verifier = Verifier::from_jwk(Alg::ES256, &key.public_jwk).unwrap();
        let claims: Value =
            serde_json::from_str(r#"{"sub":"ada","exp":1877777777777777777777777777777777777700000000}"#).unwrap();
        let jwt = signer.sign("at+jwt", &claims).unwrap();
        let verified = verifier.verify(&jwt).unwrap();
        assert_eq!(verified["sub"], "ada");
        assert_eq!(verified["exp"].as_i64(), None, "not a time Lanyard reads");
    }

    #[test]
    fn refuses_alg_none_and_hs256() {
        let key = generate_key(Alg::RS256).unwrap();
        let verifier = Verifier::from_jwk(Alg::RS256, &key.public_jwk).unwrap();
        for alg in ["none", "HS256"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","kid":"{}"}}"#, key.kid));
            let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"a"}"#);
            let jwt = format!("{header}.{payload}.");
            assert_eq!(verifier.verify(&jwt), Err(JwtError::AlgorithmNotAllowed(alg.into())));
        }
        assert_eq!(verifier.verify("abc"), Err(JwtError::Malformed));
    }
}
