//! A pushed authorization request at /authorize (RFC 9126 §4): its
//! `request_uri` is spent once, and the request it stood for travels on
//! through the sign-in and consent pages under a MAC, so it is never looked
//! up twice and cannot be altered on the way.

use chrono::TimeDelta;

use super::Provider;
use super::error::OAuthError;
use super::params::Params;
use crate::crypto::secret;
use crate::store::par_requests;

/// What every `request_uri` Lanyard issues starts with (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// The parameter that carries a resolved pushed request's tag.
pub const CARRIED: &str = "pushed";
/// How long a resolved pushed request may still be carried through the
/// sign-in pages (its `request_uri` itself lives 60 s).
pub const CARRY_FOR: TimeDelta = TimeDelta::minutes(30);

/// Why a pushed request cannot be used.
#[derive(Debug)]
pub enum Unresolved {
    /// Unknown, expired, already used or another client's (one message:
    /// which of them it is tells nothing the client needs).
    Refused(&'static str),
    /// The database could not answer.
    Store(OAuthError),
}

const REFUSED: &str = "This request_uri is unknown, has expired, was used already or was pushed by another \
                       application. Start again from the application.";

/// The request to check at /authorize and whether it was pushed: a
/// `request_uri` (with the pushing client's `client_id`) is spent and
/// replaced by what was pushed — every other parameter is ignored (§4); a
/// request carried on from the sign-in pages is pushed if its tag holds.
pub async fn resolve(p: &Provider, params: Params) -> Result<(Params, bool), Unresolved> {
    if let Some(carried) = params.one(CARRIED).ok().flatten() {
        return match verify(p, &params, carried) {
            true => Ok((params, true)),
            false => Err(Unresolved::Refused(REFUSED)),
        };
    }
    let Some(uri) = params.one("request_uri").ok().flatten() else {
        return Ok((params, false));
    };
    let client_id = params.one("client_id").ok().flatten().ok_or(Unresolved::Refused(
        "A request_uri needs the client_id of the application that pushed it.",
    ))?;
    let reference = uri
        .strip_prefix(REQUEST_URI_PREFIX)
        .ok_or(Unresolved::Refused(REFUSED))?;
    let now = p.now();
    let mut conn = p.pool.acquire().await.map_err(|e| Unresolved::Store(e.into()))?;
    let stored = par_requests::spend(&mut conn, &secret::sha256(reference), client_id, now)
        .await
        .map_err(|e| Unresolved::Store(e.into()))?
        .ok_or(Unresolved::Refused(REFUSED))?;
    let mut pushed = Params::parse(&stored);
    let until = (now + CARRY_FOR).timestamp().to_string();
    let tag = tag(p, &pushed, &until);
    pushed.set(CARRIED, Some(tag));
    Ok((pushed, true))
}

/// What the tag covers: the request but its `prompt` (which the sign-in
/// pages narrow as they satisfy it) and the tag itself.
fn signed_body(params: &Params) -> String {
    let mut body = params.clone();
    body.set("prompt", None);
    body.set(CARRIED, None);
    body.encode()
}

fn prompt(params: &Params) -> &str {
    params.one("prompt").ok().flatten().unwrap_or_default()
}

/// `{until}~{pushed prompt}~{MAC}`.
fn tag(p: &Provider, params: &Params, until: &str) -> String {
    let prompt = prompt(params);
    let mac = p
        .pushed_requests
        .tag(&["pushed-request", until, prompt, &signed_body(params)]);
    format!("{until}~{prompt}~{mac}")
}

/// The tag is ours, for this request, not past its time, and the prompt
/// now asked for is no more than the one pushed.
fn verify(p: &Provider, params: &Params, carried: &str) -> bool {
    let Some((until, rest)) = carried.split_once('~') else {
        return false;
    };
    let Some((pushed_prompt, mac)) = rest.rsplit_once('~') else {
        return false;
    };
    let fresh = until.parse::<i64>().is_ok_and(|u| p.now().timestamp() <= u);
    let genuine = p
        .pushed_requests
        .verify(&["pushed-request", until, pushed_prompt, &signed_body(params)], mac);
    let narrowed = prompt(params)
        .split(' ')
        .filter(|v| !v.is_empty())
        .all(|v| pushed_prompt.split(' ').any(|o| o == v));
    fresh && genuine && narrowed
}
