//! The `par_requests` table: pushed authorization requests (RFC 9126 §2),
//! looked up by the SHA-256 of their `request_uri`, spent once.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::StoreError;

/// A pushed request to store.
pub struct NewPush<'a> {
    pub id_hash: &'a [u8; 32],
    pub client_id: &'a str,
    pub params: &'a str,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Stores a push unless the client already has `max_pending` pushes neither
/// used nor expired; `false` when it has (one statement, so a burst of
/// pushes cannot go far past the cap).
pub async fn insert(conn: &mut PgConnection, push: &NewPush<'_>, max_pending: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO par_requests (id_hash, client_id, params, created_at, expires_at)
         SELECT $1, $2, $3, $4, $5
         WHERE (SELECT count(*) FROM par_requests
                WHERE client_id = $2 AND used_at IS NULL AND expires_at > $4) < $6",
    )
    .bind(push.id_hash.as_slice())
    .bind(push.client_id)
    .bind(push.params)
    .bind(push.now)
    .bind(push.expires_at)
    .bind(max_pending)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Spends the push `id_hash` of `client_id` if it is unused and unexpired
/// (one atomic statement), returning its parameters.
pub async fn spend(
    conn: &mut PgConnection,
    id_hash: &[u8; 32],
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE par_requests SET used_at = $3
         WHERE id_hash = $1 AND client_id = $2 AND used_at IS NULL AND expires_at > $3
         RETURNING params",
    )
    .bind(id_hash.as_slice())
    .bind(client_id)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}
