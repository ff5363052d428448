//! The catalog: clients, APIs and who may get what (and the enabled upstream
//! providers' names), held in memory on every
//! node and reloaded on NOTIFY `lanyard_catalog` (a trigger on its tables), with
//! a short TTL as a fallback — so the token path reads no configuration from
//! PostgreSQL and keeps issuing while it is down (README "Running in production").

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use sqlx::PgPool;

use crate::model::{Api, Client};
use crate::reloadable::Reloadable;
use crate::store::{self, StoreError, apis, clients};

/// The channel the catalog tables' trigger notifies (migration 0004).
pub const CHANNEL: &str = "lanyard_catalog";

/// One consistent view of the catalog tables.
#[derive(Default)]
struct Snapshot {
    clients: HashMap<String, Arc<Client>>,
    /// By audience.
    apis: HashMap<String, Arc<Api>>,
    /// client_id → audience → the scopes it may get, sorted.
    allowances: HashMap<String, BTreeMap<String, Vec<String>>>,
    /// (client_id, trusted client_id): whose id_tokens a client may exchange.
    trusts: HashSet<(String, String)>,
    /// (audience, client_id): who may introspect an API's tokens.
    resource_servers: HashSet<(String, String)>,
    /// The origins (`scheme://host[:port]`) of every registered redirect URI.
    origins: HashSet<String>,
    /// The enabled upstream OpenID providers' ids and names (the sign-in page's buttons).
    upstreams: Vec<(String, String)>,
}

pub struct Catalog {
    current: Reloadable<Snapshot>,
}

impl Catalog {
    pub async fn load(pool: &PgPool) -> Result<Self, StoreError> {
        Ok(Self {
            current: Reloadable::new(Self::snapshot(pool).await?),
        })
    }

    /// Reads the tables again; on failure the catalog in memory stays.
    pub async fn reload(&self, pool: &PgPool) -> Result<(), StoreError> {
        self.current.reload(Self::snapshot(pool)).await
    }

    pub fn client(&self, client_id: &str) -> Option<Arc<Client>> {
        self.get().clients.get(client_id).cloned()
    }

    pub fn api(&self, audience: &str) -> Option<Arc<Api>> {
        self.get().apis.get(audience).cloned()
    }

    /// The audiences of the APIs a client may get any scope of, sorted.
    pub fn audiences_for(&self, client_id: &str) -> Vec<String> {
        self.get()
            .allowances
            .get(client_id)
            .map(|by_api| by_api.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The scopes of an API a client may get, sorted.
    pub fn allowed_scopes(&self, client_id: &str, audience: &str) -> Vec<String> {
        self.get()
            .allowances
            .get(client_id)
            .and_then(|by_api| by_api.get(audience))
            .cloned()
            .unwrap_or_default()
    }

    /// Whether `client_id` may exchange id_tokens issued to `other`.
    pub fn trusts(&self, client_id: &str, other: &str) -> bool {
        self.get().trusts.contains(&(client_id.to_owned(), other.to_owned()))
    }

    /// Whether a client is one of an API's resource servers (RFC 7662 §4).
    pub fn is_resource_server(&self, audience: &str, client_id: &str) -> bool {
        self.get()
            .resource_servers
            .contains(&(audience.to_owned(), client_id.to_owned()))
    }

    /// Whether any client registered a redirect URI with this origin (CORS).
    pub fn origin_registered(&self, origin: &str) -> bool {
        self.get().origins.contains(origin)
    }

    /// The enabled upstream providers (id, name), by name.
    pub fn upstreams(&self) -> Vec<(String, String)> {
        self.get().upstreams.clone()
    }

    fn get(&self) -> Arc<Snapshot> {
        self.current.get()
    }

    /// Reads every catalog table in one read-only, repeatable-read transaction.
    /// A corrupt row is left out with a warning rather than failing the rest.
    async fn snapshot(pool: &PgPool) -> Result<Snapshot, StoreError> {
        let mut tx = store::begin_consistent_read(pool).await?;
        let client_rows = clients::all(&mut tx).await?;
        let api_rows = apis::list(&mut tx).await?;
        let allowance_rows = apis::all_allowances(&mut tx).await?;
        let trust_rows = clients::all_trusts(&mut tx).await?;
        let server_rows = apis::all_resource_servers(&mut tx).await?;
        let upstreams = store::upstreams::enabled_names(&mut tx).await?;
        tx.commit().await?;

        let mut s = Snapshot {
            upstreams,
            ..Snapshot::default()
        };
        for row in client_rows {
            match Client::try_from(row) {
                Ok(client) => {
                    s.origins
                        .extend(client.redirect_uris.iter().filter_map(|u| origin_of(u)));
                    s.clients.insert(client.client_id.clone(), Arc::new(client));
                }
                Err(e) => tracing::warn!(error = %e, "left a client out of the catalog"),
            }
        }
        for row in api_rows {
            match Api::try_from(row) {
                Ok(api) => {
                    s.apis.insert(api.audience.clone(), Arc::new(api));
                }
                Err(e) => tracing::warn!(error = %e, "left an API out of the catalog"),
            }
        }
        for (client_id, audience, scope) in allowance_rows {
            s.allowances
                .entry(client_id)
                .or_default()
                .entry(audience)
                .or_default()
                .push(scope);
        }
        s.trusts = trust_rows.into_iter().collect();
        s.resource_servers = server_rows.into_iter().collect();
        Ok(s)
    }
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
