//! The `user_totp` and `recovery_codes` tables: a person's TOTP authenticator
//! (its secret sealed, the last time step accepted) and recovery codes
//! (hashed, each spent once); and a summary of every second factor,
//! passkeys included.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TotpRow {
    pub sealed_secret: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// Wrong codes since the last right one.
    pub failures: i32,
}

pub async fn find_totp(conn: &mut PgConnection, user_id: Uuid) -> Result<Option<TotpRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT sealed_secret, created_at, last_used_at, failures FROM user_totp WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Sets (or replaces) a person's authenticator; a new secret starts with no
/// step spent.
pub async fn save_totp(
    conn: &mut PgConnection,
    user_id: Uuid,
    sealed_secret: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO user_totp (user_id, sealed_secret, last_step, created_at) VALUES ($1, $2, 0, $3)
         ON CONFLICT (user_id) DO UPDATE SET sealed_secret = $2, last_step = 0, created_at = $3, last_used_at = NULL, failures = 0",
    )
    .bind(user_id)
    .bind(sealed_secret)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Spends a time step: true only for the first code of a step later than
/// every step accepted before (one statement, so two nodes checking the same
/// code cannot both accept it — RFC 6238 §5.2).
pub async fn spend_step(
    conn: &mut PgConnection,
    user_id: Uuid,
    step: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE user_totp SET last_step = $2, last_used_at = $3, failures = 0 WHERE user_id = $1 AND last_step < $2",
    )
    .bind(user_id)
    .bind(step)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Counts a wrong code; returns the wrong codes since the last right one.
pub async fn count_failure(conn: &mut PgConnection, user_id: Uuid) -> Result<i32, StoreError> {
    let n: Option<i32> =
        sqlx::query_scalar("UPDATE user_totp SET failures = failures + 1 WHERE user_id = $1 RETURNING failures")
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    Ok(n.unwrap_or(0))
}

pub async fn delete_totp(conn: &mut PgConnection, user_id: Uuid) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces a person's recovery codes with new ones (the old ones stop working).
pub async fn replace_recovery_codes(
    conn: &mut PgConnection,
    user_id: Uuid,
    hashes: &[Vec<u8>],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    delete_recovery_codes(&mut *conn, user_id).await?;
    sqlx::query(
        "INSERT INTO recovery_codes (user_id, code_hash, created_at) SELECT $1, h, $3 FROM unnest($2::bytea[]) AS h",
    )
    .bind(user_id)
    .bind(hashes)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Spends a recovery code: true once, for a code of this person not spent yet.
pub async fn spend_recovery_code(
    conn: &mut PgConnection,
    user_id: Uuid,
    hash: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done =
        sqlx::query("UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL")
            .bind(user_id)
            .bind(hash)
            .bind(now)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_recovery_codes(conn: &mut PgConnection, user_id: Uuid) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A person's second factors at a glance.
#[derive(Debug, Clone, Default, sqlx::FromRow, serde::Serialize)]
pub struct FactorSummary {
    pub totp: bool,
    pub totp_created_at: Option<DateTime<Utc>>,
    pub totp_last_used_at: Option<DateTime<Utc>>,
    /// Recovery codes not spent yet.
    pub recovery_codes_left: i64,
    /// Passkeys (the `passkeys` table).
    pub passkeys: i64,
}

pub async fn summary(conn: &mut PgConnection, user_id: Uuid) -> Result<FactorSummary, StoreError> {
    Ok(sqlx::query_as(
        "SELECT t.user_id IS NOT NULL AS totp, t.created_at AS totp_created_at, t.last_used_at AS totp_last_used_at,
                (SELECT count(*) FROM recovery_codes r WHERE r.user_id = $1 AND r.used_at IS NULL) AS recovery_codes_left,
                (SELECT count(*) FROM passkeys k WHERE k.user_id = $1) AS passkeys
         FROM (SELECT $1::uuid AS id) u LEFT JOIN user_totp t ON t.user_id = u.id",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await?)
}
