//! Password hashing: argon2id at the OWASP parameters (m=19 MiB, t=2, p=1).

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use super::CryptoError;

/// Hashes a password as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
/// Slow on purpose (tens of milliseconds): call it off the async threads.
pub fn hash(password: &str) -> Result<String, CryptoError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| CryptoError::Password(e.to_string()))
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify(password: &str, hash: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_with_owasp_parameters_and_verifies() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
    }
}
