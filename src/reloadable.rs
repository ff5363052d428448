//! A value every request reads and a reload replaces whole: the key ring's
//! and the catalog's snapshots.

use std::future::Future;
use std::sync::{Arc, RwLock};

pub struct Reloadable<T> {
    current: RwLock<Arc<T>>,
    /// One reload at a time, so a slow read begun before a change can never
    /// replace the snapshot of a read begun after it.
    reloading: tokio::sync::Mutex<()>,
}

impl<T> Reloadable<T> {
    pub fn new(value: T) -> Self {
        Self {
            current: RwLock::new(Arc::new(value)),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// The value as of the last reload.
    pub fn get(&self) -> Arc<T> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the value with what `load` reads; on failure the value stays.
    pub async fn reload<E>(&self, load: impl Future<Output = Result<T, E>>) -> Result<(), E> {
        let _one_at_a_time = self.reloading.lock().await;
        let value = Arc::new(load.await?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = value;
        Ok(())
    }
}
