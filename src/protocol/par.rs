//! The pushed authorization request endpoint (RFC 9126 §2): the client
//! authenticates as at /token (§2.1), the request passes every check of
//! /authorize at once, and is stored under a single-use `request_uri`
//! (§2.2) for 60 seconds. A DPoP proof sent with the push binds the code
//! to its key, as `dpop_jkt` does (RFC 9449 §10.1).
//!
//! Pushes are bounded three ways, so nobody can fill the table or block a
//! client's sign-ins: a public client's pushes per address (anyone may push
//! as a public client; 429, §2.3), a client's pushes waiting, and the rows
//! the table holds (503).

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::client_auth::{self, Basic};
use super::dpop::{self, DpopHeader, ProofFor};
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use super::pushed::{CARRIED, REQUEST_URI_PREFIX};
use super::{Provider, address_budget, authorize};
use crate::crypto::secret;
use crate::store::par_requests::{self, Bounds, NewPush, Stored};

/// How long a `request_uri` may start an authorization (RFC 9126 §2.2:
/// short; 60 s as its examples).
pub const LIFETIME: TimeDelta = TimeDelta::seconds(60);
/// Pushes one address (an IPv6 address by its /64, `model::address_group`)
/// may make for public clients per `THROTTLE_WINDOW`: one sign-in starting
/// every two seconds. A confidential client's pushes come from its own
/// servers, authenticated, for all its users: it is bounded by
/// `MAX_PENDING` alone.
pub const PUSHES_PER_ADDRESS: i32 = 30;
/// The window of `PUSHES_PER_ADDRESS`: a push's lifetime.
pub const THROTTLE_WINDOW: TimeDelta = LIFETIME;
/// Pushes a client may have waiting (unused, unexpired) at once: far more
/// than one address may push in their lifetime.
pub const MAX_PENDING: i64 = 10_000;
/// Rows the table may hold, whatever their state (housekeeping deletes
/// the ended ones every minute).
pub const MAX_STORED: i64 = 100_000;

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
    (dpop_header, ip): (&DpopHeader, Option<&str>),
) -> Result<Pushed, OAuthError> {
    let client = client_auth::authenticate_at_par(p, basic, params, ip).await?;
    if client.is_public() {
        throttle(p, ip, p.now()).await?;
    }
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
    store(p, &client.client_id, &request).await
}

/// Counts a push of a public client against its address's budget
/// (`PUSHES_PER_ADDRESS`); past it, 429 (RFC 9126 §2.3, RFC 6585 §4).
async fn throttle(p: &Provider, ip: Option<&str>, now: DateTime<Utc>) -> Result<(), OAuthError> {
    let Some(ip) = ip else { return Ok(()) };
    let mut conn = p.pool.acquire().await?;
    match address_budget::exceeded(&mut conn, "par-ip", ip, PUSHES_PER_ADDRESS, THROTTLE_WINDOW, now).await? {
        true => Err(OAuthError::new(
            ErrorCode::SlowDown,
            "too many pushed requests from this address; try again in a minute",
        )),
        false => Ok(()),
    }
}

/// Stores the checked request under a new `request_uri`, within the
/// client's and the table's bounds.
async fn store(p: &Provider, client_id: &str, request: &Params) -> Result<Pushed, OAuthError> {
    let reference = secret::random_token(&mut crate::random::rng());
    let now = p.now();
    let push = NewPush {
        id_hash: &secret::sha256(&reference),
        client_id,
        params: &request.encode(),
        now,
        expires_at: now + LIFETIME,
    };
    let bounds = Bounds {
        per_client: MAX_PENDING,
        stored: MAX_STORED,
    };
    let mut conn = p.pool.acquire().await?;
    match par_requests::insert(&mut conn, &push, &bounds).await? {
        Stored::Stored => Ok(Pushed {
            request_uri: format!("{REQUEST_URI_PREFIX}{reference}"),
            expires_in: LIFETIME.num_seconds(),
        }),
        Stored::ClientFull => Err(OAuthError::new(
            ErrorCode::SlowDown,
            format!("this client has {MAX_PENDING} pushed requests waiting; use them or let them expire"),
        )),
        Stored::TableFull => Err(OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            "too many pushed requests are waiting; try again shortly",
        )),
    }
}
