//! The `login_throttle` table: failed sign-ins per account and per client address.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::StoreError;

/// Failures in the current window, if the window is still open at `now`.
pub async fn failures(
    conn: &mut PgConnection,
    key: &str,
    window_opened_after: DateTime<Utc>,
) -> Result<i32, StoreError> {
    let n: Option<i32> =
        sqlx::query_scalar("SELECT failures FROM login_throttle WHERE key = $1 AND window_started_at > $2")
            .bind(key)
            .bind(window_opened_after)
            .fetch_optional(conn)
            .await?;
    Ok(n.unwrap_or(0))
}

/// Counts one failure; a window older than `window_opened_after` starts over.
pub async fn record_failure(
    conn: &mut PgConnection,
    key: &str,
    now: DateTime<Utc>,
    window_opened_after: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO login_throttle (key, failures, window_started_at, last_failure_at) VALUES ($1, 1, $2, $2)
         ON CONFLICT (key) DO UPDATE SET
           failures = CASE WHEN login_throttle.window_started_at > $3 THEN login_throttle.failures + 1 ELSE 1 END,
           window_started_at = CASE WHEN login_throttle.window_started_at > $3 THEN login_throttle.window_started_at ELSE $2 END,
           last_failure_at = $2",
    )
    .bind(key)
    .bind(now)
    .bind(window_opened_after)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn clear(conn: &mut PgConnection, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_throttle WHERE key = $1")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}
