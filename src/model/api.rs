//! An API (resource server) as the token flows use it.

use chrono::TimeDelta;
use uuid::Uuid;

use crate::crypto::Alg;

/// An API a token may be for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    pub id: Uuid,
    /// Its `aud`, an absolute URI compared as the exact string (RFC 8707 §2).
    pub audience: String,
    pub alg: Alg,
    /// Its own token lifetime, if it overrides `LANYARD_ACCESS_TOKEN_TTL`.
    pub access_token_ttl: Option<TimeDelta>,
}
