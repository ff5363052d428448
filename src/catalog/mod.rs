//! The catalog: clients, APIs and who may get what (and the enabled upstream
//! providers' names), held in memory on every node so the token path reads no
//! configuration from PostgreSQL and keeps issuing while it is down (README
//! "Running in production"). A change is put in force on every node by
//! NOTIFY `lanyard_catalog` naming what it touched — one client's entry is
//! read again, not 100,000 — and the whole catalog is read again on a slow
//! beat as a fallback.

mod changes;

pub use changes::Pending;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use sqlx::PgPool;

use crate::model::{Api, Client};
use crate::store::catalog::{ClientRights, Which};
use crate::store::{self, StoreError, apis};

/// The channel the catalog tables' triggers notify (migrations 0004, 0021).
pub const CHANNEL: &str = "lanyard_catalog";

/// How long `catch_up` waits for this node's refresher before reading
/// everything itself.
const CATCH_UP_WAIT: Duration = Duration::from_secs(2);

/// A client and what it may do, replaced whole when a change names it.
struct Entry {
    client: Arc<Client>,
    /// audience → the scopes it may get, sorted.
    allowances: BTreeMap<String, Vec<String>>,
    /// The clients whose id_tokens it may exchange.
    trusts: Vec<String>,
    /// The audiences whose tokens it may introspect (RFC 7662 §4).
    introspects: Vec<String>,
}

/// What the catalog holds.
#[derive(Default)]
struct Parts {
    clients: HashMap<String, Entry>,
    /// By audience.
    apis: HashMap<String, Arc<Api>>,
    /// The origins (`scheme://host[:port]`) of the registered redirect URIs,
    /// each with how many clients registered it.
    origins: HashMap<String, u32>,
    /// The enabled upstream OpenID providers' ids and names (the sign-in page's buttons).
    upstreams: Vec<(String, String)>,
}

pub struct Catalog {
    parts: RwLock<Parts>,
    /// One reload at a time, so a slow read begun before a change can never
    /// replace what a read begun after it put in.
    reloading: tokio::sync::Mutex<()>,
    markers: Markers,
    whole_reads: WholeReads,
}

/// How a change made on this node is known to be in force here: a marker
/// NOTIFY after the change's commit arrives after the change's own.
struct Markers {
    /// This node's name in its markers.
    node: String,
    asked: AtomicU64,
    seen: tokio::sync::watch::Sender<u64>,
    /// Whether the refresher is listening (markers would be lost otherwise).
    listening: AtomicBool,
}

/// Whole reads of the catalog, numbered: a caller whose change committed
/// before read N began is served by read N (see `reload_after`).
#[derive(Default)]
struct WholeReads {
    begun: AtomicU64,
    /// The number of the last whole read that succeeded.
    succeeded: AtomicU64,
}

