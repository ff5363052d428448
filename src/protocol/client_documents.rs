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

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use super::Provider;
use super::registration::{self, Metadata};
use super::remote::{self, Remote};
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
/// How long past its freshness a row serves while its fetches fail.
const STALE_FOR: TimeDelta = TimeDelta::seconds(86_400);
/// Failed URLs remembered at most (then forgotten at once).
const FAILURES_HELD: usize = 10_000;
/// A valid ordinary client_id that `registration::parse` checks the
/// metadata under; the row then gets the URL.
const PLACEHOLDER_ID: &str = "metadata-document";

/// The HTTP clients that fetch documents, and when each URL last failed.
pub struct Documents {
    http: Remote,
    failed: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl Default for Documents {
    fn default() -> Self {
        Self {
            http: Remote::new("client metadata documents"),
            failed: Mutex::default(),
        }
    }
}

impl Documents {
    fn failed_recently(&self, url: &str, now: DateTime<Utc>) -> bool {
        let failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        failed.get(url).is_some_and(|at| now < *at + RETRY_AFTER)
    }

    fn record(&self, url: &str, outcome: Result<(), DateTime<Utc>>) {
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Ok(()) => {
                failed.remove(url);
            }
            Err(at) => {
                if failed.len() >= FAILURES_HELD {
                    failed.clear();
                }
                failed.insert(url.to_owned(), at);
            }
        }
    }
}

/// Why a client_id URL gives no client.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The URL, the fetch or the document broke a rule (said in words).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
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
/// describes — fetched when it is not held or no longer fresh.
pub async fn resolve(p: &Provider, client_id: &str) -> Result<Option<Arc<Client>>, DocumentError> {
    if !p.config.client_id_metadata_documents || !is_url(client_id) {
        return Ok(known(p, client_id));
    }
    let loopback =
        document_url(client_id, p.config.metadata_documents_from_loopback).map_err(DocumentError::Refused)?;
    let now = p.now();
    let held = p.catalog.client(client_id).filter(|c| c.document_fresh_until.is_some());
    if held
        .as_ref()
        .is_some_and(|c| c.document_fresh_until.is_some_and(|t| now < t))
    {
        return Ok(held);
    }
    if p.client_documents.failed_recently(client_id, now) {
        return stale(
            held,
            now,
            "its metadata document could not be used; try again in a minute".into(),
        );
    }
    match fetch(p, client_id, loopback)
        .await
        .and_then(|(body, fresh_for)| admit(p, client_id, &body, now, fresh_for))
    {
        Ok(row) => keep(p, row).await.map(Some),
        Err(why) => {
            p.client_documents.record(client_id, Err(now));
            audited(p, client_id, "refused", &why, json!({}));
            stale(held, now, format!("its metadata document was refused: {why}"))
        }
    }
}

/// A row past its freshness while its document cannot be had: it serves
/// for `STALE_FOR` more, then the refusal stands.
fn stale(held: Option<Arc<Client>>, now: DateTime<Utc>, why: String) -> Result<Option<Arc<Client>>, DocumentError> {
    match held {
        Some(c) if c.document_fresh_until.is_some_and(|t| now < t + STALE_FOR) => Ok(Some(c)),
        _ => Err(DocumentError::Refused(why)),
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

/// Fetches the document: 200, at most `MAX_DOCUMENT_BYTES`, and how long
/// it stays fresh.
async fn fetch(p: &Provider, url: &str, loopback: bool) -> Result<(Vec<u8>, TimeDelta), String> {
    let http = p.client_documents.http.for_url(url, !loopback)?;
    let mut res = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| {
            tracing::info!(error = %e.without_url(), "a metadata document could not be fetched");
            "it could not be fetched".to_owned()
        })?;
    if res.status() != reqwest::StatusCode::OK {
        return Err(format!("it answered {}, not 200", res.status().as_u16()));
    }
    let cache_control = res
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = remote::body(&mut res, MAX_DOCUMENT_BYTES).await.map_err(|e| match e {
        e if e.starts_with("larger than") => format!("it is {e}"),
        e => {
            tracing::info!(error = e, "a metadata document could not be read");
            "it could not be read".to_owned()
        }
    })?;
    Ok((body, fresh_for(cache_control.as_deref())))
}

/// How long an answer is fresh: its `max-age` within 5 minutes and 24
/// hours, the least for `no-store`/`no-cache`, an hour without either.
pub fn fresh_for(cache_control: Option<&str>) -> TimeDelta {
    let mut fresh = DEFAULT_FRESH;
    for directive in cache_control.unwrap_or_default().split(',').map(str::trim) {
        let directive = directive.to_ascii_lowercase();
        if directive == "no-store" || directive == "no-cache" {
            return MIN_FRESH;
        }
        if let Some(secs) = directive
            .strip_prefix("max-age=")
            .and_then(|s| s.trim_matches('"').parse::<i64>().ok())
        {
            fresh = TimeDelta::seconds(secs);
        }
    }
    fresh.clamp(MIN_FRESH, MAX_FRESH)
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

/// Stores an admitted document's row (insert or replace), has this node's
/// catalog hold it (the others follow the NOTIFY), audits and counts it.
async fn keep(p: &Provider, row: ClientRow) -> Result<Arc<Client>, DocumentError> {
    let mut conn = p.pool.acquire().await.map_err(StoreError::from)?;
    let stored = clients::upsert_document(&mut conn, &row).await?;
    drop(conn);
    if !stored {
        return Err(DocumentError::Refused(
            "this client_id belongs to another client".into(),
        ));
    }
    p.client_documents.record(&row.client_id, Ok(()));
    if let Err(e) = p.catalog.catch_up(&p.pool).await {
        tracing::warn!(error = %e, "could not reload the catalog after a metadata document");
    }
    let details = json!({
        "client_name": row.name, "redirect_uris": row.redirect_uris,
        "token_endpoint_auth_method": row.auth_method, "fresh_until": row.metadata_fresh_until,
    });
    audited(p, &row.client_id, "ok", "resolved its metadata document", details);
    match p.catalog.client(&row.client_id) {
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
        assert_eq!(fresh_for(None), TimeDelta::seconds(3600));
        assert_eq!(fresh_for(Some("public, max-age=600")), TimeDelta::seconds(600));
        assert_eq!(fresh_for(Some("max-age=5")), TimeDelta::seconds(300));
        assert_eq!(fresh_for(Some("max-age=9999999")), TimeDelta::seconds(86_400));
        assert_eq!(fresh_for(Some("no-store")), TimeDelta::seconds(300));
        assert_eq!(fresh_for(Some("max-age=junk")), TimeDelta::seconds(3600));
    }
}
