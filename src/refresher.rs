//! Keeps every node's in-memory state fresh: reloads the key ring on NOTIFY
//! `lanyard_keys` and the catalog on NOTIFY `lanyard_catalog`, both at least
//! every 30 s (a missed NOTIFY, a lost connection), and runs the scheduled key
//! lifecycle on the same beat.

use std::time::Duration;

use sqlx::postgres::PgListener;

use crate::catalog;
use crate::protocol::Provider;
use crate::store::signing_keys;

/// How often a node reloads even without a NOTIFY.
const RELOAD_EVERY: Duration = Duration::from_secs(30);

/// How soon a lost listener connection is tried again (the database is back
/// within seconds of a restart).
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// What woke the refresher.
enum Wake {
    Keys,
    Catalog,
    /// The periodic beat, or a new listener connection (changes may have been missed).
    Everything,
}

pub fn spawn(p: Provider) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut beat = tokio::time::interval(RELOAD_EVERY);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        beat.tick().await; // the first tick is immediate; start-up just loaded everything
        let mut listener: Option<PgListener> = None;
        let mut warned = false;
        loop {
            let wake = match listener.as_mut() {
                None => match listen(&p).await {
                    Ok(l) => {
                        listener = Some(l);
                        warned = false;
                        Wake::Everything
                    }
                    Err(e) => {
                        if !warned {
                            tracing::warn!(error = %e, "cannot LISTEN for changes; retrying");
                            warned = true;
                        }
                        tokio::select! {
                            _ = beat.tick() => Wake::Everything,
                            _ = tokio::time::sleep(RECONNECT_AFTER) => continue,
                        }
                    }
                },
                Some(l) => tokio::select! {
                    _ = beat.tick() => Wake::Everything,
                    n = l.try_recv() => match n {
                        Ok(Some(n)) if n.channel() == signing_keys::CHANNEL => Wake::Keys,
                        Ok(Some(_)) => Wake::Catalog,
                        Ok(None) | Err(_) => {
                            tracing::warn!("lost the change listener; reconnecting");
                            listener = None;
                            continue;
                        }
                    },
                },
            };
            refresh(&p, wake).await;
        }
    })
}

/// A listener on both channels. Bounded in time: a database host that drops
/// packets must not hold the refresher (and its 30 s beat) for a TCP timeout.
async fn listen(p: &Provider) -> Result<PgListener, sqlx::Error> {
    let connect = async {
        let mut l = PgListener::connect_with(&p.pool).await?;
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

async fn refresh(p: &Provider, wake: Wake) {
    if matches!(wake, Wake::Everything) {
        run_key_schedule(p).await;
    }
    if matches!(wake, Wake::Keys | Wake::Everything)
        && let Err(e) = p.keys.reload(&p.pool).await
    {
        tracing::warn!(error = %e, "cannot reload signing keys; serving the ones in memory");
    }
    if matches!(wake, Wake::Catalog | Wake::Everything)
        && let Err(e) = p.catalog.reload(&p.pool).await
    {
        tracing::warn!(error = %e, "cannot reload the catalog; serving the one in memory");
    }
}
