//! The `apis`, `api_scopes`, `api_resource_servers` and `client_api_access` tables.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;
use crate::model::{Api, DpopPolicy};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiRow {
    pub id: Uuid,
    pub audience: String,
    pub name: String,
    pub access_token_ttl: Option<i32>,
    pub alg: String,
    pub require_dpop: bool,
    pub dpop_nonce: bool,
    /// `model::AuthLevel`'s name, when the API requires one.
    pub min_acr: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<ApiRow> for Api {
    type Error = StoreError;
    fn try_from(row: ApiRow) -> Result<Self, StoreError> {
        let corrupt = |e: String| StoreError::Corrupt(format!("API {}: {e}", row.audience));
        let alg = row.alg.parse().map_err(corrupt)?;
        let min_acr = row.min_acr.as_deref().map(str::parse).transpose().map_err(corrupt)?;
        Ok(Api {
            alg,
            min_acr,
            id: row.id,
            audience: row.audience,
            access_token_ttl: row.access_token_ttl.map(|s| chrono::TimeDelta::seconds(s.into())),
            dpop: DpopPolicy {
                required: row.require_dpop,
                nonce: row.dpop_nonce,
            },
        })
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiScopeRow {
    pub name: String,
    pub description: String,
}

pub async fn insert(conn: &mut PgConnection, api: &ApiRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO apis (id, audience, name, access_token_ttl, alg, created_at, updated_at, require_dpop, dpop_nonce,
            min_acr)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(api.id)
    .bind(&api.audience)
    .bind(&api.name)
    .bind(api.access_token_ttl)
    .bind(&api.alg)
    .bind(api.created_at)
    .bind(api.updated_at)
    .bind(api.require_dpop)
    .bind(api.dpop_nonce)
    .bind(&api.min_acr)
    .execute(conn)
    .await
    .map_err(StoreError::conflict_as(|| {
        format!("an API with audience `{}`", api.audience)
    }))?;
    Ok(())
}

pub async fn insert_scope(conn: &mut PgConnection, api_id: Uuid, scope: &ApiScopeRow) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO api_scopes (api_id, name, description) VALUES ($1, $2, $3)")
        .bind(api_id)
        .bind(&scope.name)
        .bind(&scope.description)
        .execute(conn)
        .await
        .map_err(StoreError::conflict_as(|| format!("the scope `{}`", scope.name)))?;
    Ok(())
}

pub async fn insert_resource_server(conn: &mut PgConnection, api_id: Uuid, client_id: &str) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO api_resource_servers (api_id, client_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(api_id)
        .bind(client_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find_by_audience(conn: &mut PgConnection, audience: &str) -> Result<Option<ApiRow>, StoreError> {
    Ok(sqlx::query_as::<_, ApiRow>("SELECT * FROM apis WHERE audience = $1")
        .bind(audience)
        .fetch_optional(conn)
        .await?)
}

pub async fn scopes(conn: &mut PgConnection, api_id: Uuid) -> Result<Vec<ApiScopeRow>, StoreError> {
    Ok(
        sqlx::query_as::<_, ApiScopeRow>("SELECT name, description FROM api_scopes WHERE api_id = $1 ORDER BY name")
            .bind(api_id)
            .fetch_all(conn)
            .await?,
    )
}

pub async fn resource_servers(conn: &mut PgConnection, api_id: Uuid) -> Result<Vec<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT client_id FROM api_resource_servers WHERE api_id = $1 ORDER BY client_id")
            .bind(api_id)
            .fetch_all(conn)
            .await?,
    )
}

/// Lets a client get a scope of an API (idempotent).
pub async fn allow(
    conn: &mut PgConnection,
    client_id: &str,
    api_id: Uuid,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO client_api_access (client_id, api_id, scope, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(client_id)
    .bind(api_id)
    .bind(scope)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The scopes of an API a client may get.
pub async fn allowed_scopes(conn: &mut PgConnection, client_id: &str, api_id: Uuid) -> Result<Vec<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT scope FROM client_api_access WHERE client_id = $1 AND api_id = $2 ORDER BY scope")
            .bind(client_id)
            .bind(api_id)
            .fetch_all(conn)
            .await?,
    )
}

/// The longest access-token lifetime any API overrides to, in seconds.
pub async fn max_access_token_ttl(conn: &mut PgConnection) -> Result<Option<i32>, StoreError> {
    Ok(sqlx::query_scalar("SELECT max(access_token_ttl) FROM apis")
        .fetch_one(conn)
        .await?)
}

/// The audiences of the APIs a client may get any scope of.
pub async fn audiences_for_client(conn: &mut PgConnection, client_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT a.audience FROM client_api_access c JOIN apis a ON a.id = c.api_id
         WHERE c.client_id = $1 ORDER BY a.audience",
    )
    .bind(client_id)
    .fetch_all(conn)
    .await?)
}

