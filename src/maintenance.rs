//! Housekeeping every node runs, one node at a time: what has expired is
//! deleted — codes, refresh tokens, grants, sessions, throttle rows, revoked
//! token ids, sent or given-up mail and logout deliveries, expired reset links, audit events past
//! `LANYARD_AUDIT_RETENTION_DAYS` and their token counts, metadata-document
//! clients unused for a week — in bounded
//! batches; and the writer of buffered audit events and token counts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::protocol::Provider;
use crate::store::housekeeping::{self, Horizons};
use crate::store::{StoreError, apis};
use chrono::TimeDelta;

/// A metadata-document client not fetched for this long (and referenced by
/// nothing) is deleted.
const DOCUMENTS_UNUSED_FOR: TimeDelta = TimeDelta::days(7);

/// How often housekeeping runs.
const EVERY: Duration = Duration::from_secs(60);

/// The advisory lock that lets one node at a time do housekeeping.
pub const HOUSEKEEPING_LOCK: i64 = 0x4c61_6e79_6172_6401;

/// How much one housekeeping run deletes at most: `max_batches` statements
/// of `batch` rows per table; the rest waits for the next run.
#[derive(Debug, Clone, Copy)]
pub struct Housekeeping {
    pub batch: i64,
    pub max_batches: u32,
}

impl Default for Housekeeping {
    fn default() -> Self {
        Self {
            batch: 1000,
            max_batches: 50,
        }
    }
}

/// Rows deleted per table.
pub type Pruned = BTreeMap<&'static str, u64>;

/// One housekeeping run, or `None` when another node holds the lock.
pub async fn housekeep(p: &Provider, limits: &Housekeeping) -> Result<Option<Pruned>, StoreError> {
    let mut conn = p.pool.acquire().await?;
    // The lock is the connection's: closing it (not returning it to the
    // pool) releases the lock whatever happens below.
    conn.close_on_drop();
    if !housekeeping::try_lock(&mut conn, HOUSEKEEPING_LOCK).await? {
        return Ok(None);
    }
    let h = horizons(p, &mut conn).await?;
    let mut pruned = Pruned::new();
    for table in housekeeping::TABLES {
        let mut total = 0;
        for _ in 0..limits.max_batches {
            let n = housekeeping::prune_batch(&mut conn, table, &h, limits.batch).await?;
            total += n;
            if n < limits.batch as u64 {
                break;
            }
        }
        pruned.insert(table, total);
    }
    housekeeping::unlock(&mut conn, HOUSEKEEPING_LOCK).await?;
    Ok(Some(pruned))
}

async fn horizons(p: &Provider, conn: &mut sqlx::PgConnection) -> Result<Horizons, StoreError> {
    let now = p.now();
    let lifetimes = &p.config.lifetimes;
    let api_max = apis::max_access_token_ttl(conn)
        .await?
        .map(|s| TimeDelta::seconds(s.into()));
    let longest_access_token = api_max.map_or(lifetimes.access_token, |a| a.max(lifetimes.access_token));
    Ok(Horizons {
        now,
        keep_expired: lifetimes.expired_retention,
        longest_access_token,
        session_idle: lifetimes.session_idle,
        refresh_token_max: lifetimes.refresh_token_max,
        throttle_window: crate::protocol::signin::THROTTLE_WINDOW,
        audit_before: now - TimeDelta::days(p.config.audit_retention_days.into()),
        documents_before: now - DOCUMENTS_UNUSED_FOR,
    })
}

/// Runs housekeeping every minute, the first a minute after start.
pub fn spawn(p: Provider) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(EVERY).await;
            match housekeep(&p, &Housekeeping::default()).await {
                Ok(Some(pruned)) if pruned.values().any(|n| *n > 0) => {
                    tracing::info!(?pruned, "housekeeping deleted expired rows");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "housekeeping failed; it runs again in a minute"),
            }
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
pub fn spawn_writer(p: Provider, stop: Arc<tokio::sync::Notify>) -> tokio::task::JoinHandle<()> {
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
                write_the_rest(&p).await;
                return;
            }
        }
    })
}

/// At shutdown: tries again until everything is written (a transient failure,
/// such as no connection within the pool's timeout on a loaded machine, must
/// not lose the counts); the caller bounds how long.
async fn write_the_rest(p: &Provider) {
    while p.audit.depth() > 0 || p.counters.has_pending() {
        if let Err(e) = p.audit.write(&p.pool).await {
            tracing::warn!(error = %e, waiting = p.audit.depth(), "could not write audit events; trying again");
        }
        if let Err(e) = p.counters.flush(&p.pool).await {
            tracing::warn!(error = %e, "could not write token counts; trying again");
        }
        if p.audit.depth() > 0 || p.counters.has_pending() {
            tokio::time::sleep(RETRY_AFTER).await;
        }
    }
}
