//! Token issuance counted in memory and written in batches (README
//! "Performance"): the token path never waits for the database to count.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sqlx::PgPool;

use crate::crypto::Alg;
use crate::store::{StoreError, token_counters};

type Key = (DateTime<Utc>, &'static str, String);

#[derive(Default)]
pub struct Counters {
    pending: Mutex<HashMap<Key, i64>>,
    /// Since this process started, by grant type and algorithm (for `/metrics`).
    totals: Mutex<HashMap<(&'static str, Alg), u64>>,
}

impl Counters {
    /// Counts one token of a grant type for a client, in the hour of `now`.
    pub fn count(&self, now: DateTime<Utc>, grant_type: &'static str, alg: Alg, client_id: &str) {
        let hour = now.duration_trunc(TimeDelta::hours(1)).unwrap_or(now);
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        *pending.entry((hour, grant_type, client_id.to_owned())).or_default() += 1;
        *self
            .totals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((grant_type, alg))
            .or_default() += 1;
    }

    /// Tokens issued by this process since it started, by grant type and algorithm.
    pub fn totals(&self) -> Vec<((&'static str, Alg), u64)> {
        let mut totals: Vec<_> = self
            .totals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(g, n)| (*g, *n))
            .collect();
        totals.sort();
        totals
    }

    /// Whether counts wait to be written.
    pub fn has_pending(&self) -> bool {
        !self.pending.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// Writes what was counted; on failure the counts go back to be written later.
    pub async fn flush(&self, pool: &PgPool) -> Result<(), StoreError> {
        let batch: Vec<(Key, i64)> = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
            .into_iter()
            .collect();
        if batch.is_empty() {
            return Ok(());
        }
        let result = async {
            let mut tx = pool.begin().await?;
            for ((hour, grant, client), n) in &batch {
                token_counters::add(&mut tx, *hour, grant, client, *n).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }
        .await;
        if result.is_err() {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            for (key, n) in batch {
                *pending.entry(key).or_default() += n;
            }
        }
        result
    }
}
