//! Accepting single-use tokens' `jti`s — DPoP proofs, client assertions —
//! once across nodes, in batches (a group commit): the requests that arrive
//! while one INSERT is in flight share the next, so under load one database
//! round trip serves many of them.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::oneshot;

use crate::store::StoreError;
use crate::store::used_jtis::{self, JtiTable};

/// The most `jti`s one statement records.
const MAX_BATCH: usize = 512;

/// One request waiting for its `jti`: `Some(first use)`, or `None` when its
/// batch failed (it then tries alone, for its own error).
struct Waiter {
    hash: Vec<u8>,
    expires_at: DateTime<Utc>,
    reply: oneshot::Sender<Option<bool>>,
}

#[derive(Default)]
struct State {
    pending: Vec<Waiter>,
    /// Whether a task is recording batches (at most one per node).
    running: bool,
}

/// The batches of one node, for one table.
pub struct JtiBatcher {
    table: JtiTable,
    state: Mutex<State>,
}

impl JtiBatcher {
    pub fn new(table: JtiTable) -> Self {
        Self {
            table,
            state: Mutex::default(),
        }
    }

    /// Records `hash` until `expires_at`; `false` when it was seen before,
    /// on any node.
    pub async fn first_use(
        self: &Arc<Self>,
        pool: &PgPool,
        hash: Vec<u8>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut state = self.lock();
            state.pending.push(Waiter {
                hash: hash.clone(),
                expires_at,
                reply,
            });
            !std::mem::replace(&mut state.running, true)
        };
        if start {
            tokio::spawn(Arc::clone(self).record(pool.clone()));
        }
        match answer.await {
            Ok(Some(first)) => Ok(first),
            // A batch fails whole (one statement): nothing of it was recorded.
            _ => used_jtis::first_use(&mut *pool.acquire().await?, self.table, &hash, expires_at).await,
        }
    }

    /// Records batches until none is waiting. Not tied to any request, so a
    /// client hanging up never leaves a batch half answered.
    async fn record(self: Arc<Self>, pool: PgPool) {
        let guard = Running(&self);
        loop {
            let batch: Vec<Waiter> = {
                let mut state = self.lock();
                if state.pending.is_empty() {
                    state.running = false;
                    std::mem::forget(guard);
                    return;
                }
                let n = state.pending.len().min(MAX_BATCH);
                state.pending.drain(..n).collect()
            };
            let hashes: Vec<Vec<u8>> = batch.iter().map(|w| w.hash.clone()).collect();
            let expiries: Vec<DateTime<Utc>> = batch.iter().map(|w| w.expires_at).collect();
            let recorded = match pool.acquire().await {
                Ok(mut conn) => used_jtis::first_uses(&mut conn, self.table, &hashes, &expiries).await,
                Err(e) => Err(e.into()),
            };
            match recorded {
                Ok(recorded) => {
                    let mut recorded: HashSet<Vec<u8>> = recorded.into_iter().collect();
                    // The first waiter of a hash takes it; a second in the same batch is a replay.
                    for w in batch {
                        let first = recorded.remove(&w.hash);
                        let _ = w.reply.send(Some(first));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, table = ?self.table, "a batch of jtis was not recorded; each is tried alone");
                    for w in batch {
                        let _ = w.reply.send(None);
                    }
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Dropped only if the recording task ends early (its runtime shutting
/// down): the waiters are released to try alone, and the next request
/// starts a new task.
struct Running<'a>(&'a JtiBatcher);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.running = false;
        state.pending.clear();
    }
}
