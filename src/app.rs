//! Building and running Lanyard: the start-up checks, then the HTTP server.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::web::{Bytes, Data};
use actix_web::{App, HttpServer, middleware};

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::keys::{self, KeyError, KeyRing};
use crate::protocol::discovery;
use crate::protocol::{DerivedKeys, Provider};
use crate::store::{self, SchemaState};
use crate::web::{self, AppState, CookieJar, Csrf, Pages};

/// Why start-up stopped. `Config` and `Setup` are the operator's to fix (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Setup(String),
    #[error("{0}")]
    Runtime(String),
}

impl StartError {
    pub fn exit_code(&self) -> i32 {
        match self {
            StartError::Config(_) | StartError::Setup(_) => 2,
            StartError::Runtime(_) => 1,
        }
    }
}

impl From<KeyError> for StartError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::WrongMasterKey { .. } => StartError::Setup(e.to_string()),
            other => StartError::Runtime(format!("signing keys: {other}")),
        }
    }
}

/// Connects, checks the schema and the master key, makes the first keys if
/// there are none, and loads them: everything `serve` needs before it listens.
pub async fn prepare(config: Config, clock: Arc<dyn Clock>, max_connections: u32) -> Result<AppState, StartError> {
    let url = config.require_database_url()?;
    let master = config.require_master_key()?.clone();
    let pool = store::connect(url, max_connections)
        .await
        .map_err(|e| StartError::Runtime(format!("DATABASE_URL: cannot connect ({e})")))?;
    let schema = store::schema_state(&pool)
        .await
        .map_err(|e| StartError::Runtime(format!("cannot read the schema version: {e}")))?;
    match schema {
        SchemaState::Current => {}
        SchemaState::Behind { missing } => {
            return Err(StartError::Setup(format!(
                "the database is not migrated ({missing} migration(s) pending): run `lanyard migrate`"
            )));
        }
        SchemaState::Ahead => {
            return Err(StartError::Setup(
                "the database schema is newer than this lanyard: upgrade lanyard".into(),
            ));
        }
    }
    // Users a node of the previous release made while this one migrated.
    let mut conn = pool.acquire().await.map_err(|e| StartError::Runtime(e.to_string()))?;
    let unkeyed = store::users::backfill_username_keys(&mut conn)
        .await
        .map_err(|e| StartError::Runtime(e.to_string()))?;
    store::warn_unkeyed(&unkeyed);
    drop(conn);
    keys::verify_master_key(&pool, &master).await?;
    for change in keys::ensure(&pool, clock.as_ref(), &master).await? {
        tracing::info!(kid = change.kid, alg = %change.alg, state = change.to, "created signing key");
    }
    crate::admin::apis::ensure_admin_api(&pool, clock.as_ref(), &config.issuer)
        .await
        .map_err(|e| StartError::Runtime(format!("the built-in admin API: {e}")))?;
    let csrf = Csrf::new(master.derive("lanyard/csrf/v1"));
    let derived = DerivedKeys::from_master(&master);
    // LISTEN before reading: a change committed from here on reaches the
    // refresher, so it need not read everything again once it runs.
    let listening = match crate::refresher::listen(&pool).await {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(error = %e, "cannot LISTEN for changes yet; the refresher will retry");
            None
        }
    };
    let ring = KeyRing::load(&pool, master).await?;
    let catalog = Catalog::load(&pool)
        .await
        .map_err(|e| StartError::Runtime(format!("cannot load clients and APIs: {e}")))?;
    let policies = discovery::Policies {
        registration: config.client_registration != crate::config::ClientRegistration::Off,
        require_par: config.require_par,
        client_id_metadata_documents: config.client_id_metadata_documents,
    };
    let discovery = serde_json::to_vec(&discovery::metadata(&config.issuer, policies))
        .map_err(|e| StartError::Runtime(format!("cannot serialise discovery: {e}")))?;
    let pages = Pages::load().map_err(|e| StartError::Runtime(format!("templates: {e}")))?;
    let cookies = CookieJar::new(config.issuer.is_https());
    let provider = Provider::new(
        Arc::new(config),
        pool,
        Arc::new(ring),
        Arc::new(catalog),
        clock,
        derived,
    )
    .map_err(|e| StartError::Runtime(e.to_string()))?;
    if let Err(off) = &provider.webauthn {
        tracing::warn!(issuer = provider.config.issuer.as_str(), "{}", off.explain());
    }
    Ok(AppState {
        provider,
        discovery: Bytes::from(discovery),
        pages,
        csrf,
        cookies,
        listening: std::sync::Mutex::new(listening),
    })
}

