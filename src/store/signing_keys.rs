//! The `signing_keys` table.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

use super::StoreError;
use crate::crypto::Alg;
use crate::model::KeyState;

/// The advisory lock that serialises key changes across processes.
const KEYS_LOCK: i64 = 0x4c61_6e79_6172_6401;
/// The channel that tells every node the keys changed.
pub const CHANNEL: &str = "lanyard_keys";

/// A stored signing key.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub kid: String,
    pub alg: Alg,
    pub state: KeyState,
    pub public_jwk: Value,
    /// The sealed private key (compact JWE); only while `next` or `active`.
    pub private_key_jwe: Option<String>,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
    pub retained_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct Row {
    kid: String,
    alg: String,
    state: String,
    public_jwk: Value,
    private_key_jwe: Option<String>,
    created_at: DateTime<Utc>,
    activated_at: Option<DateTime<Utc>>,
    retired_at: Option<DateTime<Utc>>,
    retained_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<Row> for StoredKey {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        let corrupt = |e: String| StoreError::Corrupt(format!("signing key {}: {e}", r.kid));
        Ok(StoredKey {
            alg: r.alg.parse().map_err(corrupt)?,
            state: r.state.parse().map_err(corrupt)?,
            kid: r.kid,
            public_jwk: r.public_jwk,
            private_key_jwe: r.private_key_jwe,
            created_at: r.created_at,
            activated_at: r.activated_at,
            retired_at: r.retired_at,
            retained_at: r.retained_at,
            revoked_at: r.revoked_at,
        })
    }
}

/// Takes the key lock until the end of the transaction.
pub async fn lock(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(KEYS_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// Every stored key, newest first.
pub async fn list(conn: &mut PgConnection) -> Result<Vec<StoredKey>, StoreError> {
    sqlx::query_as::<_, Row>("SELECT * FROM signing_keys ORDER BY created_at DESC, kid")
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(StoredKey::try_from)
        .collect()
}

pub async fn insert(
    conn: &mut PgConnection,
    kid: &str,
    alg: Alg,
    state: KeyState,
    public_jwk: &Value,
    private_key_jwe: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, alg, state, public_jwk, private_key_jwe, created_at, activated_at)
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $3 = 'active' THEN $6 END)",
    )
    .bind(kid)
    .bind(alg.as_str())
    .bind(state.as_str())
    .bind(public_jwk)
    .bind(private_key_jwe)
    .bind(now)
    .execute(conn)
    .await
    .map_err(StoreError::conflict_as(|| format!("a signing key `{kid}`")))?;
    Ok(())
}

/// Moves a key to `state`, stamping the time and dropping the private key
/// once the key can no longer sign.
pub async fn set_state(
    conn: &mut PgConnection,
    kid: &str,
    state: KeyState,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE signing_keys SET state = $2,
            activated_at = CASE WHEN $2 = 'active' THEN $3 ELSE activated_at END,
            retired_at = CASE WHEN $2 = 'retired' THEN $3 ELSE retired_at END,
            retained_at = CASE WHEN $2 = 'retained' THEN $3 ELSE retained_at END,
            revoked_at = CASE WHEN $2 = 'revoked' THEN $3 ELSE revoked_at END,
            private_key_jwe = CASE WHEN $2 IN ('next', 'active') THEN private_key_jwe END
         WHERE kid = $1",
    )
    .bind(kid)
    .bind(state.as_str())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete(conn: &mut PgConnection, kid: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
        .bind(kid)
        .execute(conn)
        .await?;
    Ok(())
}

/// Tells every node (LISTEN `lanyard_keys`) to reload keys once this transaction commits.
pub async fn notify_changed(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}
