//! The `registration_tokens` table: initial access tokens of dynamic client
//! registration (RFC 7591 §3), stored as their SHA-256 with the uses left.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;

/// An initial access token as listed (never its value).
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct RegistrationToken {
    pub id: Uuid,
    pub uses_left: i32,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    hash: &[u8],
    uses: i32,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO registration_tokens (id, token_hash, uses_left, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(hash)
    .bind(uses)
    .bind(expires_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Spends one use of the token with this hash, in one statement (concurrent
/// registrations queue on the row, so a last use is spent once). Returns its
/// id, or `None` when it is unknown, used up, expired or revoked.
pub async fn spend(conn: &mut PgConnection, hash: &[u8], now: DateTime<Utc>) -> Result<Option<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE registration_tokens SET uses_left = uses_left - 1
         WHERE token_hash = $1 AND uses_left > 0 AND expires_at > $2 AND revoked_at IS NULL
         RETURNING id",
    )
    .bind(hash)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

/// Every token not yet expired nor revoked, newest first.
pub async fn list(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<Vec<RegistrationToken>, StoreError> {
    Ok(sqlx::query_as::<_, RegistrationToken>(
        "SELECT id, uses_left, expires_at, created_at, revoked_at FROM registration_tokens
         WHERE expires_at > $1 AND revoked_at IS NULL ORDER BY created_at DESC",
    )
    .bind(now)
    .fetch_all(conn)
    .await?)
}

/// Revokes a token; false when there is none with this id still usable.
pub async fn revoke(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("UPDATE registration_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(conn)
            .await?
            .rows_affected()
            == 1,
    )
}
