//! The `clients` and `client_trusts` tables.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::StoreError;

/// A client as stored (secret as its SHA-256).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRow {
    pub client_id: String,
    pub name: String,
    pub secret_hash: Option<Vec<u8>>,
    pub auth_method: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub first_party: bool,
    pub id_token_alg: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut PgConnection, c: &ClientRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO clients (client_id, name, secret_hash, auth_method, redirect_uris, post_logout_redirect_uris,
            grant_types, scopes, first_party, id_token_alg, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&c.client_id)
    .bind(&c.name)
    .bind(&c.secret_hash)
    .bind(&c.auth_method)
    .bind(&c.redirect_uris)
    .bind(&c.post_logout_redirect_uris)
    .bind(&c.grant_types)
    .bind(&c.scopes)
    .bind(c.first_party)
    .bind(&c.id_token_alg)
    .bind(c.created_at)
    .bind(c.updated_at)
    .execute(conn)
    .await
    .map_err(StoreError::conflict_as(|| format!("a client `{}`", c.client_id)))?;
    Ok(())
}

pub async fn find(
    conn: &mut PgConnection,
    client_id: &str,
) -> Result<Option<ClientRow>, StoreError> {
    Ok(
        sqlx::query_as::<_, ClientRow>("SELECT * FROM clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Lets `client_id` exchange id_tokens issued to `trusted`. False if it already could.
pub async fn insert_trust(
    conn: &mut PgConnection,
    client_id: &str,
    trusted: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO client_trusts (client_id, trusted_client_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(client_id)
    .bind(trusted)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
