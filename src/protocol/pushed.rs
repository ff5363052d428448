//! A pushed authorization request at /authorize (RFC 9126 §4). Its
//! `request_uri` is spent once, and the browser is sent on to the request's
//! continuation: a reference to the pushed request's row and what the
//! person has done since (signed in, consented), under a MAC. The request
//! itself stays in the database, so nothing of it can be altered on the way
//! (not even a `prompt` dropped), however large it is; a reload of the page
//! works (§4 lets a server allow one); and the row yields one
//! authorization code (`spend`, at issuance).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use sqlx::PgConnection;

use super::Provider;
use super::error::OAuthError;
use super::params::Params;
use crate::crypto::secret;
use crate::store::{StoreError, par_requests};

/// What every `request_uri` Lanyard issues starts with (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// The parameter that carries a pushed request's continuation.
pub const CARRIED: &str = "pushed";
/// How long the sign-in a pushed request starts may take (its
/// `request_uri` itself lives 60 s).
pub const CARRY_FOR: TimeDelta = TimeDelta::minutes(30);

/// The `prompt` values (OIDC Core §3.1.2.1) the pages satisfy on the way.
const SATISFIABLE: [&str; 2] = ["login", "consent"];

/// Why a pushed request cannot be used.
#[derive(Debug)]
pub enum Unresolved {
    /// Unknown, expired, already used or another client's (one message:
    /// which of them it is tells nothing the client needs).
    Refused(&'static str),
    /// The database could not answer.
    Store(OAuthError),
}

impl From<StoreError> for Unresolved {
    fn from(e: StoreError) -> Self {
        Unresolved::Store(e.into())
    }
}

const REFUSED: &str = "This request_uri is unknown, has expired, was used already or was pushed by another \
                       application. Start again from the application.";

/// A pushed request under way: which row, whose, until when, and the
/// `prompt` values satisfied since it was pushed. Only `resolve` and
/// `satisfying` make one, so its tag is always Lanyard's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation {
    id_hash: [u8; 32],
    client_id: String,
    until: i64,
    satisfied: Vec<&'static str>,
    /// `{row}~{until}~{satisfied}~{MAC}`.
    tag: String,
}

impl Continuation {
    fn new(p: &Provider, id_hash: [u8; 32], client_id: &str, until: i64, satisfied: Vec<&'static str>) -> Self {
        let (row, until_text, done) = (URL_SAFE_NO_PAD.encode(id_hash), until.to_string(), satisfied.join("."));
        let mac = p.pushed_requests.tag(&fields(&row, client_id, &until_text, &done));
        Self {
            tag: format!("{row}~{until_text}~{done}~{mac}"),
            id_hash,
            client_id: client_id.to_owned(),
            until,
            satisfied,
        }
    }

    /// What the pages carry to go on: `client_id` and the tag (RFC 9126 §4
    /// names the client with the `request_uri`; so does the continuation).
    pub fn params(&self) -> String {
        let mut params = Params::default();
        params.set("client_id", Some(self.client_id.clone()));
        params.set(CARRIED, Some(self.tag.clone()));
        params.encode()
    }

    /// This continuation once `value` (`login`, `consent`) is satisfied.
    pub fn satisfying(&self, p: &Provider, value: &str) -> Self {
        let mut satisfied = self.satisfied.clone();
        if let Some(v) = SATISFIABLE.into_iter().find(|v| *v == value)
            && !satisfied.contains(&v)
        {
            satisfied.push(v);
        }
        Self::new(p, self.id_hash, &self.client_id, self.until, satisfied)
    }

    /// Reads a tag: ours (its MAC), `client_id`'s, not past its time.
    fn verify(p: &Provider, client_id: &str, tag: &str) -> Option<Self> {
        let mut parts = tag.split('~');
        let (row, until, done, mac) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !p.pushed_requests.verify(&fields(row, client_id, until, done), mac) {
            return None;
        }
        let id_hash: [u8; 32] = URL_SAFE_NO_PAD.decode(row).ok()?.try_into().ok()?;
        let until: i64 = until.parse().ok()?;
        let satisfied = done
            .split('.')
            .filter(|v| !v.is_empty())
            .map(|v| SATISFIABLE.into_iter().find(|s| *s == v))
            .collect::<Option<Vec<_>>>()?;
        (p.now().timestamp() <= until).then(|| Self::new(p, id_hash, client_id, until, satisfied))
    }
}

