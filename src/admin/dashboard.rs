//! The figures of the admin overview: counts, tokens issued per hour over
//! the last day (from the token counters), exchanges allowed and denied, and
//! the latest audit events.

use chrono::{DateTime, TimeDelta, Utc};

use super::AdminError;
use crate::protocol::Provider;
use crate::store::audit::{self, EventFilter, EventRow};
use crate::store::{apis, clients, sessions, token_counters, users};

/// What the overview shows, at `now` (the provider's clock).
#[derive(Debug)]
pub struct Overview {
    pub now: DateTime<Utc>,
    pub counts: serde_json::Value,
    /// Tokens per hour and grant type, from the hour before a day ago.
    pub per_hour: Vec<(DateTime<Utc>, String, i64)>,
    /// Tokens issued in the last day (and its first partial hour).
    pub issued: i64,
    pub exchanges_allowed: i64,
    pub exchanges_denied: i64,
    pub latest: Vec<EventRow>,
}

/// Gathers the overview; what this node counted or buffered but has not
/// written yet is written first.
pub async fn overview(p: &Provider) -> Result<Overview, AdminError> {
    if let Err(e) = p.counters.flush(&p.pool).await {
        tracing::warn!(error = %e, "could not write token counts");
    }
    p.audit.write(&p.pool).await?;
    let now = p.now();
    let day_ago = now - TimeDelta::hours(24);
    let mut conn = p.pool.acquire().await?;
    let counts = serde_json::json!({
        "users": users::count(&mut conn).await?,
        "clients": clients::list(&mut conn, "", 10_000, 0).await?.len(),
        "apis": apis::list(&mut conn).await?.len(),
        "sessions": sessions::count_active(&mut conn, now).await?,
    });
    let per_hour = token_counters::per_hour(&mut conn, day_ago - TimeDelta::hours(1)).await?;
    let exchanges = audit::outcomes(&mut conn, "token_exchange", day_ago).await?;
    let latest = audit::list(&mut conn, &EventFilter::default(), 10, 0).await?;
    let issued = per_hour
        .iter()
        .filter(|(h, _, _)| *h >= day_ago - TimeDelta::hours(1))
        .map(|(_, _, n)| n)
        .sum();
    let of = |outcome: &str| exchanges.iter().find(|(o, _)| o == outcome).map_or(0, |(_, n)| *n);
    Ok(Overview {
        now,
        counts,
        issued,
        exchanges_allowed: of("allowed"),
        exchanges_denied: of("denied"),
        per_hour,
        latest,
    })
}
