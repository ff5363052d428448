//! The `upstreams` table (upstream OpenID providers) and `upstream_links`
//! (who a person is at each of them).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;

/// An upstream as stored (its secret still sealed).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UpstreamRow {
    pub id: String,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub sealed_secret: String,
    pub scopes: Vec<String>,
    pub link_by_verified_email: bool,
    pub claims: Vec<String>,
    pub refresh_claims: bool,
    pub acr_map: serde_json::Value,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What `insert` and `update` write (all but the timestamps).
pub struct UpstreamFields<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub sealed_secret: &'a str,
    pub scopes: &'a [String],
    pub link_by_verified_email: bool,
    pub claims: &'a [String],
    pub refresh_claims: bool,
    pub acr_map: &'a serde_json::Value,
    pub enabled: bool,
}

pub async fn insert(conn: &mut PgConnection, u: &UpstreamFields<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
    let query = sqlx::query(
        "INSERT INTO upstreams (id, name, issuer, client_id, sealed_secret, scopes, link_by_verified_email,
            claims, refresh_claims, acr_map, enabled, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
    );
    bind_fields(query, u)
        .bind(now)
        .execute(conn)
        .await
        .map_err(StoreError::conflict_as(|| format!("an upstream `{}`", u.id)))?;
    Ok(())
}

/// Writes every field of an existing upstream; false if there is none.
pub async fn update(conn: &mut PgConnection, u: &UpstreamFields<'_>, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let query = sqlx::query(
        "UPDATE upstreams SET name = $2, issuer = $3, client_id = $4, sealed_secret = $5, scopes = $6,
            link_by_verified_email = $7, claims = $8, refresh_claims = $9, acr_map = $10, enabled = $11,
            updated_at = $12
         WHERE id = $1",
    );
    Ok(bind_fields(query, u).bind(now).execute(conn).await?.rows_affected() == 1)
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds $1 to $11, in the order both statements above name them.
fn bind_fields<'q>(query: PgQuery<'q>, u: &UpstreamFields<'q>) -> PgQuery<'q> {
    query
        .bind(u.id)
        .bind(u.name)
        .bind(u.issuer)
        .bind(u.client_id)
        .bind(u.sealed_secret)
        .bind(u.scopes)
        .bind(u.link_by_verified_email)
        .bind(u.claims)
        .bind(u.refresh_claims)
        .bind(u.acr_map)
        .bind(u.enabled)
}

