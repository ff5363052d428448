//! Sending logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.5): the
//! worker that empties `logout_outbox`. Ending a session queued one row per
//! client that received tokens in it (`store::sessions::end`, in the same
//! transaction); every few seconds each node claims due rows (`FOR UPDATE
//! SKIP LOCKED`, so no token is sent by two nodes), mints each token at send
//! time (`mint::logout_token`: a fresh `jti`, an `exp` two minutes ahead)
//! and POSTs it as a form to the client's URI, all of a pass at once. Claims
//! take turns between clients, so a backlog for one receiver never holds
//! back the others, and a full pass runs again at once. 200 or 204 is
//! success (§2.8); a 4xx but 408 and 429 is given up; anything else, a
//! redirect included (never followed), is retried with the backoff every outbox shares (`crate::outbox`) and given
//! up after a day. The queue keeps at most `Config::logout_queue_limit`
//! deliveries waiting: past it the oldest are given up. Every outcome is
//! audited (`backchannel_logout`) and counted
//! (`lanyard_logout_deliveries_total`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::json;

use super::{Provider, mint};
use crate::model::Client;
use crate::outbox::{BATCH, LEASE, retry_at};
use crate::store::StoreError;
use crate::store::audit::NewEvent;
use crate::store::clients;
use crate::store::logout_outbox::LogoutRow;
use crate::store::outbox::{self, Queue};

/// How many deliveries past the limit one pass gives up at most.
const SHED_BATCH: i64 = 1000;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    /// Failed, tried again later.
    pub failed: usize,
    /// Failed for the last time.
    pub gave_up: usize,
    /// Given up unsent because the queue was past its limit.
    pub dropped: usize,
}

impl crate::outbox::Attempted for Pass {
    fn attempted(&self) -> usize {
        self.sent + self.failed + self.gave_up
    }
}

/// Why an attempt did not deliver.
#[derive(Debug)]
enum Undelivered {
    /// Worth another attempt later (the receiver was away or refused).
    Retry(String),
    /// Never deliverable: the client is gone or has no logout URI any more.
    Never(String),
}

/// One pass: gives up what the queue holds past its limit, then claims the
/// due deliveries and attempts each once, all at the same time.
pub async fn deliver_due(p: &Provider) -> Result<Pass, StoreError> {
    let now = p.now();
    let mut conn = p.pool.acquire().await?;
    let limit = i64::try_from(p.config.logout_queue_limit).unwrap_or(i64::MAX);
    let shed: Vec<LogoutRow> = outbox::shed_beyond(&mut conn, Queue::Logout, limit, SHED_BATCH, now).await?;
    let claimed: Vec<LogoutRow> = outbox::claim_due(&mut conn, Queue::Logout, now, LEASE, BATCH).await?;
    let receivers = receivers(&mut conn, &claimed).await?;
    drop(conn);
    let mut pass = Pass {
        dropped: shed.len(),
        ..Pass::default()
    };
    dropped(p, &shed);
    let mut attempts = tokio::task::JoinSet::new();
    for row in claimed {
        let p = p.clone();
        let client = receivers.get(&row.client_id).cloned();
        attempts.spawn(async move {
            let result = attempt(&p, &row, client.as_deref()).await;
            (row, result)
        });
    }
    // An attempt that panicked, or whose outcome could not be written, is
    // due again when its lease ends; the others' outcomes are still written.
    while let Some(joined) = attempts.join_next().await {
        let Ok((row, result)) = joined else { continue };
        match record(p, &row, result).await {
            Ok(Recorded::Sent) => pass.sent += 1,
            Ok(Recorded::Retry) => pass.failed += 1,
            Ok(Recorded::GaveUp) => pass.gave_up += 1,
            Ok(Recorded::NoLongerOurs) => {}
            Err(e) => tracing::warn!(id = %row.id, error = %e, "a logout delivery's outcome could not be written"),
        }
    }
    Ok(pass)
}

/// The clients of a batch as the database holds them now, by id: one
/// query, so a node whose catalog is behind neither gives up a client
/// registered a moment ago nor posts to a URI it no longer has. A row
/// that no longer makes a client is left out (its deliveries are given up).
async fn receivers(
    conn: &mut sqlx::PgConnection,
    claimed: &[LogoutRow],
) -> Result<HashMap<String, Arc<Client>>, StoreError> {
    let ids: Vec<String> = claimed.iter().map(|r| r.client_id.clone()).collect();
    let rows = clients::find_many(conn, &ids).await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let id = row.client_id.clone();
            match Client::try_from(row) {
                Ok(client) => Some((id, Arc::new(client))),
                Err(e) => {
                    tracing::warn!(client_id = %id, error = %e, "a client row does not make a client");
                    None
                }
            }
        })
        .collect())
}

/// Where a logout token for `client` goes: its URI, if it has one Lanyard
/// may post to — `http` only to a loopback receiver while the issuer itself
/// is `http` (`lanyard dev`); a deployment's logout tokens travel over TLS
/// (Back-Channel Logout §2.2, §4).
fn destination<'c>(p: &Provider, client: Option<&'c Client>) -> Result<(&'c Client, &'c str), Undelivered> {
    let Some(client) = client else {
        return Err(Undelivered::Never("the client no longer exists".into()));
    };
    let Some(logout) = &client.backchannel_logout else {
        return Err(Undelivered::Never(
            "the client no longer has a back-channel logout URI".into(),
        ));
    };
    let uri = logout.uri.as_str();
    if p.config.issuer.is_https() && !uri.starts_with("https://") {
        return Err(Undelivered::Never(
            "an http back-channel logout URI is used only while the issuer is http (lanyard dev)".into(),
        ));
    }
    Ok((client, uri))
}

