//! Random secrets (256-bit, base64url), their SHA-256 and constant-time comparison.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A 256-bit random value, base64url without padding (43 characters).
pub fn random_token(rng: &mut impl rand::CryptoRng) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 of a secret, as it is stored and looked up.
pub fn sha256(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_and_distinct() {
        let mut rng = crate::random::rng();
        let (a, b) = (random_token(&mut rng), random_token(&mut rng));
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
    }

    #[test]
    fn hashes_compare_in_constant_time() {
        assert!(constant_time_eq(&sha256("x"), &sha256("x")));
        assert!(!constant_time_eq(&sha256("x"), &sha256("y")));
    }
}