/// The HTTP server, bound and ready to run.
pub struct Application {
    address: std::net::SocketAddr,
    server: Server,
    /// `/metrics` on its own address (`LANYARD_METRICS_BIND`), if set.
    metrics_server: Option<(std::net::SocketAddr, Server)>,
    /// The refresher, the housekeeping, the mail worker and the logout
    /// worker, stopped with the server.
    background: [tokio::task::JoinHandle<()>; 4],
    /// Writes buffered audit events and counts; told to finish when the server stops.
    writer: tokio::task::JoinHandle<()>,
    stop_writer: Arc<tokio::sync::Notify>,
    provider: crate::protocol::Provider,
}

impl Application {
    /// Binds `config.bind` (port 0 picks a free port) and starts the key refresher.
    pub fn build(state: AppState, workers: usize) -> Result<Self, StartError> {
        let bind = state.provider.config.bind;
        let listener = TcpListener::bind(bind)
            .map_err(|e| StartError::Runtime(format!("LANYARD_BIND: cannot listen on {bind} ({e})")))?;
        Self::build_on(state, listener, workers)
    }

    /// Serves on a listener bound beforehand (tests bind port 0 first to know the issuer).
    pub fn build_on(state: AppState, listener: TcpListener, workers: usize) -> Result<Self, StartError> {
        let address = listener.local_addr().map_err(|e| StartError::Runtime(e.to_string()))?;
        let p = &state.provider;
        let stop_writer = Arc::new(tokio::sync::Notify::new());
        let background = [
            crate::refresher::spawn(
                p.clone(),
                state.listening.lock().unwrap_or_else(|e| e.into_inner()).take(),
            ),
            crate::maintenance::spawn(p.clone()),
            crate::mail::worker::spawn(p.outbox(), p.config.mail_every),
            crate::protocol::backchannel_logout::spawn(p.clone()),
        ];
        let writer = crate::maintenance::spawn_writer(p.clone(), stop_writer.clone());
        let provider = p.clone();
        let metrics_listener = match p.config.metrics_bind {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .map_err(|e| StartError::Runtime(format!("LANYARD_METRICS_BIND: cannot listen on {addr} ({e})")))?,
            ),
            None => None,
        };
        let metrics_apart = metrics_listener.is_some();
        let state = Data::new(state);
        let app_state = state.clone();
        let https = app_state.provider.config.issuer.is_https();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .wrap(middleware::from_fn(web::render_error_pages))
                .wrap(web::security_headers(https))
                .wrap(middleware::from_fn(web::log_request))
                .configure(web::routes)
                .configure(|cfg| {
                    if !metrics_apart {
                        web::metrics_route(cfg);
                    }
                })
        })
        .workers(workers.max(1))
        .shutdown_timeout(5)
        .listen(listener)
        .map_err(|e| StartError::Runtime(format!("cannot start the server: {e}")))?
        .run();
        let metrics_server = match metrics_listener {
            Some(listener) => {
                let metrics_address = listener.local_addr().map_err(|e| StartError::Runtime(e.to_string()))?;
                let server = HttpServer::new(move || App::new().app_data(state.clone()).configure(web::metrics_route))
                    .workers(1)
                    .shutdown_timeout(1)
                    .listen(listener)
                    .map_err(|e| StartError::Runtime(format!("cannot start the metrics server: {e}")))?
                    .run();
                Some((metrics_address, server))
            }
            None => None,
        };
        Ok(Self {
            address,
            server,
            metrics_server,
            background,
            writer,
            stop_writer,
            provider,
        })
    }

    /// The address actually bound (with the port chosen for port 0).
    pub fn address(&self) -> std::net::SocketAddr {
        self.address
    }

    /// Where `/metrics` is served on its own, if `LANYARD_METRICS_BIND` is set.
    pub fn metrics_address(&self) -> Option<std::net::SocketAddr> {
        self.metrics_server.as_ref().map(|(a, _)| *a)
    }

    /// Serves until SIGINT or SIGTERM: stops accepting, lets in-flight
    /// requests finish (up to 5 s), then writes the buffered audit events and
    /// token counts (up to 10 s more) before returning.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics_server.map(|(_, server)| {
            let handle = server.handle();
            (tokio::spawn(server), handle)
        });
        let result = self.server.await;
        if let Some((task, handle)) = metrics {
            handle.stop(true).await;
            let _ = task.await;
        }
        for task in &self.background {
            task.abort();
        }
        self.stop_writer.notify_one();
        if tokio::time::timeout(SHUTDOWN_WRITE_TIMEOUT, self.writer).await.is_err() {
            tracing::warn!(
                waiting = self.provider.audit.depth(),
                "stopped before every audit event was written (the database is unreachable)"
            );
        } else {
            tracing::info!("buffered audit events and token counts written; stopped");
        }
        result
    }
}

/// How long shutdown waits for the last audit events and counts to be written.
const SHUTDOWN_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
