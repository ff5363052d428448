//! Recovery codes: ten single-use codes shown once when a second factor is
//! set up (or renewed), stored as HMAC-SHA256 digests under a key derived
//! from the master key and bound to their person (a copy of the database
//! alone cannot test guesses). Each is 10 characters from an alphabet of 29
//! without look-alikes (48.6 bits), shown as `xxxxx-xxxxx`.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::crypto::field_mac::FieldMac;
use crate::protocol::Provider;
use crate::protocol::error::OAuthError;
use crate::store::{StoreError, second_factors};

/// How many codes a person gets at a time.
pub const COUNT: usize = 10;
const LENGTH: usize = 10;
/// No 0/O, 1/I/L, 8/B: easy to read aloud and type.
const ALPHABET: &[u8] = b"ACDEFGHJKMNPQRSTUVWXYZ2345679";

/// New codes for a person: the old ones stop working. Returns the codes to
/// show, once.
pub async fn renew(
    conn: &mut PgConnection,
    keys: &FieldMac,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let codes: Vec<String> = (0..COUNT).map(|_| generate()).collect();
    let hashes: Vec<Vec<u8>> = codes.iter().map(|c| hash(keys, user_id, c).to_vec()).collect();
    second_factors::replace_recovery_codes(conn, user_id, &hashes, now).await?;
    Ok(codes)
}

/// A code drawn uniformly: random bytes, those past the last whole multiple
/// of the alphabet's size dropped (no modulo bias).
/// `renew` on a connection of its own.
pub async fn renew_now(p: &Provider, user_id: Uuid) -> Result<Vec<String>, OAuthError> {
    let mut conn = p.pool.acquire().await?;
    Ok(renew(&mut conn, &p.recovery_codes, user_id, p.now()).await?)
}

fn generate() -> String {
    let limit = 256 - 256 % ALPHABET.len();
    let mut chars = String::with_capacity(LENGTH);
    while chars.len() < LENGTH {
        for b in crate::random::bytes::<32>() {
            if (b as usize) < limit && chars.len() < LENGTH {
                chars.push(char::from(ALPHABET[b as usize % ALPHABET.len()]));
            }
        }
    }
    format!("{}-{}", &chars[..LENGTH / 2], &chars[LENGTH / 2..])
}

/// The digest of a person's code as typed: case, spaces and dashes do not matter.
pub fn hash(keys: &FieldMac, user_id: Uuid, typed: &str) -> [u8; 32] {
    let normal: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    keys.digest(&[&user_id.to_string(), &normal])
}

/// Whether a typed value looks like a recovery code (not a six-digit code).
pub fn looks_like_one(typed: &str) -> bool {
    typed.chars().filter(|c| c.is_ascii_alphanumeric()).count() == LENGTH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_read_however_it_is_typed() {
        let code = generate();
        assert_eq!(code.len(), LENGTH + 1);
        assert!(looks_like_one(&code));
        let (keys, user) = (FieldMac::new([5; 32]), Uuid::now_v7());
        assert_eq!(
            hash(&keys, user, &code),
            hash(&keys, user, &code.to_lowercase().replace('-', " "))
        );
        assert_ne!(
            hash(&keys, user, &code),
            hash(&keys, Uuid::now_v7(), &code),
            "bound to its person"
        );
        assert!(!looks_like_one("123456"));
    }
}