pub async fn find(conn: &mut PgConnection, id: &str) -> Result<Option<UpstreamRow>, StoreError> {
    Ok(
        sqlx::query_as::<_, UpstreamRow>("SELECT * FROM upstreams WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// An upstream, its row locked until the transaction ends (a change and
/// the count of accounts it would lock out see the same links).
pub async fn find_for_update(conn: &mut PgConnection, id: &str) -> Result<Option<UpstreamRow>, StoreError> {
    Ok(
        sqlx::query_as::<_, UpstreamRow>("SELECT * FROM upstreams WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Every upstream, by id (an operator registers a handful).
pub async fn list(conn: &mut PgConnection) -> Result<Vec<UpstreamRow>, StoreError> {
    Ok(
        sqlx::query_as::<_, UpstreamRow>("SELECT * FROM upstreams ORDER BY id LIMIT 1000")
            .fetch_all(conn)
            .await?,
    )
}

/// The enabled upstreams' ids and names, for the sign-in page.
pub async fn enabled_names(conn: &mut PgConnection) -> Result<Vec<(String, String)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, name FROM upstreams WHERE enabled ORDER BY name, id LIMIT 100")
            .fetch_all(conn)
            .await?,
    )
}

/// Deletes an upstream and its links; false if there is none.
pub async fn delete(conn: &mut PgConnection, id: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query("DELETE FROM upstreams WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}

/// A person's link to an upstream.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct LinkRow {
    pub upstream_id: String,
    /// The upstream's issuer when the link was made (a `sub` is unique only
    /// within one issuer, OIDC Core §2).
    pub issuer: String,
    pub subject: String,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Which link (upstream, issuer, sub) is: the upstream's current issuer
/// and the `sub` it asserted there.
#[derive(Debug, Clone, Copy)]
pub struct LinkKey<'a> {
    pub upstream_id: &'a str,
    pub issuer: &'a str,
    pub subject: &'a str,
}

/// The Lanyard user (upstream, issuer, sub) names, if linked; the link's use is recorded.
pub async fn use_link(
    conn: &mut PgConnection,
    key: LinkKey<'_>,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE upstream_links SET last_used_at = $4
         WHERE upstream_id = $1 AND issuer = $2 AND subject = $3 RETURNING user_id",
    )
    .bind(key.upstream_id)
    .bind(key.issuer)
    .bind(key.subject)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

/// Links (upstream, issuer, sub) to a user; a conflict if that pair is
/// linked already, or the user has a link to that upstream (and issuer).
pub async fn link(
    conn: &mut PgConnection,
    key: LinkKey<'_>,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO upstream_links (upstream_id, issuer, subject, user_id, created_at, last_used_at)
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(key.upstream_id)
    .bind(key.issuer)
    .bind(key.subject)
    .bind(user_id)
    .bind(now)
    .execute(conn)
    .await
    .map_err(StoreError::conflict_as(|| "this upstream account's link".to_owned()))?;
    Ok(())
}

/// How many links of upstream `id` were made at another issuer than `issuer`
/// (they no longer apply).
pub async fn former_issuer_links(conn: &mut PgConnection, id: &str, issuer: &str) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM upstream_links WHERE upstream_id = $1 AND issuer <> $2")
            .bind(id)
            .bind(issuer)
            .fetch_one(conn)
            .await?,
    )
}

/// A person's links, oldest first.
pub async fn links_of(conn: &mut PgConnection, user_id: Uuid) -> Result<Vec<LinkRow>, StoreError> {
    Ok(
        sqlx::query_as::<_, LinkRow>("SELECT * FROM upstream_links WHERE user_id = $1 ORDER BY created_at LIMIT 100")
            .bind(user_id)
            .fetch_all(conn)
            .await?,
    )
}

/// How many of a person's links are a way in: to an enabled upstream, at
/// its current issuer.
pub async fn live_links(conn: &mut PgConnection, user_id: Uuid) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM upstream_links l JOIN upstreams u
           ON u.id = l.upstream_id AND u.issuer = l.issuer AND u.enabled
         WHERE l.user_id = $1",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await?)
}

/// Whether that link of the person is a way in (see `live_links`).
pub async fn live_links_to(
    conn: &mut PgConnection,
    user_id: Uuid,
    upstream_id: &str,
    subject: &str,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM upstream_links l JOIN upstreams u
           ON u.id = l.upstream_id AND u.issuer = l.issuer AND u.enabled
         WHERE l.user_id = $1 AND l.upstream_id = $2 AND l.subject = $3)",
    )
    .bind(user_id)
    .bind(upstream_id)
    .bind(subject)
    .fetch_one(conn)
    .await?)
}

/// Removes one of a person's links; false if it is not theirs.
pub async fn unlink(
    conn: &mut PgConnection,
    user_id: Uuid,
    upstream_id: &str,
    subject: &str,
) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("DELETE FROM upstream_links WHERE user_id = $1 AND upstream_id = $2 AND subject = $3")
            .bind(user_id)
            .bind(upstream_id)
            .bind(subject)
            .execute(conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// How many links each upstream has at its current issuer (the admin page's list).
pub async fn link_counts(conn: &mut PgConnection) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT l.upstream_id, count(*) FROM upstream_links l JOIN upstreams u
           ON u.id = l.upstream_id AND u.issuer = l.issuer
         GROUP BY l.upstream_id",
    )
    .fetch_all(conn)
    .await?)
}

/// How many accounts upstream `id` is the only way in for: linked to it (at
/// its current issuer), with no password, no passkey and no link to another
/// enabled upstream. Deleting or disabling it locks them out.
pub async fn sole_way_in(conn: &mut PgConnection, id: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT count(DISTINCT x.id) FROM upstream_links l
           JOIN upstreams u ON u.id = l.upstream_id AND u.issuer = l.issuer
           JOIN users x ON x.id = l.user_id
         WHERE l.upstream_id = $1 AND x.password_hash IS NULL
           AND NOT EXISTS (SELECT 1 FROM passkeys k WHERE k.user_id = x.id)
           AND NOT EXISTS (SELECT 1 FROM upstream_links o
               JOIN upstreams ou ON ou.id = o.upstream_id AND ou.issuer = o.issuer AND ou.enabled
               WHERE o.user_id = x.id AND o.upstream_id <> $1)",
    )
    .bind(id)
    .fetch_one(conn)
    .await?)
}
