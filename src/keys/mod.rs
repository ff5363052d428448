//! Signing keys as a protocol concern: their lifecycle (create, rotate, revoke,
//! age out) and the in-memory ring every node signs and publishes from.

mod lifecycle;
mod ring;
mod verify;

pub use lifecycle::{
    JWKS_MAX_AGE_SECS, KeyChange, KeyError, KeyInfo, ensure, list, maintain, revoke, rotate, rotate_due,
    verify_master_key,
};
pub use ring::KeyRing;
pub use verify::{Expect, VerifyError};