/// Every API, by audience.
pub async fn list(conn: &mut PgConnection) -> Result<Vec<ApiRow>, StoreError> {
    Ok(sqlx::query_as::<_, ApiRow>("SELECT * FROM apis ORDER BY audience")
        .fetch_all(conn)
        .await?)
}

/// Sets exactly which scopes of an API a client may get.
pub async fn set_allowed(
    conn: &mut PgConnection,
    client_id: &str,
    api_id: Uuid,
    scopes: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM client_api_access WHERE client_id = $1 AND api_id = $2")
        .bind(client_id)
        .bind(api_id)
        .execute(&mut *conn)
        .await?;
    for scope in scopes {
        allow(conn, client_id, api_id, scope, now).await?;
    }
    Ok(())
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> Result<Option<ApiRow>, StoreError> {
    Ok(sqlx::query_as::<_, ApiRow>("SELECT * FROM apis WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

pub async fn update(conn: &mut PgConnection, api: &ApiRow) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE apis SET name = $2, access_token_ttl = $3, alg = $4, updated_at = $5, require_dpop = $6,
            dpop_nonce = $7, min_acr = $8 WHERE id = $1",
    )
    .bind(api.id)
    .bind(&api.name)
    .bind(api.access_token_ttl)
    .bind(&api.alg)
    .bind(api.updated_at)
    .bind(api.require_dpop)
    .bind(api.dpop_nonce)
    .bind(&api.min_acr)
    .execute(conn)
    .await?;
    Ok(())
}

/// Makes the API's scopes exactly `scopes`: descriptions updated, new ones
/// added, missing ones removed (with the allowances that named them).
pub async fn replace_scopes(conn: &mut PgConnection, api_id: Uuid, scopes: &[ApiScopeRow]) -> Result<(), StoreError> {
    let names: Vec<&str> = scopes.iter().map(|s| s.name.as_str()).collect();
    sqlx::query("DELETE FROM api_scopes WHERE api_id = $1 AND NOT (name = ANY($2))")
        .bind(api_id)
        .bind(&names)
        .execute(&mut *conn)
        .await?;
    for s in scopes {
        sqlx::query(
            "INSERT INTO api_scopes (api_id, name, description) VALUES ($1, $2, $3)
             ON CONFLICT (api_id, name) DO UPDATE SET description = EXCLUDED.description",
        )
        .bind(api_id)
        .bind(&s.name)
        .bind(&s.description)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn set_resource_servers(conn: &mut PgConnection, api_id: Uuid, clients: &[String]) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM api_resource_servers WHERE api_id = $1")
        .bind(api_id)
        .execute(&mut *conn)
        .await?;
    for c in clients {
        insert_resource_server(conn, api_id, c).await?;
    }
    Ok(())
}

/// `client_id scope` pairs: which clients may get which scopes of the API.
pub async fn allowances(conn: &mut PgConnection, api_id: Uuid) -> Result<Vec<(String, String)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT client_id, scope FROM client_api_access WHERE api_id = $1 ORDER BY client_id, scope")
            .bind(api_id)
            .fetch_all(conn)
            .await?,
    )
}

/// Deletes an API; its scopes, allowances and consented scopes go with it.
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> Result<bool, StoreError> {
    Ok(sqlx::query("DELETE FROM apis WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}
