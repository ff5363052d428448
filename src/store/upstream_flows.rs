//! `upstream_flows` (sign-ins at an upstream under way) and
//! `upstream_pending_links` (links waiting for the person's confirmation):
//! each found by the SHA-256 of its secret and the browser it is bound to,
//! and taken once by `DELETE … RETURNING`, on whichever node.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FlowRow {
    pub upstream_id: String,
    pub pkce_verifier: String,
    pub nonce: String,
    pub request: String,
    pub return_to: String,
    /// Connecting from the account page: the user to link to.
    pub link_user_id: Option<Uuid>,
    /// The `max_age` sent to the upstream, in seconds.
    pub max_age: Option<i64>,
    pub expires_at: DateTime<Utc>,
}

pub struct NewFlow<'a> {
    pub state_hash: &'a [u8],
    pub binding: &'a [u8],
    pub upstream_id: &'a str,
    pub pkce_verifier: &'a str,
    pub nonce: &'a str,
    pub request: &'a str,
    pub return_to: &'a str,
    pub link_user_id: Option<Uuid>,
    pub max_age: Option<i64>,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_flow(conn: &mut PgConnection, f: &NewFlow<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO upstream_flows (state_hash, binding, upstream_id, pkce_verifier, nonce, request, return_to,
            link_user_id, max_age, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(f.state_hash)
    .bind(f.binding)
    .bind(f.upstream_id)
    .bind(f.pkce_verifier)
    .bind(f.nonce)
    .bind(f.request)
    .bind(f.return_to)
    .bind(f.link_user_id)
    .bind(f.max_age)
    .bind(f.now)
    .bind(f.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes the flow of this `state` for this browser and upstream, once; an
/// expired one is taken too (and refused by the caller).
pub async fn take_flow(
    conn: &mut PgConnection,
    state_hash: &[u8],
    binding: &[u8],
    upstream_id: &str,
) -> Result<Option<FlowRow>, StoreError> {
    Ok(sqlx::query_as::<_, FlowRow>(
        "DELETE FROM upstream_flows WHERE state_hash = $1 AND binding = $2 AND upstream_id = $3
         RETURNING upstream_id, pkce_verifier, nonce, request, return_to, link_user_id, max_age, expires_at",
    )
    .bind(state_hash)
    .bind(binding)
    .bind(upstream_id)
    .fetch_optional(conn)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingLinkRow {
    pub upstream_id: String,
    pub issuer: String,
    pub subject: String,
    pub user_id: Uuid,
    pub assertion: serde_json::Value,
    pub request: String,
    pub return_to: String,
    pub expires_at: DateTime<Utc>,
}

pub struct NewPendingLink<'a> {
    pub token_hash: &'a [u8],
    pub binding: &'a [u8],
    pub upstream_id: &'a str,
    pub issuer: &'a str,
    pub subject: &'a str,
    pub user_id: Uuid,
    pub assertion: &'a serde_json::Value,
    pub request: &'a str,
    pub return_to: &'a str,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_pending_link(conn: &mut PgConnection, l: &NewPendingLink<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO upstream_pending_links (token_hash, binding, upstream_id, issuer, subject, user_id, assertion,
            request, return_to, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(l.token_hash)
    .bind(l.binding)
    .bind(l.upstream_id)
    .bind(l.issuer)
    .bind(l.subject)
    .bind(l.user_id)
    .bind(l.assertion)
    .bind(l.request)
    .bind(l.return_to)
    .bind(l.now)
    .bind(l.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes a pending link for this browser, once.
pub async fn take_pending_link(
    conn: &mut PgConnection,
    token_hash: &[u8],
    binding: &[u8],
) -> Result<Option<PendingLinkRow>, StoreError> {
    Ok(sqlx::query_as::<_, PendingLinkRow>(
        "DELETE FROM upstream_pending_links WHERE token_hash = $1 AND binding = $2
         RETURNING upstream_id, issuer, subject, user_id, assertion, request, return_to, expires_at",
    )
    .bind(token_hash)
    .bind(binding)
    .fetch_optional(conn)
    .await?)
}

/// A pending link of this browser, left in place (the sign-in page shows it).
pub async fn find_pending_link(
    conn: &mut PgConnection,
    token_hash: &[u8],
    binding: &[u8],
) -> Result<Option<PendingLinkRow>, StoreError> {
    Ok(sqlx::query_as::<_, PendingLinkRow>(
        "SELECT upstream_id, issuer, subject, user_id, assertion, request, return_to, expires_at
         FROM upstream_pending_links WHERE token_hash = $1 AND binding = $2",
    )
    .bind(token_hash)
    .bind(binding)
    .fetch_optional(conn)
    .await?)
}
