//! The `passkeys` table: a person's WebAuthn credentials, each the
//! serialised credential (its public key, signature counter and backup
//! flags), a name they chose, and when it was made and last used.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use super::StoreError;

/// A stored passkey; `credential` is the flows' serialised credential.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PasskeyRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub credential: Json<Value>,
    pub name: String,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A passkey as a list shows it (never its credential).
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct PasskeyListRow {
    pub id: Uuid,
    pub name: String,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

pub struct NewPasskey<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub credential_id: &'a [u8],
    pub credential: &'a Value,
    pub name: &'a str,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub now: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, user_id, passkey AS credential, name, backup_eligible, backup_state, created_at, last_used_at";

/// Stores a new passkey; a credential id already registered (to anyone) is
/// a `Conflict`.
pub async fn insert(conn: &mut PgConnection, p: &NewPasskey<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO passkeys (id, user_id, credential_id, passkey, name, backup_eligible, backup_state, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(p.id)
    .bind(p.user_id)
    .bind(p.credential_id)
    .bind(Json(p.credential))
    .bind(p.name)
    .bind(p.backup_eligible)
    .bind(p.backup_state)
    .bind(p.now)
    .execute(conn)
    .await
    .map_err(StoreError::conflict_as(|| "this passkey".to_owned()))?;
    Ok(())
}

/// A person's passkeys, oldest first, with their credentials.
pub async fn of_user(conn: &mut PgConnection, user_id: Uuid) -> Result<Vec<PasskeyRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_all(conn)
        .await?)
}

/// A person's passkeys as a list shows them, oldest first.
pub async fn list(conn: &mut PgConnection, user_id: Uuid) -> Result<Vec<PasskeyListRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, name, backup_eligible, backup_state, created_at, last_used_at
         FROM passkeys WHERE user_id = $1 ORDER BY created_at, id",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?)
}

/// How many passkeys a person has.
pub async fn count(conn: &mut PgConnection, user_id: Uuid) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM passkeys WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(conn)
        .await?)
}

/// A person's passkey with this credential id; with `lock`, locked until
/// the transaction ends (so two nodes recording its use write its counter
/// in turn).
pub async fn by_credential(
    conn: &mut PgConnection,
    user_id: Uuid,
    credential_id: &[u8],
    lock: bool,
) -> Result<Option<PasskeyRow>, StoreError> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {COLUMNS} FROM passkeys WHERE user_id = $1 AND credential_id = $2{lock}");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(credential_id)
        .fetch_optional(conn)
        .await?)
}

/// Records a use: the credential as it is now (counter, backup flags) and
/// when.
pub async fn record_use(
    conn: &mut PgConnection,
    id: Uuid,
    credential: &Value,
    backup: (bool, bool),
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE passkeys SET passkey = $2, backup_eligible = $3, backup_state = $4, last_used_at = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(Json(credential))
    .bind(backup.0)
    .bind(backup.1)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Renames one of a person's passkeys; false if they have no such passkey.
pub async fn rename(conn: &mut PgConnection, user_id: Uuid, id: Uuid, name: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .bind(name)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes one of a person's passkeys; false if they have no such passkey.
pub async fn delete(conn: &mut PgConnection, user_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes every passkey of a person; returns how many.
pub async fn delete_all(conn: &mut PgConnection, user_id: Uuid) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM passkeys WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
