//! Keeps every node's in-memory state fresh: reloads the key ring on NOTIFY
//! `lanyard_keys` and the parts of the catalog a NOTIFY `lanyard_catalog`
//! names; reads the keys every 30 s and the whole catalog every 10 minutes
//! and on every new listener connection (a missed NOTIFY, a lost
//! connection); and runs the scheduled key lifecycle on the 30 s beat.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgNotification};

use crate::catalog::{self, Pending};
use crate::protocol::Provider;
use crate::store::signing_keys;

/// How often a node reloads the keys (and runs their schedule) even without
/// a NOTIFY, and the catalog too while no listener is connected.
const RELOAD_EVERY: Duration = Duration::from_secs(30);

/// How often a listening node reads the whole catalog anyway. NOTIFYs reach
/// a connected listener, and a new connection reads everything, so this is
/// only a safety net — a slow one, as 100,000 clients take a while to read.
const READ_CATALOG_EVERY: Duration = Duration::from_secs(600);

/// How soon a lost listener connection is tried again (the database is back
/// within seconds of a restart).
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// What woke the refresher.
enum Wake {
    /// NOTIFYs: whether the keys changed, and what the catalog's said.
    Changes { keys: bool, catalog: Pending },
    /// The periodic beat.
    Beat,
    /// A new listener connection (changes may have been missed).
    Everything,
}

/// Starts the refresher. `listening` is the listener start-up opened before
/// it read the catalog and keys (nothing committed since is missed); without
/// one, the first connection reads everything.
pub fn spawn(p: Provider, listening: Option<PgListener>) -> tokio::task::JoinHandle<()> {
    p.catalog.set_listening(listening.is_some());
    tokio::spawn(async move {
        let mut beat = tokio::time::interval(RELOAD_EVERY);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        beat.tick().await; // the first tick is immediate; start-up just loaded everything
        let mut r = Refresher {
            listener: listening,
            warned: false,
            catalog_read: tokio::time::Instant::now(),
            owed: false,
        };
        loop {
            let Some(wake) = r.next(&p, &mut beat).await else {
                continue;
            };
            let work = r.plan(wake);
            r.refresh(&p, work).await;
            // From now on a change made on this node comes back here by NOTIFY
            // (a whole read has read what came before the listener).
            p.catalog.set_listening(r.listener.is_some());
        }
    })
}

/// The refresher's state between wakes.
struct Refresher {
    listener: Option<PgListener>,
    /// Whether the failure to LISTEN was logged (once until it works).
    warned: bool,
    /// When the whole catalog was last read.
    catalog_read: tokio::time::Instant,
    /// A catalog read failed: the changes it had are lost, so the next wake
    /// reads everything (not only what it names).
    owed: bool,
}

/// What a wake asks of the catalog and the keys.
struct Work {
    keys: bool,
    key_schedule: bool,
    catalog: Option<Pending>,
}

impl Refresher {
    /// Waits for the next reason to refresh; None: look again (a listener
    /// connection was lost or is being retried).
    async fn next(&mut self, p: &Provider, beat: &mut tokio::time::Interval) -> Option<Wake> {
        let Some(l) = self.listener.as_mut() else {
            return match listen(&p.pool).await {
                Ok(l) => {
                    self.listener = Some(l);
                    self.warned = false;
                    Some(Wake::Everything)
                }
                Err(e) => {
                    if !self.warned {
                        tracing::warn!(error = %e, "cannot LISTEN for changes; retrying");
                        self.warned = true;
                    }
                    tokio::select! {
                        _ = beat.tick() => Some(Wake::Beat),
                        _ = tokio::time::sleep(RECONNECT_AFTER) => None,
                    }
                }
            };
        };
        tokio::select! {
            _ = beat.tick() => Some(Wake::Beat),
            n = l.try_recv() => match n {
                Ok(Some(n)) => Some(changes(p, n, l)),
                Ok(None) | Err(_) => {
                    tracing::warn!("lost the change listener; reconnecting");
                    p.catalog.set_listening(false);
                    self.listener = None;
                    None
                }
            },
        }
    }

