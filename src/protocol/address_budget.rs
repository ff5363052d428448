//! Budgets per client address: how many requests of one kind an address
//! (an IPv6 address by its /64, `model::address_group`) may make in a
//! window — open registration, pushes of public clients, first-time
//! metadata documents, upstream sign-in starts — counted in the sign-in
//! throttle's table (`store::login_throttle`), so every node counts alike.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;

use crate::store::{StoreError, login_throttle};

/// Counts one more request of `kind` (the key's prefix, e.g. `par-ip`) from
/// `ip` in the `window` ending `now`; true when it goes past `budget` (or
/// another attempt holds the key).
pub async fn exceeded(
    conn: &mut PgConnection,
    kind: &str,
    ip: &str,
    budget: i32,
    window: TimeDelta,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let key = format!("{kind}:{}", crate::model::address_group(ip));
    let count = login_throttle::reserve(conn, &key, now, now - window, None).await?;
    Ok(count.is_none_or(|n| n > budget))
}
