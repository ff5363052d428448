//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document):
//! a client_id that is an https URL names the document that describes the
//! client. Lanyard fetches it (`protocol::remote`, public addresses only,
//! no redirects, 5 s, at most `MAX_DOCUMENT_BYTES`), checks it by the rules
//! of dynamic registration (`registration::parse`) plus the draft's own
//! (§4.1: `client_id` is the URL; no shared secret), and keeps it as a row of
//! `clients` marked `metadata_document` — third-party, no API allowances —
//! fresh for the answer's `Cache-Control: max-age` (5 minutes to 24 hours,
//! an hour without one). A stale row is fetched again when next used; after
//! a failed fetch not again for a minute, and meanwhile a stale row serves
//! for up to 24 hours past its freshness. README "Client ID Metadata
//! Documents".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::error::{ErrorCode, OAuthError};
use super::registration::{self, Metadata};
use super::remote::{self, Remote};
use super::{Provider, address_budget};
use crate::model::{AuthMethod, Client};
use crate::store::StoreError;
use crate::store::audit::NewEvent;
use crate::store::clients::{self, ClientRow};

/// The largest document accepted (the draft suggests 5 kilobytes).
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
/// The longest URL accepted as a client_id.
pub const MAX_URL_CHARS: usize = 255;
/// How long a fetched document is fresh without a `max-age`, and the bounds
/// of a `max-age`.
const DEFAULT_FRESH: TimeDelta = TimeDelta::seconds(3600);
const MIN_FRESH: TimeDelta = TimeDelta::seconds(300);
const MAX_FRESH: TimeDelta = TimeDelta::seconds(86_400);
/// After a failed fetch, the same URL is not fetched again for this long.
const RETRY_AFTER: TimeDelta = TimeDelta::seconds(60);
/// How long past its freshness a row serves while its fetches fail for a
/// passing reason (a transport error, a timeout, a 5xx).
const STALE_FOR: TimeDelta = TimeDelta::seconds(86_400);
/// Failed URLs remembered at most: when full, those past `RETRY_AFTER` go;
/// if none has, no new URL is fetched until some have (never a wholesale
/// clear, which would reset every backoff).
const FAILURES_HELD: usize = 10_000;
/// New client_id URLs (not yet a client) one address may have resolved per
/// `signin::THROTTLE_WINDOW`.
pub const NEW_PER_ADDRESS: i32 = 10;
/// Documents this node fetches at once; a fetch waits for a turn at most
/// `FETCH_WAIT`, then the request is answered 503 (as Lanyard's other
/// bounded queues are, README "Security").
const CONCURRENT_FETCHES: usize = 8;
const FETCH_WAIT: Duration = Duration::from_secs(1);
/// A valid ordinary client_id that `registration::parse` checks the
/// metadata under; the row then gets the URL.
const PLACEHOLDER_ID: &str = "metadata-document";

/// The HTTP clients that fetch documents, the turns to fetch, and when each
/// URL last failed (and whether for good: see `Failed`).
pub struct Documents {
    http: Remote,
    fetching: Semaphore,
    failed: Mutex<HashMap<String, (DateTime<Utc>, bool)>>,
}

impl Default for Documents {
    fn default() -> Self {
        Self {
            http: Remote::new("client metadata documents"),
            fetching: Semaphore::new(CONCURRENT_FETCHES),
            failed: Mutex::default(),
        }
    }
}

