//! The client side of DPoP (RFC 9449): a key pair held in memory, its RFC
//! 7638 thumbprint (what `dpop_jkt` and `cnf.jkt` name), and a fresh proof
//! for each request.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsHeader};
use serde_json::json;
use sha2::{Digest, Sha256};

pub struct DpopKey {
    private: Jwk,
    public: Jwk,
    /// The RFC 7638 SHA-256 thumbprint of the public key.
    pub thumbprint: String,
}

impl DpopKey {
    /// A new P-256 key pair (ES256).
    pub fn generate() -> Result<Self, String> {
        let pair = ES256.generate_key_pair().map_err(|e| e.to_string())?;
        let public = pair.to_jwk_public_key();
        let member = |name: &str| {
            public
                .parameter(name)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        // RFC 7638 §3.2: the required members, in lexicographic order, no spaces.
        let canonical = format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            member("crv"),
            member("x"),
            member("y")
        );
        Ok(Self {
            private: pair.to_jwk_private_key(),
            thumbprint: URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())),
            public,
        })
    }

    /// A proof for one request (RFC 9449 §4.2): `htm` and `htu` name it, and
    /// `ath` the access token it goes with, if any.
    pub fn proof(&self, htm: &str, htu: &str, access_token: Option<&str>) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type("dpop+jwt");
        header.set_jwk(self.public.clone());
        let iat = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut claims = json!({ "jti": uuid::Uuid::new_v4().to_string(), "htm": htm, "htu": htu, "iat": iat });
        if let Some(token) = access_token {
            claims["ath"] = json!(URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())));
        }
        let signed = ES256
            .signer_from_jwk(&self.private)
            .and_then(|signer| josekit::jws::serialize_compact(claims.to_string().as_bytes(), &header, &signer));
        // An ES256 signer from our own fresh key cannot fail; an empty proof is refused.
        signed.unwrap_or_default()
    }
}