/// What the MAC covers: the row, the client, the end, what is satisfied.
fn fields<'a>(row: &'a str, client_id: &'a str, until: &'a str, done: &'a str) -> [&'a str; 5] {
    ["pushed-request/v2", row, client_id, until, done]
}

/// A request at /authorize, as `resolve` finds it.
#[derive(Debug)]
pub enum Resolved {
    /// Not pushed: the parameters as they came.
    Plain(Params),
    /// A pushed request under way: the parameters as pushed (the `prompt`
    /// values satisfied since taken out), and its continuation.
    Pushed(Params, Continuation),
    /// A `request_uri` just spent: the browser goes on at this continuation
    /// (so reloading the page it lands on shows it again, §4).
    Spent(Continuation),
}

/// The request to check at /authorize: a `request_uri` (with the pushing
/// client's `client_id`) is spent — every other parameter is ignored (§4);
/// a continuation is read back from the database if its tag holds.
pub async fn resolve(p: &Provider, params: Params) -> Result<Resolved, Unresolved> {
    let client_id = params.one("client_id").ok().flatten();
    if let Some(tag) = params.one(CARRIED).ok().flatten() {
        let continuation = client_id
            .and_then(|id| Continuation::verify(p, id, tag))
            .ok_or(Unresolved::Refused(REFUSED))?;
        let mut conn = p.pool.acquire().await.map_err(StoreError::from)?;
        let stored = par_requests::carried(&mut conn, &continuation.id_hash, &continuation.client_id, p.now())
            .await?
            .ok_or(Unresolved::Refused(REFUSED))?;
        return Ok(Resolved::Pushed(without_satisfied(stored, &continuation), continuation));
    }
    let Some(uri) = params.one("request_uri").ok().flatten() else {
        return Ok(Resolved::Plain(params));
    };
    let client_id = client_id.ok_or(Unresolved::Refused(
        "A request_uri needs the client_id of the application that pushed it.",
    ))?;
    let reference = uri
        .strip_prefix(REQUEST_URI_PREFIX)
        .ok_or(Unresolved::Refused(REFUSED))?;
    let (now, id_hash) = (p.now(), secret::sha256(reference));
    let mut conn = p.pool.acquire().await.map_err(StoreError::from)?;
    if !par_requests::spend(&mut conn, &id_hash, client_id, now, now + CARRY_FOR).await? {
        return Err(Unresolved::Refused(REFUSED));
    }
    let until = (now + CARRY_FOR).timestamp();
    Ok(Resolved::Spent(Continuation::new(
        p,
        id_hash,
        client_id,
        until,
        Vec::new(),
    )))
}

/// The pushed parameters, the `prompt` values already satisfied taken out
/// (so the sign-in is not asked again, and nothing else can be dropped).
fn without_satisfied(stored: String, continuation: &Continuation) -> Params {
    let mut params = Params::parse(&stored);
    let prompt = params.one("prompt").ok().flatten().map(|prompt| {
        prompt
            .split(' ')
            .filter(|v| !v.is_empty() && !continuation.satisfied.contains(v))
            .collect::<Vec<_>>()
            .join(" ")
    });
    params.set("prompt", prompt.filter(|p| !p.is_empty()));
    params
}

/// Spends a pushed request's one authorization code, in the transaction
/// that inserts the code: false when one was issued already — a continuation
/// replayed, or two at once (RFC 9126 §4: a `request_uri` is for one
/// authorization request).
pub async fn spend(conn: &mut PgConnection, continuation: &Continuation, p: &Provider) -> Result<bool, StoreError> {
    par_requests::issue_code(conn, &continuation.id_hash, &continuation.client_id, p.now()).await
}