impl Documents {
    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, (DateTime<Utc>, bool)>> {
        self.failed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `url` failed within `RETRY_AFTER`, and if so whether for good.
    fn failed_recently(&self, url: &str, now: DateTime<Utc>) -> Option<bool> {
        self.failures()
            .get(url)
            .filter(|(at, _)| now < *at + RETRY_AFTER)
            .map(|(_, definitive)| *definitive)
    }

    /// Whether a failure of `url` could be remembered: room in the map,
    /// after dropping the failures past their `RETRY_AFTER`.
    fn may_fetch(&self, url: &str, now: DateTime<Utc>) -> bool {
        let mut failed = self.failures();
        room(&mut failed, url, now)
    }

    fn record(&self, url: &str, outcome: Result<(), (DateTime<Utc>, bool)>, now: DateTime<Utc>) {
        let mut failed = self.failures();
        match outcome {
            Ok(()) => {
                failed.remove(url);
            }
            Err(failure) => {
                if room(&mut failed, url, now) {
                    failed.insert(url.to_owned(), failure);
                }
            }
        }
    }

    /// A turn to fetch, waiting at most `FETCH_WAIT`.
    async fn turn(&self) -> Option<SemaphorePermit<'_>> {
        tokio::time::timeout(FETCH_WAIT, self.fetching.acquire())
            .await
            .ok()?
            .ok()
    }
}

/// Room for `url` in a failure map: it is there, or the map is below
/// `FAILURES_HELD` once the entries past `RETRY_AFTER` are dropped.
fn room(failed: &mut HashMap<String, (DateTime<Utc>, bool)>, url: &str, now: DateTime<Utc>) -> bool {
    if failed.len() >= FAILURES_HELD && !failed.contains_key(url) {
        failed.retain(|_, (at, _)| now < *at + RETRY_AFTER);
    }
    failed.len() < FAILURES_HELD || failed.contains_key(url)
}

/// Why a client_id URL gives no client.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The URL, the fetch or the document broke a rule (said in words).
    #[error("{0}")]
    Refused(String),
    /// Too many new client_id URLs from this address (429, RFC 6585 §4).
    #[error("too many new client_id URLs from this address")]
    Throttled,
    /// No turn to fetch, or no room to remember a failure (503).
    #[error("too many metadata documents are being fetched")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DocumentError {
    /// The refusal's words, or the OAuth error the other cases answer:
    /// `slow_down` (429) when throttled, `temporarily_unavailable` (503)
    /// when busy or the database is away.
    pub fn refusal(self) -> Result<String, OAuthError> {
        match self {
            DocumentError::Refused(why) => Ok(why),
            DocumentError::Throttled => Err(OAuthError::new(
                ErrorCode::SlowDown,
                "too many new client_id URLs from this address; try again later",
            )),
            DocumentError::Busy => Err(OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "too many client metadata documents are being fetched; retry shortly",
            )),
            DocumentError::Store(e) => Err(e.into()),
        }
    }
}

/// Whether `resolve` may fetch the document of a URL that is not a client
/// yet.
#[derive(Debug, Clone, Copy)]
pub enum Fetch<'a> {
    /// No: /token, /revoke, /introspect (and a carried sign-in) only use,
    /// and refresh, a client that went through /authorize or /par first —
    /// so an unauthenticated request there (an unverified assertion's `sub`
    /// included) never makes Lanyard fetch or store anything.
    IfKnown,
    /// Yes (/authorize, /par), counted against the caller's address.
    Allowed { ip: Option<&'a str> },
}

/// Whether a client_id is meant as a document's URL (an ordinary client_id
/// has neither `:` nor `/`).
pub fn is_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// The catalog's client of this id — a metadata-document client only while
/// the setting is on.
pub fn known(p: &Provider, client_id: &str) -> Option<Arc<Client>> {
    p.catalog
        .client(client_id)
        .filter(|c| c.document_fresh_until.is_none() || p.config.client_id_metadata_documents)
}

