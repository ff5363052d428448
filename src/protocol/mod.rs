//! Protocol flows: the rules of the RFCs as plain functions over typed inputs
//! (the provider's pool, clock, keys and configuration) — no HTTP types here.

pub mod audit_buffer;
pub mod authorize;
pub mod client_auth;
pub mod client_credentials;
pub mod counters;
pub mod discovery;
pub mod error;
pub mod exchange;
pub mod introspect;
pub mod lab;
pub mod logout;
pub mod params;
pub mod resource;
pub mod revoke;
pub mod session;
pub mod signin;
pub mod token;
pub mod tokens;
pub mod userinfo;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::Semaphore;

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::CryptoError;
use crate::crypto::password;
use crate::keys::KeyRing;
use crate::store::audit::NewEvent;

/// Everything a flow needs: the database, the clock, the keys, the settings.
#[derive(Clone)]
pub struct Provider {
    pub config: Arc<Config>,
    pub pool: PgPool,
    pub keys: Arc<KeyRing>,
    /// Clients, APIs and allowances, in memory.
    pub catalog: Arc<Catalog>,
    pub clock: Arc<dyn Clock>,
    /// Caps concurrent argon2id hashes so memory stays bounded (19 MiB each).
    hashing: Arc<Semaphore>,
    /// A hash verified for unknown users, so they cost what a wrong password costs.
    dummy_hash: Arc<str>,
    /// Tokens issued, counted in memory and written in batches.
    pub counters: Arc<counters::Counters>,
    /// Audit events waiting to be written in batches.
    pub audit: Arc<audit_buffer::AuditBuffer>,
    /// Requests, decisions and sign-ins counted for /metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Provider {
    pub async fn new(
        config: Arc<Config>,
        pool: PgPool,
        keys: Arc<KeyRing>,
        catalog: Arc<Catalog>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CryptoError> {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let dummy = tokio::task::spawn_blocking(|| password::hash("lanyard: no such user"))
            .await
            .map_err(|e| CryptoError::Password(e.to_string()))??;
        let audit = Arc::new(audit_buffer::AuditBuffer::new(config.audit_buffer));
        Ok(Self {
            audit,
            config,
            pool,
            keys,
            catalog,
            clock,
            hashing: Arc::new(Semaphore::new(cores * 2)),
            dummy_hash: dummy.into(),
            counters: Arc::default(),
            metrics: Arc::default(),
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Queues an audit event (written in batches by the audit writer); refused
    /// when the buffer is full.
    pub fn audit(&self, event: &NewEvent<'_>) -> Result<(), audit_buffer::BufferFull> {
        self.audit.push(event.at(self.now()))
    }

    /// Verifies a password off the async threads, at most `2 × cores` at a time.
    /// `None` (unknown user) verifies against a dummy hash and fails.
    pub async fn verify_password(&self, password: &str, hash: Option<&str>) -> bool {
        let Ok(_slot) = self.hashing.acquire().await else {
            return false;
        };
        let known = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || password::verify(&password, &hash))
            .await
            .unwrap_or(false);
        ok && known
    }
}
