//! Upstream providers' metadata and keys (OIDC Discovery §4, RFC 7517), on
//! each node: fetched with the limits of `http`, kept an hour, fetched again
//! at most once a minute per upstream (a failure, stale metadata), and the
//! JWK Set fetched again on an unknown `kid` (OIDC Core §10.1.1) at most once
//! a minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey,
    CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, IssuerUrl, ProviderMetadata};

use super::http::UpstreamHttp;

/// How long fetched metadata and keys are used before they are fetched again.
pub const FRESH_FOR: TimeDelta = TimeDelta::hours(1);
/// The least time between two fetches for one upstream, whatever asks.
pub const REFETCH_INTERVAL: TimeDelta = TimeDelta::seconds(60);
/// How many upstreams' metadata a node holds at most; when full it starts again.
const CACHED: usize = 1000;

/// RFC 9207 §3: whether the provider sends `iss` in its authorization responses.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct IssParameter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
}

impl AdditionalProviderMetadata for IssParameter {}

/// An upstream's discovery document with its JWK Set.
pub type Metadata = ProviderMetadata<
    IssParameter,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

#[derive(Default)]
struct Entry {
    /// The issuer it was fetched for: an admin's change starts again.
    issuer: String,
    metadata: Option<Arc<Metadata>>,
    fetched_at: Option<DateTime<Utc>>,
    attempted_at: Option<DateTime<Utc>>,
    keys_attempted_at: Option<DateTime<Utc>>,
}

fn may(attempted: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    attempted.is_none_or(|t| now - t >= REFETCH_INTERVAL)
}

/// Upstreams' metadata by upstream id. An entry's lock is held while it is
/// fetched, so concurrent sign-ins wait for one fetch.
#[derive(Default)]
pub struct Discovery {
    pub(super) http: UpstreamHttp,
    entries: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Entry>>>>,
}

impl Discovery {
    /// The upstream's metadata, fetched if absent or stale (and allowed);
    /// stale metadata serves while the upstream cannot be reached.
    pub async fn metadata(&self, id: &str, issuer: &str, now: DateTime<Utc>) -> Result<Arc<Metadata>, String> {
        let entry = self.entry(id);
        let mut entry = entry.lock().await;
        if entry.issuer != issuer {
            *entry = Entry {
                issuer: issuer.to_owned(),
                ..Entry::default()
            };
        }
        let fresh = entry.fetched_at.is_some_and(|t| now - t < FRESH_FOR);
        if let (true, Some(m)) = (fresh, &entry.metadata) {
            return Ok(m.clone());
        }
        if !may(entry.attempted_at, now) {
            return entry
                .metadata
                .clone()
                .ok_or_else(|| "its discovery failed less than a minute ago".to_owned());
        }
        entry.attempted_at = Some(now);
        let issuer_url = IssuerUrl::new(issuer.to_owned()).map_err(|e| e.to_string())?;
        match Metadata::discover_async(issuer_url, &self.http).await {
            Ok(m) => {
                let m = Arc::new(m);
                (entry.metadata, entry.fetched_at, entry.keys_attempted_at) = (Some(m.clone()), Some(now), Some(now));
                Ok(m)
            }
            Err(e) => {
                tracing::warn!(upstream = id, error = %e, "could not fetch an upstream's discovery");
                entry.metadata.clone().ok_or_else(|| format!("discovery failed: {e}"))
            }
        }
    }

    /// After an id_token named a key the upstream's set does not hold: the
    /// set fetched again, unless it was in the last minute. `None`: not fetched.
    pub async fn refetch_keys(&self, id: &str, now: DateTime<Utc>) -> Option<Arc<Metadata>> {
        let entry = self.entry(id);
        let mut entry = entry.lock().await;
        let current = entry.metadata.clone()?;
        if !may(entry.keys_attempted_at, now) {
            return None;
        }
        entry.keys_attempted_at = Some(now);
        match CoreJsonWebKeySet::fetch_async(current.jwks_uri(), &self.http).await {
            Ok(keys) => {
                let updated = Arc::new((*current).clone().set_jwks(keys));
                entry.metadata = Some(updated.clone());
                Some(updated)
            }
            Err(e) => {
                tracing::warn!(upstream = id, error = %e, "could not fetch an upstream's keys");
                None
            }
        }
    }

    fn entry(&self, id: &str) -> Arc<tokio::sync::Mutex<Entry>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = entries.get(id) {
            return entry.clone();
        }
        if entries.len() >= CACHED {
            entries.clear();
        }
        let entry = Arc::new(tokio::sync::Mutex::new(Entry::default()));
        entries.insert(id.to_owned(), entry.clone());
        entry
    }
}
