//! The `refresh_tokens` table: rotated on every use, looked up by SHA-256.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;
use super::grants::GrantRow;
use crate::model::lifecycle::RefreshState;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    pub grant_id: Uuid,
    #[sqlx(default)]
    pub created_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
    pub idle_expires_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl RefreshRow {
    /// Its state now, with its grant's (revoking a grant revokes its family).
    pub fn state(&self, grant: &GrantRow, now: DateTime<Utc>) -> RefreshState {
        RefreshState::of(
            self.rotated_at.is_some(),
            self.revoked_at.is_some() || grant.revoked_at.is_some(),
            self.idle_expires_at.min(self.expires_at),
            now,
        )
    }
}

pub async fn insert(
    conn: &mut PgConnection,
    token_hash: &[u8],
    row: &RefreshRow,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, grant_id, scopes, created_at, idle_expires_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token_hash)
    .bind(row.grant_id)
    .bind(&row.scopes)
    .bind(now)
    .bind(row.idle_expires_at)
    .bind(row.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The token, locked for this transaction (so two uses cannot both rotate it).
pub async fn find_for_update(conn: &mut PgConnection, token_hash: &[u8]) -> Result<Option<RefreshRow>, StoreError> {
    Ok(sqlx::query_as::<_, RefreshRow>(
        "SELECT grant_id, created_at, scopes, idle_expires_at, expires_at, rotated_at, revoked_at FROM refresh_tokens
         WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?)
}

/// live → rotated: the one transition a live token makes (reuse is the
/// rotated state presented again).
pub async fn rotate(conn: &mut PgConnection, token_hash: &[u8], now: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query("UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1")
        .bind(token_hash)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}
