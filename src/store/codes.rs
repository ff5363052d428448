//! The `authorization_codes` table: single-use codes, looked up by their SHA-256.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeRow {
    pub client_id: String,
    pub user_id: Uuid,
    pub session_id: Option<Uuid>,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub resources: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub claims: Option<Value>,
    /// `{"<audience>": ["scope", …]}` for each resource asked for.
    pub api_scopes: Value,
    pub auth_time: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub redeemed_at: Option<DateTime<Utc>>,
    pub grant_id: Option<Uuid>,
    /// The DPoP key the authorization request named (RFC 9449 §10).
    pub dpop_jkt: Option<String>,
    /// How the person signed in (RFC 8176), from the session.
    pub amr: Vec<String>,
}

pub async fn insert(conn: &mut PgConnection, code_hash: &[u8], c: &CodeRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO authorization_codes (code_hash, client_id, user_id, session_id, redirect_uri, scopes, resources,
            nonce, code_challenge, code_challenge_method, claims, auth_time, created_at, expires_at, api_scopes, dpop_jkt, amr)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(code_hash)
    .bind(&c.client_id)
    .bind(c.user_id)
    .bind(c.session_id)
    .bind(&c.redirect_uri)
    .bind(&c.scopes)
    .bind(&c.resources)
    .bind(&c.nonce)
    .bind(&c.code_challenge)
    .bind(&c.code_challenge_method)
    .bind(&c.claims)
    .bind(c.auth_time)
    .bind(c.created_at)
    .bind(c.expires_at)
    .bind(&c.api_scopes)
    .bind(&c.dpop_jkt)
    .bind(&c.amr)
    .execute(conn)
    .await?;
    Ok(())
}

const COLUMNS: &str = "client_id, user_id, session_id, redirect_uri, scopes, resources, nonce, code_challenge,
    code_challenge_method, claims, api_scopes, auth_time, created_at, expires_at, redeemed_at, grant_id, dpop_jkt, amr";

/// Marks the code redeemed, atomically: only the first caller gets the row.
pub async fn redeem(
    conn: &mut PgConnection,
    code_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<CodeRow>, StoreError> {
    let sql = format!(
        "UPDATE authorization_codes SET redeemed_at = $2 WHERE code_hash = $1 AND redeemed_at IS NULL RETURNING {COLUMNS}"
    );
    Ok(sqlx::query_as::<_, CodeRow>(sqlx::AssertSqlSafe(sql))
        .bind(code_hash)
        .bind(now)
        .fetch_optional(conn)
        .await?)
}

/// A code whatever its state (to recognise a reused one).
pub async fn find(conn: &mut PgConnection, code_hash: &[u8]) -> Result<Option<CodeRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM authorization_codes WHERE code_hash = $1");
    Ok(sqlx::query_as::<_, CodeRow>(sqlx::AssertSqlSafe(sql))
        .bind(code_hash)
        .fetch_optional(conn)
        .await?)
}

pub async fn set_grant(conn: &mut PgConnection, code_hash: &[u8], grant_id: Uuid) -> Result<(), StoreError> {
    sqlx::query("UPDATE authorization_codes SET grant_id = $2 WHERE code_hash = $1")
        .bind(code_hash)
        .bind(grant_id)
        .execute(conn)
        .await?;
    Ok(())
}
