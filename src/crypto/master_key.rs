//! The master key: encrypts private signing keys at rest (JWE `dir` + `A256GCM`).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwe::{self, Dir, JweHeader};

use super::CryptoError;

/// `LANYARD_MASTER_KEY`: 32 bytes, base64url without padding (a trailing `=` is tolerated).
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; 32]);

/// The content encryption of the sealed private keys (RFC 7518 §5.3).
const ENCRYPTION: &str = "A256GCM";

impl MasterKey {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim().trim_end_matches('=');
        URL_SAFE_NO_PAD
            .decode(trimmed)
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .map(Self)
            .ok_or_else(|| "must be 32 bytes encoded as base64url (43 characters)".to_owned())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The base64url form, as `parse` reads it.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// A 256-bit key for one purpose, derived with HMAC-SHA256 (so every node
    /// sharing the master key derives the same one).
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Encrypts `plaintext` as a compact JWE whose protected header names `kid`,
    /// so a sealed key moved to another row no longer opens (the header is the AAD).
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<String, CryptoError> {
        let mut header = JweHeader::new();
        header.set_content_encryption(ENCRYPTION);
        header.set_key_id(kid);
        let encrypter = Dir
            .encrypter_from_bytes(self.0)
            .map_err(|e| CryptoError::Encrypt(e.to_string()))?;
        jwe::serialize_compact(plaintext, &header, &encrypter).map_err(|e| CryptoError::Encrypt(e.to_string()))
    }

    /// Decrypts what `seal` made for the same `kid`.
    pub fn open(&self, kid: &str, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        let fail = || CryptoError::Decrypt { kid: kid.to_owned() };
        let decrypter = Dir.decrypter_from_bytes(self.0).map_err(|_| fail())?;
        let (plaintext, header) = jwe::deserialize_compact(sealed, &decrypter).map_err(|_| fail())?;
        if header.key_id() != Some(kid) || header.content_encryption() != Some(ENCRYPTION) {
            return Err(fail());
        }
        Ok(plaintext)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unpadded_and_padded_base64url() {
        let key = MasterKey::from_bytes([7; 32]);
        assert_eq!(MasterKey::parse(&key.encode()), Ok(key.clone()));
        assert_eq!(MasterKey::parse(&format!("{}=", key.encode())), Ok(key));
        assert!(MasterKey::parse("c2hvcnQ").is_err());
        assert!(MasterKey::parse("not base64!").is_err());
    }

    #[test]
    fn sealed_keys_open_only_with_the_same_master_key_and_kid() {
        let key = MasterKey::from_bytes([1; 32]);
        let sealed = key.seal("kid-1", b"secret").unwrap();
        assert_eq!(key.open("kid-1", &sealed).unwrap(), b"secret");
        assert!(key.open("kid-2", &sealed).is_err());
        assert!(MasterKey::from_bytes([2; 32]).open("kid-1", &sealed).is_err());
    }

    #[test]
    fn debug_never_shows_the_key() {
        assert_eq!(format!("{:?}", MasterKey::from_bytes([9; 32])), "MasterKey(<redacted>)");
    }
}
