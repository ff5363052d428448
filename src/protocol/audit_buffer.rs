//! The audit buffer (README "Running in production"): events wait in memory and a
//! writer inserts them in batches, so a request never waits on an audit insert
//! and events outlive a database outage. The buffer is bounded: when it is
//! full the request that would add an event is refused (503), never silently
//! unaudited.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::PgPool;

use crate::store::StoreError;
use crate::store::audit::{self, Event};

/// The most events one INSERT writes.
const BATCH: usize = 500;

/// The buffer is full: the event was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the audit buffer is full (the database has been unreachable for a while)")]
pub struct BufferFull;

pub struct AuditBuffer {
    queue: Mutex<VecDeque<Event>>,
    capacity: usize,
    /// One writer at a time: the events at the front stay put while they are written.
    writing: tokio::sync::Mutex<()>,
    /// Woken when events arrive.
    pub arrived: tokio::sync::Notify,
    written: AtomicU64,
    refused: AtomicU64,
}

impl AuditBuffer {
    pub fn new(capacity: usize) -> Self {
        Self {
            queue: Mutex::new(VecDeque::new()),
            capacity,
            writing: tokio::sync::Mutex::new(()),
            arrived: tokio::sync::Notify::new(),
            written: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Queues an event, or refuses it when `capacity` events already wait.
    pub fn push(&self, event: Event) -> Result<(), BufferFull> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.len() >= self.capacity {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(BufferFull);
        }
        queue.push_back(event);
        drop(queue);
        self.arrived.notify_one();
        Ok(())
    }

    /// Events waiting to be written.
    pub fn depth(&self) -> usize {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Events written, and events refused because the buffer was full, since start.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.written.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }

    /// Writes every waiting event, a batch at a time, oldest first. An event
    /// leaves the buffer only once its batch is committed; a batch cut short
    /// (an error, a cancelled task) is written again later, and its events'
    /// fixed ids keep them from being stored twice.
    pub async fn write(&self, pool: &PgPool) -> Result<(), StoreError> {
        let _one_writer = self.writing.lock().await;
        loop {
            let batch: Vec<Event> = {
                let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                queue.iter().take(BATCH).cloned().collect()
            };
            if batch.is_empty() {
                return Ok(());
            }
            let mut conn = pool.acquire().await?;
            audit::insert_batch(&mut conn, &batch).await?;
            self.queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain(..batch.len());
            self.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
    }
}
