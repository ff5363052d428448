//! The `client_assertion_jtis` table: the `private_key_jwt` assertions already
//! accepted, so each is accepted once across every node (RFC 7523 §3 item 7).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::StoreError;

/// Records an assertion's client-and-jti hash; `false` when it was seen before.
pub async fn first_use(
    conn: &mut PgConnection,
    jti_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "INSERT INTO client_assertion_jtis (jti_hash, expires_at) VALUES ($1, $2) ON CONFLICT (jti_hash) DO NOTHING",
    )
    .bind(jti_hash)
    .bind(expires_at)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Records many hashes in one statement (duplicates within `hashes` count
/// once); returns those recorded now — the others were seen before.
pub async fn first_uses(
    conn: &mut PgConnection,
    hashes: &[Vec<u8>],
    expires_at: &[DateTime<Utc>],
) -> Result<Vec<Vec<u8>>, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO client_assertion_jtis (jti_hash, expires_at)
         SELECT * FROM unnest($1::bytea[], $2::timestamptz[])
         ON CONFLICT (jti_hash) DO NOTHING RETURNING jti_hash",
    )
    .bind(hashes)
    .bind(expires_at)
    .fetch_all(conn)
    .await?)
}
