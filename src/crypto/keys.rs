//! Signing keys: RS256 (RSA 2048), ES256 (P-256) and EdDSA (Ed25519) — generation,
//! public JWKs with RFC 7638 thumbprints as `kid`, and JWS signing.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::KeyPair as _;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jws::{self, ES256, EdDSA, JwsHeader, JwsSigner, RS256};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::CryptoError;

/// A JWS algorithm Lanyard signs with (RFC 7518 §3.1, RFC 8037 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Alg {
    RS256,
    ES256,
    EdDSA,
}

impl Alg {
    /// Every algorithm, RS256 first (OIDC Core §15.1 requires it).
    pub const ALL: [Alg; 3] = [Alg::RS256, Alg::ES256, Alg::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }
}

protocol_names!(Alg, "algorithm");

/// A freshly generated key pair: its public JWK (with `kid`, `alg`, `use`) and
/// its private key as PKCS#8 DER, to be sealed with the master key.
pub struct GeneratedKey {
    pub alg: Alg,
    pub kid: String,
    pub public_jwk: Value,
    pub private_der: Vec<u8>,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

pub fn generate_key(alg: Alg) -> Result<GeneratedKey, CryptoError> {
    let fail = |e: josekit::JoseError| CryptoError::Generate(e.to_string());
    let (public, private_der) = match alg {
        Alg::RS256 => {
            let pair = RS256.generate_key_pair(2048).map_err(fail)?;
            (pair.to_jwk_public_key(), pair.to_der_private_key())
        }
        Alg::ES256 => {
            let pair = ES256.generate_key_pair().map_err(fail)?;
            (pair.to_jwk_public_key(), pair.to_der_private_key())
        }
        Alg::EdDSA => {
            let pair = EdDSA.generate_key_pair(EdCurve::Ed25519).map_err(fail)?;
            (pair.to_jwk_public_key(), pair.to_der_private_key())
        }
    };
    let mut public_jwk: Map<String, Value> = public.into();
    public_jwk.retain(|k, _| matches!(k.as_str(), "kty" | "crv" | "n" | "e" | "x" | "y"));
    let kid = thumbprint(&public_jwk).ok_or_else(|| CryptoError::Generate("public JWK lacks members".into()))?;
    public_jwk.insert("kid".into(), json!(kid));
    public_jwk.insert("alg".into(), json!(alg.as_str()));
    public_jwk.insert("use".into(), json!("sig"));
    Ok(GeneratedKey {
        alg,
        kid,
        public_jwk: Value::Object(public_jwk),
        private_der,
    })
}

/// The JWK SHA-256 thumbprint (RFC 7638 §3): the required members in
/// lexicographic order, no white space, hashed and base64url-encoded.
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let required: &[&str] = match jwk.get("kty")?.as_str()? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = Map::new();
    for member in required {
        canonical.insert(
            (*member).to_owned(),
            Value::String(jwk.get(*member)?.as_str()?.to_owned()),
        );
    }
    // serde_json's Map is ordered by key, so this is the canonical form.
    let bytes = serde_json::to_vec(&canonical).ok()?;
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(bytes)))
}

/// A private key ready to sign JWTs.
pub struct SigningKey {
    pub alg: Alg,
    pub kid: String,
    signer: Box<dyn JwsSigner>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Loads a PKCS#8 DER private key of the given algorithm.
    pub fn from_der(alg: Alg, kid: &str, der: &[u8]) -> Result<Self, CryptoError> {
        let bad = |e: josekit::JoseError| CryptoError::BadKey {
            kid: kid.to_owned(),
            alg: alg.as_str(),
            reason: e.to_string(),
        };
        let signer: Box<dyn JwsSigner> = match alg {
            Alg::RS256 => Box::new(RS256.signer_from_der(der).map_err(bad)?),
            Alg::ES256 => Box::new(ES256.signer_from_der(der).map_err(bad)?),
            Alg::EdDSA => Box::new(EdDSA.signer_from_der(der).map_err(bad)?),
        };
        Ok(Self {
            alg,
            kid: kid.to_owned(),
            signer,
        })
    }

    /// Signs `claims` as a compact JWS with `typ` and this key's `kid` in the header.
    pub fn sign(&self, typ: &str, claims: &Value) -> Result<String, CryptoError> {
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(&self.kid);
        let payload = serde_json::to_vec(claims).map_err(|e| CryptoError::Sign(e.to_string()))?;
        jws::serialize_compact(&payload, &header, self.signer.as_ref()).map_err(|e| CryptoError::Sign(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1.
        let jwk: Map<String, Value> = serde_json::from_str(r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#).unwrap();
        assert_eq!(
            thumbprint(&jwk).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn generated_keys_publish_only_public_members_and_sign() {
        for alg in Alg::ALL {
            let key = generate_key(alg).unwrap();
            let jwk = key.public_jwk.as_object().unwrap();
            assert_eq!(jwk["kid"], json!(key.kid));
            assert_eq!(jwk["alg"], json!(alg.as_str()));
            assert_eq!(jwk["use"], json!("sig"));
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(!jwk.contains_key(private), "{alg} leaks {private}");
            }
            let signer = SigningKey::from_der(alg, &key.kid, &key.private_der).unwrap();
            let jwt = signer.sign("JWT", &json!({"sub": "x"})).unwrap();
            assert_eq!(jwt.split('.').count(), 3);
        }
    }
}
