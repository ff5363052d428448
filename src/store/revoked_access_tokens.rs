//! The `revoked_access_tokens` table: the jti deny-list for access tokens
//! without a grant, kept until they would have expired (RFC 7009 §2).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;

pub async fn insert(
    conn: &mut PgConnection,
    jti: Uuid,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO revoked_access_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(jti)
    .bind(expires_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn is_revoked(conn: &mut PgConnection, jti: Uuid) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = $1)")
            .bind(jti)
            .fetch_one(conn)
            .await?,
    )
}
