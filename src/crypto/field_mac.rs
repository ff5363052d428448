//! A MAC over a list of fields (HMAC-SHA256, base64url): what Lanyard's
//! signed cookies carry. Each field is length-prefixed, so no two field lists
//! share an input whatever characters they hold.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::secret;

/// One purpose's MAC key (derived from the master key, so every node shares it).
pub struct FieldMac {
    key: [u8; 32],
}

impl FieldMac {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// The tag of these fields.
    pub fn tag(&self, fields: &[&str]) -> String {
        URL_SAFE_NO_PAD.encode(self.digest(fields))
    }

    /// The tag as bytes (to store and look up).
    pub fn digest(&self, fields: &[&str]) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!("any key length"));
        for field in fields {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is the tag of these fields (compared in constant time).
    pub fn verify(&self, fields: &[&str], tag: &str) -> bool {
        secret::constant_time_eq(self.tag(fields).as_bytes(), tag.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_covers_each_field_and_its_boundaries() {
        let mac = FieldMac::new([1; 32]);
        let tag = mac.tag(&["ab", "c"]);
        assert!(mac.verify(&["ab", "c"], &tag));
        assert!(!mac.verify(&["a", "bc"], &tag), "moved boundary");
        assert!(!mac.verify(&["ab", "d"], &tag));
        assert!(!FieldMac::new([2; 32]).verify(&["ab", "c"], &tag), "another key");
    }
}
