//! Housekeeping every node runs: audit events older than
//! `LANYARD_AUDIT_RETENTION_DAYS` are pruned (deleting twice is harmless);
//! buffered audit events and token counts are written.

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

/// How long the writer lets audit events gather before one INSERT writes
/// them all (under load, hundreds per statement instead of one per request).
const GATHER_FOR: Duration = Duration::from_millis(100);

/// How soon a failed audit write is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The writer: audit events within 100 ms of their arrival (in batches: what
/// gathered meanwhile), token counts every few seconds. On `stop` it
/// writes what is left and ends — the server's graceful shutdown waits for it.
pub fn spawn_writer(p: crate::protocol::Provider, stop: Arc<tokio::sync::Notify>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut counts_due = tokio::time::Instant::now() + FLUSH_EVERY;
        loop {
            let stopping = tokio::select! {
                _ = stop.notified() => true,
                _ = p.audit.arrived.notified() => {
                    tokio::select! {
                        _ = stop.notified() => true,
                        _ = tokio::time::sleep(GATHER_FOR) => false,
                    }
                }
                _ = tokio::time::sleep_until(counts_due) => false,
            };
            if let Err(e) = p.audit.write(&p.pool).await {
                tracing::warn!(error = %e, waiting = p.audit.depth(), "could not write audit events; kept for the next try");
                if !stopping {
                    tokio::time::sleep(RETRY_AFTER).await;
                    p.audit.arrived.notify_one();
                }
            }
            if stopping || tokio::time::Instant::now() >= counts_due {
                if let Err(e) = p.counters.flush(&p.pool).await {
                    tracing::warn!(error = %e, "could not write token counts; kept for the next try");
                }
                counts_due = tokio::time::Instant::now() + FLUSH_EVERY;
            }
            if stopping {
                return;
            }
        }
    })
}
