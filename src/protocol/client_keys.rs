//! The public keys of `private_key_jwt` clients, ready to verify, on each
//! node: built once from a registered JWK Set, or fetched from the client's
//! `jwks_uri` — with a size limit and a time limit, cached, and fetched again
//! at most once a minute per client (on an unknown `kid`, or once stale).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::crypto::jwks::KeySet;
use crate::model::{Client, KeySource};

/// The longest a fetch of a `jwks_uri` may take, connection to last byte.
pub const FETCH_TIMEOUT: Duration = super::remote::FETCH_TIMEOUT;
/// The largest JWK Set fetched (a few keys take a few KiB).
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// How long keys fetched from a `jwks_uri` are used before they are fetched again.
pub const FRESH_FOR: TimeDelta = TimeDelta::minutes(5);
/// The least time between two fetches of one client's `jwks_uri`, whatever
/// asks (an unknown `kid`, stale keys, a failed fetch).
pub const REFETCH_INTERVAL: TimeDelta = TimeDelta::seconds(60);
/// How many clients' keys a node holds at most; when full it starts again empty.
const CACHED_CLIENTS: usize = 10_000;

/// One client's keys as this node holds them.
struct Entry {
    /// What they were built from: a change by an admin starts again.
    source: KeySource,
    set: Option<Arc<KeySet>>,
    /// When `set` was fetched (a `jwks_uri`).
    fetched_at: Option<DateTime<Utc>>,
    /// When a fetch was last tried, successful or not.
    attempted_at: Option<DateTime<Utc>>,
}

impl Entry {
    fn may_fetch(&self, now: DateTime<Utc>) -> bool {
        self.attempted_at.is_none_or(|t| now - t >= REFETCH_INTERVAL)
    }
}

/// Clients' keys by client_id. An entry's lock is held while its keys are
/// fetched, so concurrent requests of one client wait for one fetch (at most
/// `FETCH_TIMEOUT`) instead of starting their own; other clients do not wait.
pub struct ClientKeys {
    http: super::remote::Remote,
    entries: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Entry>>>>,
}

impl Default for ClientKeys {
    fn default() -> Self {
        let http = super::remote::Remote::new("jwks_uri keys cannot be fetched");
        Self {
            http,
            entries: Mutex::default(),
        }
    }
}

impl ClientKeys {
    /// The client's keys as they are now (`None`: it has none usable).
    pub async fn current(&self, client: &Client, now: DateTime<Utc>) -> Option<Arc<KeySet>> {
        let source = client.keys.as_ref()?;
        let entry = self.entry(&client.client_id, source);
        let mut entry = entry.lock().await;
        if entry.source != *source {
            *entry = fresh_entry(source);
        }
        match source {
            KeySource::Jwks(jwks) => {
                if entry.set.is_none() {
                    // Checked when registered; a set refused now stays unused.
                    match KeySet::parse(jwks) {
                        Ok(set) => entry.set = Some(Arc::new(set)),
                        Err(e) => tracing::warn!(client_id = %client.client_id, error = %e, "unusable registered jwks"),
                    }
                }
            }
            KeySource::JwksUri(uri) => {
                let fresh = entry.fetched_at.is_some_and(|t| now - t < FRESH_FOR);
                if !(fresh && entry.set.is_some()) && entry.may_fetch(now) {
                    self.fetch_into(&mut entry, client, uri.as_str(), now).await;
                }
            }
        }
        entry.set.clone()
    }

    /// After a signature named a key the client's set does not hold: the
    /// set fetched again from its `jwks_uri` — when it has one and it was
    /// not fetched in the last minute (RFC 7517 lets a client rotate keys
    /// by publishing new ones; a flood of unknown `kid`s fetches once a minute).
    pub async fn refetched(&self, client: &Client, now: DateTime<Utc>) -> Option<Arc<KeySet>> {
        let Some(source @ KeySource::JwksUri(uri)) = client.keys.as_ref() else {
            return None;
        };
        let entry = self.entry(&client.client_id, source);
        let mut entry = entry.lock().await;
        if entry.source != *source || !entry.may_fetch(now) {
            return None;
        }
        self.fetch_into(&mut entry, client, uri.as_str(), now)
            .await
            .then(|| entry.set.clone())
            .flatten()
    }

    fn entry(&self, client_id: &str, source: &KeySource) -> Arc<tokio::sync::Mutex<Entry>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = entries.get(client_id) {
            return entry.clone();
        }
        if entries.len() >= CACHED_CLIENTS {
            entries.clear();
        }
        let entry = Arc::new(tokio::sync::Mutex::new(fresh_entry(source)));
        entries.insert(client_id.to_owned(), entry.clone());
        entry
    }

    /// Fetches the set into the entry; on failure the keys it had stay
    /// (a client's server briefly down does not lock it out). True when fetched.
    async fn fetch_into(&self, entry: &mut Entry, client: &Client, uri: &str, now: DateTime<Utc>) -> bool {
        entry.attempted_at = Some(now);
        let client_id = client.client_id.as_str();
        match self.fetch(uri, client.self_registered).await {
            Ok(set) => {
                entry.set = Some(Arc::new(set));
                entry.fetched_at = Some(now);
                true
            }
            Err(why) => {
                tracing::warn!(client_id, jwks_uri = uri, why, "could not fetch a client's keys");
                false
            }
        }
    }

    /// A self-registered client's keys come from a public address only
    /// (`remote::Remote`, RFC 7591 §5).
    async fn fetch(&self, uri: &str, self_registered: bool) -> Result<KeySet, String> {
        let http = self.http.for_url(uri, self_registered)?;
        let mut res = http
            .get(uri)
            .header("accept", "application/jwk-set+json, application/json")
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !res.status().is_success() {
            return Err(format!("answered {}", res.status()));
        }
        let body = super::remote::body(&mut res, MAX_JWKS_BYTES).await?;
        let set: serde_json::Value = serde_json::from_slice(&body).map_err(|_| "not JSON".to_owned())?;
        KeySet::parse(&set).map_err(|e| e.to_string())
    }
}

fn fresh_entry(source: &KeySource) -> Entry {
    Entry {
        source: source.clone(),
        set: None,
        fetched_at: None,
        attempted_at: None,
    }
}