/// The client a client_id names: the catalog's for an ordinary id; for a
/// URL, while the setting is on, the client its metadata document
/// describes — fetched when it is not held (if `fetch` allows) or no
/// longer fresh.
pub async fn resolve(p: &Provider, client_id: &str, fetch: Fetch<'_>) -> Result<Option<Arc<Client>>, DocumentError> {
    if !p.config.client_id_metadata_documents || !is_url(client_id) {
        return Ok(known(p, client_id));
    }
    let loopback =
        document_url(client_id, p.config.metadata_documents_from_loopback).map_err(DocumentError::Refused)?;
    host_allowed(&p.config.client_id_metadata_document_hosts, client_id).map_err(DocumentError::Refused)?;
    let now = p.now();
    let held = p.catalog.client(client_id).filter(|c| c.document_fresh_until.is_some());
    if held
        .as_ref()
        .is_some_and(|c| c.document_fresh_until.is_some_and(|t| now < t))
    {
        return Ok(held);
    }
    match p.client_documents.failed_recently(client_id, now) {
        Some(true) => {
            return Err(DocumentError::Refused(
                "its metadata document was refused; try again in a minute".into(),
            ));
        }
        Some(false) => {
            return stale(
                held,
                now,
                "its metadata document could not be had; try again in a minute".into(),
            )
            .map(Some);
        }
        None => {}
    }
    if held.is_none() {
        match fetch {
            Fetch::IfKnown => return Ok(None),
            Fetch::Allowed { ip } => admit_new(p, ip, now).await?,
        }
    }
    refresh(p, client_id, held, loopback, now).await.map(Some)
}

/// A URL that is not a client yet: counted against the caller's address
/// (`NEW_PER_ADDRESS`), and refused once `LANYARD_CLIENT_ID_METADATA_DOCUMENTS_MAX`
/// document clients are held (a held one still refreshes).
async fn admit_new(p: &Provider, ip: Option<&str>, now: DateTime<Utc>) -> Result<(), DocumentError> {
    let mut conn = p.pool.acquire().await.map_err(StoreError::from)?;
    if let Some(ip) = ip {
        let window = super::signin::THROTTLE_WINDOW;
        if address_budget::exceeded(&mut conn, "cimd-new", ip, NEW_PER_ADDRESS, window, now).await? {
            p.metrics.metadata_document_fetch("throttled");
            return Err(DocumentError::Throttled);
        }
    }
    if clients::count_documents(&mut conn).await? >= p.config.client_id_metadata_documents_max {
        p.metrics.metadata_document_fetch("capped");
        return Err(DocumentError::Refused(
            "Lanyard holds too many metadata-document clients already (LANYARD_CLIENT_ID_METADATA_DOCUMENTS_MAX)"
                .into(),
        ));
    }
    Ok(())
}

/// Fetches and checks the document, within this node's fetch turns, and
/// keeps it; on failure, a passing one lets a held row serve stale
/// (`stale`), a definitive one stops it at once (draft §5: any status but
/// 200 is an error; §5.1: the request is aborted; §5.2: an error response
/// or an invalid document is never cached).
async fn refresh(
    p: &Provider,
    client_id: &str,
    held: Option<Arc<Client>>,
    loopback: bool,
    now: DateTime<Utc>,
) -> Result<Arc<Client>, DocumentError> {
    let docs = &p.client_documents;
    if !docs.may_fetch(client_id, now) {
        p.metrics.metadata_document_fetch("busy");
        return Err(DocumentError::Busy);
    }
    let Some(turn) = docs.turn().await else {
        p.metrics.metadata_document_fetch("busy");
        return Err(DocumentError::Busy);
    };
    let fetched = fetch(p, client_id, loopback).await;
    drop(turn);
    let failure =
        match fetched.and_then(|(body, fresh)| admit(p, client_id, &body, now, fresh).map_err(Failed::Definitive)) {
            Ok(row) => return keep(p, row).await,
            Err(failure) => failure,
        };
    let definitive = matches!(failure, Failed::Definitive(_));
    let why = failure.into_words();
    docs.record(client_id, Err((now, definitive)), now);
    audited(p, client_id, "refused", &why, json!({}));
    if !definitive {
        return stale(held, now, format!("its metadata document was refused: {why}"));
    }
    if held.is_some() {
        stop(p, client_id, now).await;
    }
    Err(DocumentError::Refused(format!(
        "its metadata document was refused: {why}"
    )))
}