    /// What to do about a wake: the beat reads the whole catalog when no
    /// listener is connected, a read failed, or the safety net is due; any
    /// wake after a failed read reads everything.
    fn plan(&self, wake: Wake) -> Work {
        let whole = Pending::everything;
        match wake {
            Wake::Everything => Work {
                keys: true,
                key_schedule: true,
                catalog: Some(whole()),
            },
            Wake::Beat => {
                let due = self.listener.is_none() || self.owed || self.catalog_read.elapsed() >= READ_CATALOG_EVERY;
                Work {
                    keys: true,
                    key_schedule: true,
                    catalog: due.then(whole),
                }
            }
            Wake::Changes { keys, mut catalog } => {
                catalog.everything |= self.owed;
                Work {
                    keys,
                    key_schedule: false,
                    catalog: Some(catalog),
                }
            }
        }
    }

    async fn refresh(&mut self, p: &Provider, work: Work) {
        if work.key_schedule {
            run_key_schedule(p).await;
        }
        if let Some(pending) = work.catalog {
            match p.catalog.apply(&p.pool, &pending).await {
                Ok(()) if pending.needs_everything() => {
                    self.catalog_read = tokio::time::Instant::now();
                    self.owed = false;
                }
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reload the catalog; serving the one in memory, reading it all next time");
                    self.owed = true;
                }
            }
        }
        if work.keys
            && let Err(e) = p.keys.reload(&p.pool).await
        {
            tracing::warn!(error = %e, "cannot reload signing keys; serving the ones in memory");
        }
    }
}

/// What a NOTIFY and the ones already behind it say changed: a burst (a
/// thousand registrations) becomes one reload.
fn changes(p: &Provider, first: PgNotification, l: &mut PgListener) -> Wake {
    let (mut keys, mut catalog) = (false, Pending::default());
    let mut next = Some(first);
    while let Some(n) = next {
        match n.channel() == signing_keys::CHANNEL {
            true => keys = true,
            false => catalog.note(n.payload(), p.catalog.node()),
        }
        next = l.next_buffered();
    }
    Wake::Changes { keys, catalog }
}

/// A listener on both channels. Bounded in time: a database host that drops
/// packets must not hold the refresher (and its 30 s beat) for a TCP timeout.
pub async fn listen(pool: &sqlx::PgPool) -> Result<PgListener, sqlx::Error> {
    let connect = async {
        let mut l = PgListener::connect_with(pool).await?;
        l.listen_all([signing_keys::CHANNEL, catalog::CHANNEL]).await?;
        Ok(l)
    };
    tokio::time::timeout(LISTEN_TIMEOUT, connect)
        .await
        .unwrap_or(Err(sqlx::Error::PoolTimedOut))
}

/// How long connecting the listener may take.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(5);

/// The scheduled key lifecycle: rotation when due, then ageing out. Each step
/// runs under the key lock, so any number of nodes may run it.
async fn run_key_schedule(p: &Provider) {
    if let Some(master) = &p.config.master_key {
        let every = chrono::TimeDelta::days(p.config.key_rotation_days.into());
        match crate::keys::rotate_due(&p.pool, p.clock.as_ref(), master, every).await {
            Ok(changes) if !changes.is_empty() => tracing::info!(?changes, "rotated the signing keys on schedule"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "scheduled key rotation failed"),
        }
    }
    match crate::keys::maintain(&p.pool, p.clock.as_ref(), &p.config.lifetimes).await {
        Ok(changes) if !changes.is_empty() => tracing::info!(?changes, "aged out signing keys"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "scheduled key maintenance failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refresher(owed: bool) -> Refresher {
        Refresher {
            listener: None,
            warned: false,
            catalog_read: tokio::time::Instant::now(),
            owed,
        }
    }

    fn named(id: &str) -> Pending {
        let mut p = Pending::default();
        p.note(&format!("clients {id}"), "node");
        p
    }

    #[tokio::test]
    async fn after_a_failed_read_the_next_change_reads_everything() {
        let wake = Wake::Changes {
            keys: false,
            catalog: named("a"),
        };
        let work = refresher(true).plan(wake);
        assert!(work.catalog.is_some_and(|c| c.needs_everything()));
        let wake = Wake::Changes {
            keys: false,
            catalog: named("a"),
        };
        let work = refresher(false).plan(wake);
        assert!(work.catalog.is_some_and(|c| !c.needs_everything()));
    }

    #[tokio::test]
    async fn the_beat_reads_the_catalog_without_a_listener_or_after_a_failed_read() {
        assert!(refresher(false).plan(Wake::Beat).catalog.is_some(), "no listener");
        assert!(refresher(true).plan(Wake::Beat).catalog.is_some(), "owed");
    }
}
