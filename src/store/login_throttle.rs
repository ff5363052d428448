//! The `login_throttle` table: sign-in attempts per account (`user:<key>`),
//! per device cookie (`device:<id>`) and per client address (`ip:<addr>`),
//! counted before each password is checked, with the account's or device's
//! attempt in flight marked so that only one runs at a time.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::StoreError;

/// Counts one attempt on `key` before its password is checked, in one
/// statement (concurrent attempts queue on the row, so none is missed): a
/// window opened before `window_opened_after` starts over. With
/// `in_flight_until` the attempt also takes the key until it settles (or
/// until then, should its node die). Returns the attempts in the window,
/// this one included, or `None` when another attempt holds the key.
pub async fn reserve(
    conn: &mut PgConnection,
    key: &str,
    now: DateTime<Utc>,
    window_opened_after: DateTime<Utc>,
    in_flight_until: Option<DateTime<Utc>>,
) -> Result<Option<i32>, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO login_throttle AS t (key, attempts, window_started_at, last_attempt_at, in_flight_until)
         VALUES ($1, 1, $2, $2, $4)
         ON CONFLICT (key) DO UPDATE SET
           attempts = CASE WHEN t.window_started_at > $3 THEN t.attempts + 1 ELSE 1 END,
           window_started_at = CASE WHEN t.window_started_at > $3 THEN t.window_started_at ELSE $2 END,
           last_attempt_at = $2,
           in_flight_until = $4
         WHERE t.in_flight_until IS NULL OR t.in_flight_until <= $2
         RETURNING attempts",
    )
    .bind(key)
    .bind(now)
    .bind(window_opened_after)
    .bind(in_flight_until)
    .fetch_optional(conn)
    .await?)
}

/// The attempt in flight on `key` is over (it stays counted).
pub async fn release(conn: &mut PgConnection, key: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE login_throttle SET in_flight_until = NULL WHERE key = $1")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes back one counted attempt (it was not evaluated, or it succeeded).
pub async fn refund(conn: &mut PgConnection, key: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE login_throttle SET attempts = attempts - 1 WHERE key = $1 AND attempts > 0")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Attempts counted in the current window, if it is still open.
pub async fn attempts(
    conn: &mut PgConnection,
    key: &str,
    window_opened_after: DateTime<Utc>,
) -> Result<i32, StoreError> {
    let n: Option<i32> =
        sqlx::query_scalar("SELECT attempts FROM login_throttle WHERE key = $1 AND window_started_at > $2")
            .bind(key)
            .bind(window_opened_after)
            .fetch_optional(conn)
            .await?;
    Ok(n.unwrap_or(0))
}

/// Forgets a key (a successful sign-in, or an admin clearing the throttle).
pub async fn clear(conn: &mut PgConnection, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_throttle WHERE key = $1")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}
