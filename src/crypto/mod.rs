//! Crypto: signing keys, JWT signing, encryption at rest, secrets and passwords.
//! The lowest layer: it knows nothing of HTTP or the database.

pub mod field_mac;
pub mod jwks;
pub mod jwt;
mod keys;
mod master_key;
pub mod password;
pub mod proof;
pub mod secret;

pub use keys::{Alg, GeneratedKey, SigningKey, generate_key, thumbprint};
pub use master_key::MasterKey;

/// A crypto failure. Library messages stay inside: callers log them, never send them.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("the master key does not decrypt signing key {kid}")]
    Decrypt { kid: String },
    #[error("signing key {kid} is not a valid {alg} key: {reason}")]
    BadKey {
        kid: String,
        alg: &'static str,
        reason: String,
    },
    #[error("encryption failed: {0}")]
    Encrypt(String),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("password hashing failed: {0}")]
    Password(String),
}