/// A held client whose document was definitively refused is past serving,
/// on every node (its row's freshness ends a `STALE_FOR` ago; the NOTIFY
/// reloads the others). If the database cannot be told, this node still
/// refuses it for `RETRY_AFTER` (`Documents::failed`), and the refusal
/// stands either way.
async fn stop(p: &Provider, client_id: &str, now: DateTime<Utc>) {
    let ended = async {
        let mut conn = p.pool.acquire().await?;
        clients::end_document_freshness(&mut conn, client_id, now - STALE_FOR - TimeDelta::seconds(1)).await?;
        drop(conn);
        p.catalog.catch_up(&p.pool).await
    };
    if let Err(e) = ended.await {
        tracing::warn!(error = %e, "could not end a refused metadata document's freshness");
    }
}

/// Why a fetch failed: `Passing` (a transport error, a timeout, a 5xx:
/// a held row may serve stale) or `Definitive` (any other status, a
/// redirect, a wrong content type, an invalid document: it stops).
enum Failed {
    Passing(String),
    Definitive(String),
}

impl Failed {
    fn into_words(self) -> String {
        match self {
            Failed::Passing(why) | Failed::Definitive(why) => why,
        }
    }
}

/// A held row past its freshness while its document cannot be had for a
/// passing reason: it serves for `STALE_FOR` more, then the refusal stands.
fn stale(held: Option<Arc<Client>>, now: DateTime<Utc>, why: String) -> Result<Arc<Client>, DocumentError> {
    match held {
        Some(c) if c.document_fresh_until.is_some_and(|t| now < t + STALE_FOR) => Ok(c),
        _ => Err(DocumentError::Refused(why)),
    }
}

/// `LANYARD_CLIENT_ID_METADATA_DOCUMENT_HOSTS`: when it lists hosts, the
/// URL's must be one of them, exactly (so an operator can block, or
/// confine, document clients).
fn host_allowed(hosts: &[String], raw: &str) -> Result<(), String> {
    let host = url::Url::parse(raw).ok().and_then(|u| u.host_str().map(str::to_owned));
    match hosts.is_empty() || host.is_some_and(|h| hosts.contains(&h)) {
        true => Ok(()),
        false => Err(format!(
            "the client_id `{raw}` names a host that is not among the hosts this server accepts metadata documents from"
        )),
    }
}

/// Checks a client_id URL by the draft's rules (§3): https, a path, no
/// dot segments, no fragment, no user or password — and, as written, the
/// URL's normal form (so the exact comparison with the document's
/// `client_id` means one thing). Answers whether it is the test harness's
/// loopback `http` (`Config::metadata_documents_from_loopback`).
pub fn document_url(raw: &str, loopback_allowed: bool) -> Result<bool, String> {
    let bad = |why: &str| Err(format!("the client_id `{raw}` is not a metadata document URL: {why}"));
    if raw.chars().count() > MAX_URL_CHARS {
        return bad(&format!("longer than {MAX_URL_CHARS} characters"));
    }
    let Ok(url) = url::Url::parse(raw) else {
        return bad("not a URL");
    };
    let loopback = loopback_allowed
        && url.scheme() == "http"
        && matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback());
    if url.scheme() != "https" && !loopback {
        return bad("it must be https");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return bad("it holds a user or password");
    }
    if url.fragment().is_some() {
        return bad("it has a fragment");
    }
    if raw.split(['/', '?']).skip(3).any(|s| s == "." || s == "..") || url.as_str() != raw {
        return bad("it has dot segments or is not in its normal form");
    }
    if url.path() == "/" {
        return bad("it has no path");
    }
    if let (false, Err(e)) = (loopback, crate::model::public_https(raw)) {
        return bad(&e);
    }
    Ok(loopback)
}