impl Catalog {
    pub async fn load(pool: &PgPool) -> Result<Self, StoreError> {
        Ok(Self {
            parts: RwLock::new(Self::read_everything(pool).await?),
            reloading: tokio::sync::Mutex::new(()),
            whole_reads: WholeReads::default(),
            markers: Markers {
                node: base64::Engine::encode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    crate::random::bytes::<9>(),
                ),
                asked: AtomicU64::new(0),
                seen: tokio::sync::watch::channel(0).0,
                listening: AtomicBool::new(false),
            },
        })
    }

    /// Reads every table again; on failure the catalog in memory stays.
    pub async fn reload(&self, pool: &PgPool) -> Result<(), StoreError> {
        let _one_at_a_time = self.reloading.lock().await;
        self.read_whole(pool).await
    }

    /// Reads everything unless a whole read that began after `mark` (a
    /// count of whole reads begun, taken after the caller's change
    /// committed) has succeeded meanwhile: callers falling back at once
    /// cause one read, not one each.
    async fn reload_after(&self, pool: &PgPool, mark: u64) -> Result<(), StoreError> {
        let _one_at_a_time = self.reloading.lock().await;
        if self.whole_reads.succeeded.load(Ordering::Acquire) > mark {
            return Ok(());
        }
        self.read_whole(pool).await
    }

    /// A whole read. The caller holds `reloading`, so a slow read begun
    /// before a change can never replace what a read begun after it put in.
    async fn read_whole(&self, pool: &PgPool) -> Result<(), StoreError> {
        let n = self.whole_reads.begun.fetch_add(1, Ordering::AcqRel) + 1;
        let parts = Self::read_everything(pool).await?;
        let old = std::mem::replace(&mut *self.write(), parts);
        self.whole_reads.succeeded.store(n, Ordering::Release);
        drop(old); // outside the lock: dropping 100,000 clients takes a while
        Ok(())
    }

    /// How many whole reads have begun (the metrics; tests tell a NOTIFY's
    /// read of a few clients from a read of all).
    pub fn whole_reads(&self) -> u64 {
        self.whole_reads.begun.load(Ordering::Acquire)
    }

    /// Puts in force what a burst of NOTIFYs named: only those clients'
    /// entries (or the APIs, the upstreams), unless it named too many. On
    /// failure nothing changes and this node's markers in the burst stay
    /// unseen (their callers read everything after their wait).
    pub async fn apply(&self, pool: &PgPool, pending: &Pending) -> Result<(), StoreError> {
        let _one_at_a_time = self.reloading.lock().await;
        if pending.needs_everything() {
            self.read_whole(pool).await?;
        } else if pending.changes_anything() {
            self.read_some(pool, pending).await?;
        }
        if let Some(n) = pending.synced {
            self.markers
                .seen
                .send_if_modified(|seen| std::mem::replace(seen, n.max(*seen)) < n);
        }
        Ok(())
    }

    /// Reads again the clients (and the APIs, the upstreams) a burst named,
    /// and puts them in place. The caller holds `reloading`.
    async fn read_some(&self, pool: &PgPool, pending: &Pending) -> Result<(), StoreError> {
        let ids: Vec<String> = pending.clients.iter().cloned().collect();
        let mut tx = store::begin_consistent_read(pool).await?;
        let mut entries = match ids.is_empty() {
            true => HashMap::new(),
            false => read_entries(&mut tx, Which::Only(&ids)).await?,
        };
        let apis = match pending.apis {
            true => Some(api_map(apis::list(&mut tx).await?)),
            false => None,
        };
        let upstreams = match pending.upstreams {
            true => Some(store::upstreams::enabled_names(&mut tx).await?),
            false => None,
        };
        tx.commit().await?;
        // The new entries' origins before the write lock, the old entries
        // dropped after it: readers wait only for the swaps.
        let new: Vec<_> = ids.iter().map(|id| entries.remove(id).map(with_origins)).collect();
        let mut parts = self.write();
        let mut old = Vec::with_capacity(ids.len());
        for (id, entry) in ids.iter().zip(new) {
            old.push(parts.replace_client(id, entry));
        }
        if let Some(apis) = apis {
            parts.apis = apis;
        }
        if let Some(names) = upstreams {
            parts.upstreams = names;
        }
        drop(parts);
        drop(old);
        Ok(())
    }

    /// After a change committed on this node: returns once the catalog here
    /// holds it (the refresher has seen a marker sent after it), so the next
    /// request sees it. Without a listener, or if the marker is slow, reads
    /// everything instead — once for all the callers waiting.
    pub async fn catch_up(&self, pool: &PgPool) -> Result<(), StoreError> {
        let mark = self.whole_reads();
        if self.is_listening() {
            let n = self.markers.asked.fetch_add(1, Ordering::Relaxed) + 1;
            let mut seen = self.markers.seen.subscribe();
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(changes::marker(&self.markers.node, n))
                .execute(pool)
                .await?;
            if let Ok(Ok(_)) = tokio::time::timeout(CATCH_UP_WAIT, seen.wait_for(|&s| s >= n)).await {
                return Ok(());
            }
            tracing::warn!("the change listener did not bring a change back in time; reading the whole catalog");
        }
        self.reload_after(pool, mark).await
    }

    /// This node's name in its markers, for reading the NOTIFYs.
    pub fn node(&self) -> &str {
        &self.markers.node
    }

    /// Told by the refresher: markers sent from now on will arrive (or not).
    pub fn set_listening(&self, listening: bool) {
        self.markers.listening.store(listening, Ordering::Release);
    }

    /// Whether changes come back by NOTIFY (else `catch_up` reads everything).
    pub fn is_listening(&self) -> bool {
        self.markers.listening.load(Ordering::Acquire)
    }

    pub fn client(&self, client_id: &str) -> Option<Arc<Client>> {
        self.read().clients.get(client_id).map(|e| e.client.clone())
    }

    pub fn api(&self, audience: &str) -> Option<Arc<Api>> {
        self.read().apis.get(audience).cloned()
    }

    /// The audiences of the APIs a client may get any scope of, sorted.
    pub fn audiences_for(&self, client_id: &str) -> Vec<String> {
        self.read()
            .clients
            .get(client_id)
            .map(|e| e.allowances.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The scopes of an API a client may get, sorted.
    pub fn allowed_scopes(&self, client_id: &str, audience: &str) -> Vec<String> {
        self.read()
            .clients
            .get(client_id)
            .and_then(|e| e.allowances.get(audience))
            .cloned()
            .unwrap_or_default()
    }

    /// Whether `client_id` may exchange id_tokens issued to `other`.
    pub fn trusts(&self, client_id: &str, other: &str) -> bool {
        self.read()
            .clients
            .get(client_id)
            .is_some_and(|e| e.trusts.iter().any(|t| t == other))
    }

    /// Whether a client is one of an API's resource servers (RFC 7662 §4).
    pub fn is_resource_server(&self, audience: &str, client_id: &str) -> bool {
        self.read()
            .clients
            .get(client_id)
            .is_some_and(|e| e.introspects.iter().any(|a| a == audience))
    }

    /// Whether any client registered a redirect URI with this origin (CORS).
    pub fn origin_registered(&self, origin: &str) -> bool {
        self.read().origins.contains_key(origin)
    }

    /// The enabled upstream providers (id, name), by name.
    pub fn upstreams(&self) -> Vec<(String, String)> {
        self.read().upstreams.clone()
    }

    /// How many clients the catalog holds.
    pub fn client_count(&self) -> usize {
        self.read().clients.len()
    }

    fn read(&self) -> RwLockReadGuard<'_, Parts> {
        self.parts.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Parts> {
        self.parts.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads every catalog table in one read-only, repeatable-read transaction.
    async fn read_everything(pool: &PgPool) -> Result<Parts, StoreError> {
        let mut tx = store::begin_consistent_read(pool).await?;
        let entries = read_entries(&mut tx, Which::All).await?;
        let api_rows = apis::list(&mut tx).await?;
        let upstreams = store::upstreams::enabled_names(&mut tx).await?;
        tx.commit().await?;
        let mut parts = Parts {
            apis: api_map(api_rows),
            upstreams,
            ..Parts::default()
        };
        for (id, entry) in entries {
            parts.replace_client(&id, Some(with_origins(entry)));
        }
        Ok(parts)
    }
}

impl Parts {
    /// Puts a client's new entry with its redirect URIs' origins (None: it
    /// is gone) in place of its old one, keeping the count of each origin.
    /// Returns the old entry, for the caller to drop outside the lock.
    fn replace_client(&mut self, client_id: &str, new: Option<(Entry, BTreeSet<String>)>) -> Option<Entry> {
        let old = self.clients.remove(client_id);
        if let Some(old) = &old {
            for origin in origins(&old.client) {
                if let Some(n) = self.origins.get_mut(&origin) {
                    *n -= 1;
                    if *n == 0 {
                        self.origins.remove(&origin);
                    }
                }
            }
        }
        if let Some((entry, origins)) = new {
            for origin in origins {
                *self.origins.entry(origin).or_default() += 1;
            }
            self.clients.insert(client_id.to_owned(), entry);
        }
        old
    }
}

/// The entries of `which` clients, by client_id. A corrupt client row is
/// left out with a warning rather than failing the rest.
async fn read_entries(conn: &mut sqlx::PgConnection, which: Which<'_>) -> Result<HashMap<String, Entry>, StoreError> {
    let mut entries = HashMap::new();
    store::catalog::each_client(conn, which, |row| match Client::try_from(row) {
        Ok(client) => {
            let entry = Entry {
                client: Arc::new(client),
                allowances: BTreeMap::new(),
                trusts: Vec::new(),
                introspects: Vec::new(),
            };
            entries.insert(entry.client.client_id.clone(), entry);
        }
        Err(e) => tracing::warn!(error = %e, "left a client out of the catalog"),
    })
    .await?;
    let rights = store::catalog::client_rights(conn, which).await?;
    grant(&mut entries, rights);
    Ok(entries)
}

/// Puts what the clients may do into their entries.
fn grant(entries: &mut HashMap<String, Entry>, rights: ClientRights) {
    for (client_id, audience, scope) in rights.allowances {
        if let Some(e) = entries.get_mut(&client_id) {
            e.allowances.entry(audience).or_default().push(scope);
        }
    }
    for (client_id, trusted) in rights.trusts {
        if let Some(e) = entries.get_mut(&client_id) {
            e.trusts.push(trusted);
        }
    }
    for (client_id, audience) in rights.introspects {
        if let Some(e) = entries.get_mut(&client_id) {
            e.introspects.push(audience);
        }
    }
    for e in entries.values_mut() {
        e.allowances.values_mut().for_each(|scopes| scopes.sort_unstable());
    }
}

fn api_map(rows: Vec<store::apis::ApiRow>) -> HashMap<String, Arc<Api>> {
    let mut map = HashMap::with_capacity(rows.len());
    for row in rows {
        match Api::try_from(row) {
            Ok(api) => {
                map.insert(api.audience.clone(), Arc::new(api));
            }
            Err(e) => tracing::warn!(error = %e, "left an API out of the catalog"),
        }
    }
    map
}

/// An entry with its redirect URIs' origins, as `Parts::replace_client`
/// takes it (computed before the write lock).
fn with_origins(entry: Entry) -> (Entry, BTreeSet<String>) {
    let origins = origins(&entry.client);
    (entry, origins)
}

/// The origins of a client's redirect URIs, each once.
fn origins(client: &Client) -> BTreeSet<String> {
    client.redirect_uris.iter().filter_map(|u| origin_of(u)).collect()
}

/// The origin a browser sends for pages under this URI (RFC 6454 §6.1).
fn origin_of(uri: &str) -> Option<String> {
    let origin = url::Url::parse(uri).ok()?.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn an_origin_is_scheme_host_and_a_non_default_port() {
        assert_eq!(
            origin_of("https://app.example/cb?x=1").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(
            origin_of("https://app.example:443/cb").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8081/cb").as_deref(),
            Some("http://127.0.0.1:8081")
        );
        assert_eq!(origin_of("com.example.app:/cb"), None);
    }
}