/// Mints the token and POSTs it (§2.5).
async fn attempt(p: &Provider, row: &LogoutRow, client: Option<&Client>) -> Result<(), Undelivered> {
    let (client, uri) = destination(p, client)?;
    let token = mint::logout_token(p, client, &row.sub, &row.sid)
        .map_err(|e| Undelivered::Retry(format!("cannot mint the logout token: {}", e.description)))?;
    // A self-registered client's URI is reached at a public address only.
    let http = p
        .logout_http
        .for_url(uri, client.self_registered)
        .map_err(|e| Undelivered::Never(format!("not delivered: {e}")))?;
    let res = http
        .post(uri)
        .header(reqwest::header::CACHE_CONTROL, "no-store")
        .form(&[("logout_token", token.as_str())])
        .send()
        .await
        .map_err(|e| Undelivered::Retry(format!("not delivered: {}", e.without_url())))?;
    // §2.8: 200 (or 204) is success; 400 means the request was invalid or
    // the logout failed — the same token would fail again, so it is given
    // up, as is any other 4xx but 408 and 429; 5xx and the rest are retried.
    match res.status().as_u16() {
        200 | 204 => Ok(()),
        status @ (400..=407 | 409..=428 | 430..=499) => {
            Err(Undelivered::Never(format!("the receiver refused it ({status})")))
        }
        status => Err(Undelivered::Retry(format!("the receiver answered {status}"))),
    }
}

enum Recorded {
    Sent,
    Retry,
    GaveUp,
    /// Given up meanwhile (shed from a full queue): nothing written or counted.
    NoLongerOurs,
}

/// Writes an attempt's outcome on its row, counts and audits it.
async fn record(p: &Provider, row: &LogoutRow, result: Result<(), Undelivered>) -> Result<Recorded, StoreError> {
    let now = p.now();
    let mut conn = p.pool.acquire().await?;
    let this = outbox::Attempt {
        id: row.id,
        attempts: row.attempts,
    };
    let (ours, outcome, reason, recorded) = match &result {
        Ok(()) => (
            outbox::mark_sent(&mut conn, Queue::Logout, this, now).await?,
            "sent",
            "delivered".to_owned(),
            Recorded::Sent,
        ),
        Err(Undelivered::Retry(error)) => match retry_at(now, row.attempts, row.created_at) {
            Some(at) => (
                outbox::mark_failed(&mut conn, Queue::Logout, this, error, Some(at), now).await?,
                "failed",
                format!("{error}; tried again later"),
                Recorded::Retry,
            ),
            None => (
                outbox::mark_failed(&mut conn, Queue::Logout, this, error, None, now).await?,
                "gave_up",
                format!("{error}; gave up after a day of failed attempts"),
                Recorded::GaveUp,
            ),
        },
        Err(Undelivered::Never(error)) => (
            outbox::mark_failed(&mut conn, Queue::Logout, this, error, None, now).await?,
            "gave_up",
            error.clone(),
            Recorded::GaveUp,
        ),
    };
    if !ours {
        return Ok(Recorded::NoLongerOurs);
    }
    if !matches!(recorded, Recorded::Sent) {
        tracing::warn!(id = %row.id, client_id = %row.client_id, attempts = row.attempts, reason, "logout token not delivered");
    }
    p.metrics.logout_delivery(outcome);
    audit(p, row, outcome, &reason);
    Ok(recorded)
}

/// One audit event per delivery attempt's outcome.
fn audit(p: &Provider, row: &LogoutRow, outcome: &str, reason: &str) {
    let event = NewEvent {
        client_id: Some(&row.client_id),
        details: json!({ "delivery_id": row.id, "sid": row.sid, "attempts": row.attempts }),
        ..NewEvent::about(
            "backchannel_logout",
            outcome,
            uuid::Uuid::parse_str(&row.sub).ok(),
            None,
            reason,
        )
    };
    if p.audit(&event).is_err() {
        tracing::warn!(id = %row.id, outcome, "the audit buffer is full: a logout delivery went unaudited");
    }
}

/// Counts and audits the deliveries given up because the queue was full
/// (one event per pass, with how many per client).
fn dropped(p: &Provider, shed: &[LogoutRow]) {
    if shed.is_empty() {
        return;
    }
    let mut per_client = BTreeMap::<&str, usize>::new();
    for row in shed {
        p.metrics.logout_delivery("dropped");
        *per_client.entry(&row.client_id).or_default() += 1;
    }
    tracing::warn!(
        count = shed.len(),
        "the logout queue was full: the oldest deliveries were given up"
    );
    let event = NewEvent {
        details: json!({ "count": shed.len(), "clients": per_client }),
        ..NewEvent::about(
            "backchannel_logout",
            "dropped",
            None,
            None,
            "the logout queue was full: the oldest deliveries were given up",
        )
    };
    if p.audit(&event).is_err() {
        tracing::warn!("the audit buffer is full: dropped logout deliveries went unaudited");
    }
}

/// Runs a pass every `Config::logout_every` until aborted (with the app's
/// other background tasks).
pub fn spawn(p: Provider) -> tokio::task::JoinHandle<()> {
    let every = p.config.logout_every;
    crate::outbox::spawn_every("logout outbox", every, move || {
        let p = p.clone();
        async move { deliver_due(&p).await }
    })
}