/// Fetches the document: 200 (no redirect is followed), a JSON content
/// type, at most `MAX_DOCUMENT_BYTES`, and how long it stays fresh.
async fn fetch(p: &Provider, url: &str, loopback: bool) -> Result<(Vec<u8>, TimeDelta), Failed> {
    let http = p
        .client_documents
        .http
        .for_url(url, !loopback)
        .map_err(Failed::Definitive)?;
    let mut res = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| {
            tracing::info!(error = %e.without_url(), "a metadata document could not be fetched");
            Failed::Passing("it could not be fetched".to_owned())
        })?;
    let status = res.status();
    if status != reqwest::StatusCode::OK {
        let why = format!("it answered {}, not 200", status.as_u16());
        // Draft §5: any status but 200 (a 3xx too: redirects are not
        // followed) is an error, and §5.1 aborts; only a server's passing
        // trouble (5xx) lets a held row serve stale.
        return Err(match status.is_server_error() {
            true => Failed::Passing(why),
            false => Failed::Definitive(why),
        });
    }
    let header = |name| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (content_type, cache_control) = (
        header(reqwest::header::CONTENT_TYPE),
        header(reqwest::header::CACHE_CONTROL),
    );
    if !json_content_type(content_type.as_deref()) {
        return Err(Failed::Definitive(format!(
            "its content type is `{}`, not application/json",
            content_type.unwrap_or_default()
        )));
    }
    let body = remote::body(&mut res, MAX_DOCUMENT_BYTES).await.map_err(|e| match e {
        e if e.starts_with("larger than") => Failed::Definitive(format!("it is {e}")),
        e => {
            tracing::info!(error = e, "a metadata document could not be read");
            Failed::Passing("it could not be read".to_owned())
        }
    })?;
    Ok((body, fresh_for(cache_control.as_deref())))
}

/// Draft §4: the document is JSON (RFC 8259), served as
/// `application/json`, or a type
/// whose subtype ends `+json` (RFC 6839 §3.1); parameters may follow.
pub fn json_content_type(content_type: Option<&str>) -> bool {
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.split_once('/') {
        Some((kind, sub)) if !kind.is_empty() && !kind.contains(char::is_whitespace) => {
            essence == "application/json" || (sub.len() > "+json".len() && sub.ends_with("+json"))
        }
        _ => false,
    }
}

/// How long an answer is fresh: its `max-age` within 5 minutes and 24
/// hours (clamped as a number first, so no value panics: RFC 9111 §1.2.2
/// reads a delta too large as the largest), the least for
/// `no-store`/`no-cache`, an hour without either.
pub fn fresh_for(cache_control: Option<&str>) -> TimeDelta {
    // Draft §5.2: HTTP caching (RFC 9111 §5.2.2.1 `max-age`) within the
    // server's own bounds.
    let mut fresh = DEFAULT_FRESH;
    for directive in cache_control.unwrap_or_default().split(',').map(str::trim) {
        let directive = directive.to_ascii_lowercase();
        if directive == "no-store" || directive == "no-cache" {
            return MIN_FRESH;
        }
        let Some(value) = directive.strip_prefix("max-age=").map(|s| s.trim_matches('"')) else {
            continue;
        };
        let secs = match value.parse::<i64>() {
            Ok(secs) => secs,
            Err(_) if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => i64::MAX,
            Err(_) => continue,
        };
        fresh = TimeDelta::seconds(secs.clamp(MIN_FRESH.num_seconds(), MAX_FRESH.num_seconds()));
    }
    fresh
}

