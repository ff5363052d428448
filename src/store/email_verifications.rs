//! The `email_verifications` table: an address waiting to be verified for
//! an account, with the SHA-256 of its single-use link token.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;

pub async fn insert(
    conn: &mut PgConnection,
    user_id: Uuid,
    email: &str,
    token_hash: &[u8],
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO email_verifications (id, user_id, email, token_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(user_id)
    .bind(email)
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The account and address a link verifies.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Pending {
    pub user_id: Uuid,
    pub email: String,
}

/// The link's account and address if it is still usable now, without spending it.
pub async fn find_usable(
    conn: &mut PgConnection,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<Pending>, StoreError> {
    Ok(sqlx::query_as::<_, Pending>(
        "SELECT user_id, email FROM email_verifications
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

/// Spends a link in one statement (of two uses at once, one wins).
pub async fn spend(
    conn: &mut PgConnection,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<Pending>, StoreError> {
    Ok(sqlx::query_as::<_, Pending>(
        "UPDATE email_verifications SET used_at = $2
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
         RETURNING user_id, email",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

/// Spends every other link of an account (its address is settled; older
/// links for other addresses are void).
pub async fn spend_all_of_user(conn: &mut PgConnection, user_id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query("UPDATE email_verifications SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL")
        .bind(user_id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// The address an account is waiting to verify (the newest unspent, unexpired link's).
pub async fn pending_of_user(
    conn: &mut PgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT email FROM email_verifications WHERE user_id = $1 AND used_at IS NULL AND expires_at > $2
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(user_id)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}
