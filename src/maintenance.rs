//! Housekeeping every node runs: audit events older than
//! `LANYARD_AUDIT_RETENTION_DAYS` are pruned (deleting twice is harmless), and
//! token counts are written every few seconds.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use sqlx::PgPool;

use crate::clock::Clock;
use crate::store::{StoreError, audit};

/// How often the housekeeping runs.
const EVERY: Duration = Duration::from_secs(3600);

/// Prunes audit events past the retention; returns how many went.
pub async fn prune_audit(pool: &PgPool, clock: &dyn Clock, retention_days: u32) -> Result<u64, StoreError> {
    let before = clock.now() - TimeDelta::days(retention_days.into());
    audit::prune(&mut *pool.acquire().await?, before).await
}

pub fn spawn(pool: PgPool, clock: Arc<dyn Clock>, retention_days: u32) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match prune_audit(&pool, clock.as_ref(), retention_days).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(pruned = n, "pruned old audit events"),
                Err(e) => tracing::warn!(error = %e, "audit pruning failed"),
            }
            tokio::time::sleep(EVERY).await;
        }
    })
}

/// How often the token counts are written.
const FLUSH_EVERY: Duration = Duration::from_secs(5);

pub fn spawn_counter_flush(provider: crate::protocol::Provider) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(FLUSH_EVERY).await;
            if let Err(e) = provider.counters.flush(&provider.pool).await {
                tracing::warn!(error = %e, "could not write token counts; kept for the next try");
            }
        }
    })
}
