//! The `invitations` table: single-use invitations to register, stored as
//! the SHA-256 of their token.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;

pub struct NewInvitation<'a> {
    pub token_hash: &'a [u8],
    pub email: &'a str,
    pub is_admin: bool,
    pub mailed: bool,
    pub created_by: &'a str,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut PgConnection, i: &NewInvitation<'_>) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO invitations (id, token_hash, email, is_admin, mailed, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(i.token_hash)
    .bind(i.email)
    .bind(i.is_admin)
    .bind(i.mailed)
    .bind(i.created_by)
    .bind(i.now)
    .bind(i.expires_at)
    .execute(conn)
    .await?;
    Ok(id)
}

/// An invitation still usable.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvitationRow {
    pub id: Uuid,
    pub email: String,
    pub is_admin: bool,
    pub mailed: bool,
}

/// The invitation of a token still usable now (unspent, unexpired), without spending it.
pub async fn find_usable(
    conn: &mut PgConnection,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<InvitationRow>, StoreError> {
    Ok(sqlx::query_as::<_, InvitationRow>(
        "SELECT id, email, is_admin, mailed FROM invitations
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

/// Spends an invitation in one statement (of two uses at once, one wins)
/// for the account it made; returns it, or `None` when it was not usable.
pub async fn spend(
    conn: &mut PgConnection,
    token_hash: &[u8],
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<InvitationRow>, StoreError> {
    Ok(sqlx::query_as::<_, InvitationRow>(
        "UPDATE invitations SET used_at = $3, used_by = $2
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $3
         RETURNING id, email, is_admin, mailed",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}
