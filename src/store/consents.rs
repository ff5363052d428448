//! The `consents` table: what a user allowed a client.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsentRow {
    pub id: Uuid,
    pub scopes: Vec<String>,
}

pub async fn find(conn: &mut PgConnection, user_id: Uuid, client_id: &str) -> Result<Option<ConsentRow>, StoreError> {
    Ok(
        sqlx::query_as::<_, ConsentRow>("SELECT id, scopes FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Adds scopes to the user's consent for a client (creating it); returns its id.
pub async fn grant_scopes(
    conn: &mut PgConnection,
    user_id: Uuid,
    client_id: &str,
    scopes: &[String],
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO consents (id, user_id, client_id, scopes, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (user_id, client_id) DO UPDATE
           SET scopes = ARRAY(SELECT DISTINCT unnest(consents.scopes || EXCLUDED.scopes) ORDER BY 1), updated_at = $5
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(user_id)
    .bind(client_id)
    .bind(scopes)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

/// The consent of a user to a client, with the scopes of one API in it
/// (none when the consent covers none of them).
pub async fn api_scopes(
    conn: &mut PgConnection,
    user_id: Uuid,
    client_id: &str,
    api_id: Uuid,
) -> Result<Option<(Uuid, Vec<String>)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT c.id, coalesce(array_agg(s.scope ORDER BY s.scope) FILTER (WHERE s.scope IS NOT NULL), '{}')
         FROM consents c LEFT JOIN consent_api_scopes s ON s.consent_id = c.id AND s.api_id = $3
         WHERE c.user_id = $1 AND c.client_id = $2 GROUP BY c.id",
    )
    .bind(user_id)
    .bind(client_id)
    .bind(api_id)
    .fetch_optional(conn)
    .await?)
}

/// Adds API scopes to a consent (idempotent).
pub async fn grant_api_scopes(
    conn: &mut PgConnection,
    consent_id: Uuid,
    api_id: Uuid,
    scopes: &[String],
) -> Result<(), StoreError> {
    for scope in scopes {
        sqlx::query(
            "INSERT INTO consent_api_scopes (consent_id, api_id, scope) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(consent_id)
        .bind(api_id)
        .bind(scope)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A consent as the admin page lists it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ConsentListRow {
    pub id: Uuid,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub api_scopes: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

pub async fn list_for_user(conn: &mut PgConnection, user_id: Uuid) -> Result<Vec<ConsentListRow>, StoreError> {
    Ok(sqlx::query_as::<_, ConsentListRow>(
        "SELECT c.id, c.client_id, c.scopes, c.updated_at,
                coalesce(array_agg(a.audience || ' ' || s.scope ORDER BY a.audience, s.scope) FILTER (WHERE s.scope IS NOT NULL), '{}') AS api_scopes
         FROM consents c LEFT JOIN consent_api_scopes s ON s.consent_id = c.id LEFT JOIN apis a ON a.id = s.api_id
         WHERE c.user_id = $1 GROUP BY c.id ORDER BY c.client_id",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?)
}

/// Withdraws a consent; returns its user, if it existed.
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> Result<Option<Uuid>, StoreError> {
    Ok(
        sqlx::query_scalar("DELETE FROM consents WHERE id = $1 RETURNING user_id")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// A consent as its person sees it on the account page: the client, the
/// OIDC scopes, and per API (`[{"audience", "name", "scopes"}]`) the API scopes.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GivenConsent {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub apis: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn given_by_user(conn: &mut PgConnection, user_id: Uuid) -> Result<Vec<GivenConsent>, StoreError> {
    Ok(sqlx::query_as::<_, GivenConsent>(
        "SELECT c.client_id, c.scopes, c.created_at, c.updated_at,
                coalesce((SELECT jsonb_agg(jsonb_build_object('audience', a.audience, 'name', a.name, 'scopes', a.scopes)
                                           ORDER BY a.audience)
                          FROM (SELECT a.audience, a.name, array_agg(s.scope ORDER BY s.scope) AS scopes
                                FROM consent_api_scopes s JOIN apis a ON a.id = s.api_id
                                WHERE s.consent_id = c.id GROUP BY a.audience, a.name) a), '[]') AS apis
         FROM consents c WHERE c.user_id = $1 ORDER BY c.updated_at DESC, c.client_id",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?)
}

/// Withdraws a user's consent to a client; returns whether there was one.
pub async fn delete_of_user(conn: &mut PgConnection, user_id: Uuid, client_id: &str) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .execute(conn)
            .await?
            .rows_affected()
            == 1,
    )
}
