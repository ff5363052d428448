//! The `token_counters` table: tokens issued per hour, grant type and client.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::StoreError;

/// Adds `n` to one hour's count.
pub async fn add(
    conn: &mut PgConnection,
    hour: DateTime<Utc>,
    grant_type: &str,
    client_id: &str,
    n: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO token_counters (hour, grant_type, client_id, count) VALUES ($1, $2, $3, $4)
         ON CONFLICT (hour, grant_type, client_id) DO UPDATE SET count = token_counters.count + EXCLUDED.count",
    )
    .bind(hour)
    .bind(grant_type)
    .bind(client_id)
    .bind(n)
    .execute(conn)
    .await?;
    Ok(())
}

/// Tokens per hour and grant type since `since`.
pub async fn per_hour(
    conn: &mut PgConnection,
    since: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT hour, grant_type, sum(count)::bigint FROM token_counters WHERE hour >= $1 GROUP BY hour, grant_type ORDER BY hour",
    )
    .bind(since)
    .fetch_all(conn)
    .await?)
}