/// The document as a client row, or the rule it breaks: a JSON object whose
/// `client_id` is its URL, `redirect_uris`, `none` or `private_key_jwt`
/// (never a secret, §4.1), and the metadata rules of dynamic registration.
fn admit(p: &Provider, url: &str, body: &[u8], now: DateTime<Utc>, fresh: TimeDelta) -> Result<ClientRow, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| "it is not JSON".to_owned())?;
    let obj = doc.as_object().ok_or("it is not a JSON object")?;
    if obj.get("client_id").and_then(Value::as_str) != Some(url) {
        return Err("its client_id is not its URL".into());
    }
    if obj.contains_key("client_secret") || obj.contains_key("client_secret_expires_at") {
        return Err("it holds a client_secret; a metadata document client has no shared secret".into());
    }
    let method = match obj.get("token_endpoint_auth_method") {
        None => AuthMethod::None,
        Some(m) => m
            .as_str()
            .and_then(|m| m.parse().ok())
            .ok_or("unknown token_endpoint_auth_method")?,
    };
    if method.uses_secret() {
        return Err(format!(
            "token_endpoint_auth_method `{method}` uses a shared secret (none or private_key_jwt)"
        ));
    }
    if obj
        .get("redirect_uris")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return Err("it has no redirect_uris".into());
    }
    let mut metadata: Metadata = serde_json::from_value(doc).map_err(|_| "a member has the wrong type".to_owned())?;
    metadata.token_endpoint_auth_method = Some(method.as_str().to_owned());
    let name = metadata.client_name.clone();
    let row = registration::parse(PLACEHOLDER_ID, metadata, p).map_err(|e| e.to_string())?;
    Ok(ClientRow {
        client_id: url.to_owned(),
        name: name.unwrap_or_else(|| url.to_owned()),
        registered_via: "metadata_document".to_owned(),
        metadata_fetched_at: Some(now),
        metadata_fresh_until: Some(now + fresh),
        created_at: now,
        updated_at: now,
        ..row
    })
}

/// Stores an admitted document's row (insert or replace; a change of
/// where codes go or how the client authenticates forgets its consents in
/// the same transaction), has this node's catalog hold it (the others
/// follow the NOTIFY), audits and counts it.
async fn keep(p: &Provider, row: ClientRow) -> Result<Arc<Client>, DocumentError> {
    let mut conn = p.pool.acquire().await.map_err(StoreError::from)?;
    let stored = clients::upsert_document(&mut conn, &row).await?;
    drop(conn);
    if !stored {
        return Err(DocumentError::Refused(
            "this client_id belongs to another client".into(),
        ));
    }
    p.client_documents.record(&row.client_id, Ok(()), row.updated_at);
    let caught_up = p.catalog.catch_up(&p.pool).await;
    if let Err(e) = &caught_up {
        tracing::warn!(error = %e, "could not reload the catalog after a metadata document");
    }
    let details = json!({
        "client_name": row.name, "redirect_uris": row.redirect_uris,
        "token_endpoint_auth_method": row.auth_method, "fresh_until": row.metadata_fresh_until,
    });
    audited(p, &row.client_id, "ok", "resolved its metadata document", details);
    // Without a reload the catalog may hold the document's previous
    // version: the row just stored is the client.
    match p.catalog.client(&row.client_id).filter(|_| caught_up.is_ok()) {
        Some(client) => Ok(client),
        None => Ok(Arc::new(Client::try_from(row)?)),
    }
}

