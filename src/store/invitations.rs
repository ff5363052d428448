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

/// Spends every other invitation still open for `email` (compared without
/// case): one account per address.
pub async fn spend_all_for_email(conn: &mut PgConnection, email: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query("UPDATE invitations SET used_at = $2 WHERE lower(email) = lower($1) AND used_at IS NULL")
        .bind(email)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// An invitation not used, withdrawn or expired (never its token).
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct PendingInvitation {
    pub id: Uuid,
    pub email: String,
    #[serde(rename = "admin")]
    pub is_admin: bool,
    pub created_by: String,
    pub expires_at: DateTime<Utc>,
}

/// The invitations still usable now, the soonest to expire first.
pub async fn pending(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<Vec<PendingInvitation>, StoreError> {
    Ok(sqlx::query_as::<_, PendingInvitation>(
        "SELECT id, email, is_admin, created_by, expires_at FROM invitations
         WHERE used_at IS NULL AND expires_at > $1 ORDER BY expires_at LIMIT 1000",
    )
    .bind(now)
    .fetch_all(conn)
    .await?)
}

/// Withdraws a pending invitation (spent, by nobody); returns its address,
/// or `None` when it was not pending.
pub async fn withdraw(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE invitations SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2 RETURNING email",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}
