//! The pushed authorization request endpoint (RFC 9126 §2): the client
//! authenticates as at /token (§2.1), the request passes every check of
//! /authorize at once, and is stored under a single-use `request_uri`
//! (§2.2) for 60 seconds. A DPoP proof sent with the push binds the code
//! to its key, as `dpop_jkt` does (RFC 9449 §10.1).

use chrono::TimeDelta;
use serde::Serialize;

use super::client_auth::{self, Basic};
use super::dpop::{self, DpopHeader, ProofFor};
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use super::pushed::{CARRIED, REQUEST_URI_PREFIX};
use super::{Provider, authorize};
use crate::crypto::secret;
use crate::paths;
use crate::store::par_requests::{self, NewPush};

/// How long a `request_uri` may start an authorization (RFC 9126 §2.2:
/// short; 60 s as its examples).
pub const LIFETIME: TimeDelta = TimeDelta::seconds(60);
/// Pushes a client may have waiting (unused, unexpired) at once.
pub const MAX_PENDING: i64 = 100;

/// The parameters that authenticate the client: not part of the request.
const CREDENTIALS: [&str; 3] = ["client_secret", "client_assertion", "client_assertion_type"];

/// The 201 answer (RFC 9126 §2.2).
#[derive(Debug, Serialize)]
pub struct Pushed {
    pub request_uri: String,
    pub expires_in: i64,
}

/// Authenticates the client, checks the request as /authorize would, and
/// stores it.
#[tracing::instrument(skip_all)]
pub async fn push(
    p: &Provider,
    basic: &Basic,
    params: &Params,
    dpop_header: &DpopHeader,
) -> Result<Pushed, OAuthError> {
    let client = client_auth::authenticate(p, basic, params, paths::PAR).await?;
    // §2.1: the request is in the body; a request_uri there is refused.
    if params.has("request_uri") {
        return Err(OAuthError::invalid_request(
            "request_uri may not be pushed (RFC 9126 §2.1)",
        ));
    }
    let mut request = params.clone();
    for name in CREDENTIALS.into_iter().chain([CARRIED]) {
        request.set(name, None);
    }
    request.set("client_id", Some(client.client_id.clone()));
    if let Some(proof) = dpop::check(p, dpop_header, &ProofFor::par()).await? {
        if request.one("dpop_jkt")?.is_some_and(|jkt| jkt != proof.jkt) {
            return Err(OAuthError::new(
                ErrorCode::InvalidDpopProof,
                "dpop_jkt is not the thumbprint of the DPoP proof's key (RFC 9449 §10.1)",
            ));
        }
        request.set("dpop_jkt", Some(proof.jkt));
    }
    authorize::parse_pushed(p, request.clone()).await?;
    let reference = secret::random_token(&mut crate::random::rng());
    let now = p.now();
    let push = NewPush {
        id_hash: &secret::sha256(&reference),
        client_id: &client.client_id,
        params: &request.encode(),
        now,
        expires_at: now + LIFETIME,
    };
    let mut conn = p.pool.acquire().await?;
    if !par_requests::insert(&mut conn, &push, MAX_PENDING).await? {
        return Err(OAuthError::invalid_request(format!(
            "this client has {MAX_PENDING} pushed requests waiting; use them or let them expire"
        )));
    }
    Ok(Pushed {
        request_uri: format!("{REQUEST_URI_PREFIX}{reference}"),
        expires_in: LIFETIME.num_seconds(),
    })
}
