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
    /// Whether its tokens are issued only bound, and proofs need a nonce.
    pub dpop: DpopPolicy,
    /// The level of sign-in a user's token for it needs (RFC 9470).
    pub min_acr: Option<super::AuthLevel>,
}

/// What a client or an API asks of DPoP (RFC 9449): a proof with every
/// token request — for a client, RFC 9449 §5.2 `dpop_bound_access_tokens`;
/// for an API, tokens issued only bound — and a server nonce in the proofs
/// (§8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DpopPolicy {
    pub required: bool,
    pub nonce: bool,
}