/// A `client_metadata_document` audit event, and the fetch counted.
fn audited(p: &Provider, client_id: &str, outcome: &str, reason: &str, details: Value) {
    p.metrics
        .metadata_document_fetch(if outcome == "ok" { "resolved" } else { "refused" });
    let event = NewEvent {
        client_id: Some(client_id),
        details,
        ..NewEvent::about("client_metadata_document", outcome, None, None, reason)
    };
    if p.audit(&event).is_err() {
        tracing::warn!(
            client_id,
            "the audit buffer is full: a metadata document event was not recorded"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_urls_follow_the_drafts_rules() {
        for good in [
            "https://app.example.com/client.json",
            "https://app.example.com:8443/a/b?v=1",
        ] {
            assert_eq!(document_url(good, false), Ok(false), "{good}");
        }
        for bad in [
            "http://app.example.com/client.json",
            "https://app.example.com",
            "https://app.example.com/",
            "https://app.example.com/a/../client.json",
            "https://app.example.com/./client.json",
            "https://app.example.com/client.json#x",
            "https://user:pw@app.example.com/client.json",
            "https://APP.example.com/client.json",
            "https://10.0.0.1/client.json",
            "https://127.0.0.1/client.json",
            "https://localhost/client.json",
            "http://127.0.0.1:8080/client.json",
        ] {
            assert!(document_url(bad, false).is_err(), "{bad}");
        }
        assert_eq!(document_url("http://127.0.0.1:8080/client.json", true), Ok(true));
        assert!(document_url("http://10.0.0.1:8080/client.json", true).is_err());
    }

    #[test]
    fn freshness_is_max_age_within_five_minutes_and_a_day() {
        assert_eq!(fresh_for(Some("max-age=\"900\"")), TimeDelta::seconds(900));
        assert_eq!(fresh_for(None), TimeDelta::seconds(3600));
        assert_eq!(fresh_for(Some("public, max-age=600")), TimeDelta::seconds(600));
        assert_eq!(fresh_for(Some("max-age=5")), TimeDelta::seconds(300));
        assert_eq!(fresh_for(Some("max-age=9999999")), TimeDelta::seconds(86_400));
        assert_eq!(fresh_for(Some("no-store")), TimeDelta::seconds(300));
        assert_eq!(fresh_for(Some("max-age=junk")), TimeDelta::seconds(3600));
    }

    #[test]
    fn a_huge_or_negative_max_age_is_clamped_never_a_panic() {
        assert_eq!(fresh_for(Some("max-age=10000000000000000")), TimeDelta::seconds(86_400));
        assert_eq!(
            fresh_for(Some("max-age=99999999999999999999999")),
            TimeDelta::seconds(86_400)
        );
        assert_eq!(
            fresh_for(Some(&format!("max-age={}", i64::MAX))),
            TimeDelta::seconds(86_400)
        );
        assert_eq!(fresh_for(Some("max-age=-5")), TimeDelta::seconds(300));
        assert_eq!(
            fresh_for(Some(&format!("max-age={}", i64::MIN))),
            TimeDelta::seconds(300)
        );
    }

    #[test]
    fn only_json_content_types_are_documents() {
        for good in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/client-metadata+json",
            "application/vnd.x+json;v=1",
        ] {
            assert!(json_content_type(Some(good)), "{good}");
        }
        for bad in [
            None,
            Some("text/plain"),
            Some("text/html"),
            Some("application/jsonx"),
            Some("+json"),
            Some(""),
        ] {
            assert!(!json_content_type(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_full_failure_map_drops_old_entries_and_never_forgets_recent_ones() {
        let docs = Documents::default();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let old = now - RETRY_AFTER - TimeDelta::seconds(1);
        for n in 0..FAILURES_HELD {
            docs.record(&format!("https://o.example/{n}"), Err((old, false)), now);
        }
        assert!(docs.may_fetch("https://new.example/a", now), "old entries make room");
        docs.record("https://new.example/a", Err((now, true)), now);
        assert_eq!(docs.failed_recently("https://new.example/a", now), Some(true));
        let docs = Documents::default();
        for n in 0..FAILURES_HELD {
            docs.record(&format!("https://r.example/{n}"), Err((now, false)), now);
        }
        assert!(
            !docs.may_fetch("https://new.example/b", now),
            "full of recent failures: no new fetch"
        );
        docs.record("https://new.example/b", Err((now, false)), now);
        assert_eq!(
            docs.failed_recently("https://new.example/b", now),
            None,
            "not remembered"
        );
        assert_eq!(
            docs.failed_recently("https://r.example/0", now),
            Some(false),
            "recent backoffs kept"
        );
        assert_eq!(docs.failed_recently("https://r.example/9999", now), Some(false));
    }

    #[tokio::test]
    async fn fetches_take_one_of_eight_turns_and_wait_a_second_at_most() {
        let docs = Documents::default();
        let mut turns = Vec::new();
        for _ in 0..CONCURRENT_FETCHES {
            turns.push(docs.turn().await.expect("a free turn"));
        }
        let started = std::time::Instant::now();
        assert!(docs.turn().await.is_none(), "all eight taken: no turn");
        assert!(started.elapsed() >= FETCH_WAIT, "waited for one");
        turns.pop();
        assert!(docs.turn().await.is_some(), "a turn given back is free");
    }
}
