//! The `grants` table: one authorization each, with its refresh family and access tokens.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;
use crate::model::lifecycle::GrantState;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GrantRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub client_id: String,
    pub session_id: Option<Uuid>,
    pub consent_id: Option<Uuid>,
    pub scopes: Vec<String>,
    pub resources: Vec<String>,
    /// `{"<audience>": ["scope", …]}`: the API scopes this grant covers.
    pub api_scopes: Value,
    pub claims: Option<Value>,
    pub auth_time: DateTime<Utc>,
    pub offline: bool,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// `authorization_code`, or the token-exchange grant type.
    pub grant_type: String,
    /// The offline grant whose refreshed id_token an exchange stands on.
    pub parent_grant_id: Option<Uuid>,
    /// When what the grant rests on is over at the latest.
    pub expires_at: Option<DateTime<Utc>>,
    /// The DPoP key the grant is bound to (RFC 9449 §5, §10): its refresh
    /// tokens, and the id_tokens it issued, need a proof of it.
    pub dpop_jkt: Option<String>,
    /// How the person signed in (RFC 8176), for every token it issues.
    pub amr: Vec<String>,
}

impl GrantRow {
    pub fn state(&self) -> GrantState {
        GrantState::of(self.revoked_at)
    }
}

/// The columns a grant is written with, in the order `bind_columns` binds them.
const INSERT_COLUMNS: &str =
    "INSERT INTO grants (id, user_id, client_id, session_id, consent_id, scopes, resources, claims,
    auth_time, offline, created_at, api_scopes, grant_type, parent_grant_id, expires_at, dpop_jkt, amr)";

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds `INSERT_COLUMNS` as $1 … $17.
fn bind_columns<'q>(query: PgQuery<'q>, g: &'q GrantRow) -> PgQuery<'q> {
    query
        .bind(g.id)
        .bind(g.user_id)
        .bind(&g.client_id)
        .bind(g.session_id)
        .bind(g.consent_id)
        .bind(&g.scopes)
        .bind(&g.resources)
        .bind(&g.claims)
        .bind(g.auth_time)
        .bind(g.offline)
        .bind(g.created_at)
        .bind(&g.api_scopes)
        .bind(&g.grant_type)
        .bind(g.parent_grant_id)
        .bind(g.expires_at)
        .bind(&g.dpop_jkt)
        .bind(&g.amr)
}

pub async fn insert(conn: &mut PgConnection, g: &GrantRow) -> Result<(), StoreError> {
    let sql =
        format!("{INSERT_COLUMNS} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)");
    bind_columns(sqlx::query(sqlx::AssertSqlSafe(sql)), g)
        .execute(conn)
        .await?;
    Ok(())
}

/// Writes an exchange's grant only if the session named by `sid` is live (not
/// ended, not past its absolute or idle expiry) and belongs to the grant's
/// user, who is enabled — one round trip for the check and the write. The
/// grant ends with the session's absolute expiry. The session row is share-
/// locked: a sign-out committing meanwhile waits for this grant and then
/// revokes it, or ends the session first and no grant is written. Returns the session, the
/// grant's `auth_time` (the given one, else the session's) and its expiry, or
/// `None` when nothing was written.
pub async fn insert_for_live_session(
    conn: &mut PgConnection,
    g: &GrantRow,
    sid: &str,
    auth_time: Option<DateTime<Utc>>,
    idle_secs: i64,
) -> Result<Option<(Uuid, DateTime<Utc>, DateTime<Utc>)>, StoreError> {
    Ok(sqlx::query_as(
        "INSERT INTO grants (id, user_id, client_id, session_id, consent_id, scopes, resources, claims, auth_time, offline, created_at, api_scopes,
            grant_type, expires_at, dpop_jkt, amr)
         SELECT $1, s.user_id, $3, s.id, NULL, $4, $5, NULL, coalesce($6, s.auth_time), false, $7, $8, $11, s.expires_at, $12,
                $13
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.sid = $9 AND s.user_id = $2 AND s.ended_at IS NULL AND u.disabled_at IS NULL
           AND s.expires_at > $7 AND s.last_seen_at + make_interval(secs => $10) > $7
         FOR SHARE OF s
         RETURNING session_id, auth_time, expires_at",
    )
    .bind(g.id)
    .bind(g.user_id)
    .bind(&g.client_id)
    .bind(&g.scopes)
    .bind(&g.resources)
    .bind(auth_time)
    .bind(g.created_at)
    .bind(&g.api_scopes)
    .bind(sid)
    .bind(idle_secs as f64)
    .bind(&g.grant_type)
    .bind(&g.dpop_jkt)
    .bind(&g.amr)
    .fetch_optional(conn)
    .await?)
}

/// Writes an exchange's grant only if what it rests on is still there when
/// it is written: its parent grant not revoked, or else its session live
/// (share-locked, as in `insert_for_live_session`, so a revocation or a
/// sign-out racing it either waits for it and revokes it too, or wins), and
/// its user enabled. Returns whether it was written.
pub async fn insert_if_standing(conn: &mut PgConnection, g: &GrantRow, idle_secs: i64) -> Result<bool, StoreError> {
    let sql = format!(
        "{INSERT_COLUMNS}
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17
         WHERE CASE WHEN $14::uuid IS NULL THEN
                 EXISTS (SELECT 1 FROM sessions s WHERE s.id = $4 AND s.ended_at IS NULL AND s.expires_at > $11
                           AND s.last_seen_at + make_interval(secs => $18) > $11 FOR SHARE)
               ELSE EXISTS (SELECT 1 FROM grants p WHERE p.id = $14 AND p.revoked_at IS NULL FOR SHARE)
               END
           AND EXISTS (SELECT 1 FROM users u WHERE u.id = $2 AND u.disabled_at IS NULL)"
    );
    let written = bind_columns(sqlx::query(sqlx::AssertSqlSafe(sql)), g)
        .bind(idle_secs as f64)
        .execute(conn)
        .await?;
    Ok(written.rows_affected() == 1)
}

const COLUMNS: &str = "id, user_id, client_id, session_id, consent_id, scopes, resources, api_scopes, claims, auth_time, offline, created_at, revoked_at, grant_type, parent_grant_id, expires_at, dpop_jkt, amr";

pub async fn find(conn: &mut PgConnection, id: Uuid) -> Result<Option<GrantRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM grants WHERE id = $1");
    Ok(sqlx::query_as::<_, GrantRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

/// Binds an unbound grant to a DPoP key (RFC 9449 §5: a public client's
/// refresh tokens are bound to the key it first refreshes with).
pub async fn bind_dpop(conn: &mut PgConnection, id: Uuid, jkt: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE grants SET dpop_jkt = $2 WHERE id = $1 AND dpop_jkt IS NULL")
        .bind(id)
        .bind(jkt)
        .execute(conn)
        .await?;
    Ok(())
}

/// Revokes a grant and its refresh family (its access tokens are refused by
/// grant id), and every grant that stands on it, down the chain.
pub async fn revoke(conn: &mut PgConnection, id: Uuid, reason: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query("UPDATE grants SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .bind(now)
        .bind(reason)
        .execute(&mut *conn)
        .await?;
    revoke_descendants(conn, &[id], reason, now).await?;
    sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Revokes every grant standing on one of `roots`, however far down (an
/// exchange on a refreshed id_token, a delegation on an exchange, …). In
/// statements of their own, after the roots': a grant being written
/// meanwhile share-locks its parent, so it is either refused or committed
/// before the update reaches the parent — then the next round sees it. The
/// rounds end when one revokes nothing.
pub async fn revoke_descendants(
    conn: &mut PgConnection,
    roots: &[Uuid],
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if roots.is_empty() {
        return Ok(());
    }
    loop {
        let revoked = sqlx::query(
            "WITH RECURSIVE chain(id) AS (
                 SELECT id FROM grants WHERE parent_grant_id = ANY($1)
                 UNION SELECT g.id FROM grants g JOIN chain c ON g.parent_grant_id = c.id)
             UPDATE grants SET revoked_at = $2, revoked_reason = $3
             WHERE id IN (SELECT id FROM chain) AND revoked_at IS NULL",
        )
        .bind(roots)
        .bind(now)
        .bind(reason)
        .execute(&mut *conn)
        .await?;
        if revoked.rows_affected() == 0 {
            return Ok(());
        }
    }
}

/// Which of a user's grants [`revoke_of_user`] revokes.
#[derive(Debug, Clone, Copy)]
pub enum UserGrants<'a> {
    /// Every one (a password reset, a disabled account).
    All,
    /// Those issued to one client (a consent withdrawn by its person).
    OfClient(&'a str),
    /// Those not made in this session (a password changed in it).
    NotOfSession(Uuid),
}

/// Revokes every grant of a user, with their refresh families (a password
/// reset, a disabled account).
pub async fn revoke_all_of_user(
    conn: &mut PgConnection,
    user_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    revoke_of_user(conn, user_id, UserGrants::All, reason, now).await
}

/// Revokes `which` of a user's grants, with their refresh families and
/// every grant standing on them (what was exchanged or delegated from them).
pub async fn revoke_of_user(
    conn: &mut PgConnection,
    user_id: Uuid,
    which: UserGrants<'_>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (client_id, not_session) = match which {
        UserGrants::All => (None, None),
        UserGrants::OfClient(client_id) => (Some(client_id), None),
        UserGrants::NotOfSession(session_id) => (None, Some(session_id)),
    };
    let revoked: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE grants SET revoked_at = $2, revoked_reason = $3
         WHERE user_id = $1 AND revoked_at IS NULL
           AND ($4::text IS NULL OR client_id = $4) AND ($5::uuid IS NULL OR session_id IS DISTINCT FROM $5)
         RETURNING id",
    )
    .bind(user_id)
    .bind(now)
    .bind(reason)
    .bind(client_id)
    .bind(not_session)
    .fetch_all(&mut *conn)
    .await?;
    // A grant written on one of them meanwhile (a delegation) is caught too.
    revoke_descendants(conn, &revoked, reason, now).await?;
    sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE grant_id = ANY($1) AND revoked_at IS NULL")
        .bind(&revoked)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Revokes the grants of a session that do not outlive it (no `offline_access`).
pub async fn revoke_online_of_session(
    conn: &mut PgConnection,
    session_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM grants WHERE session_id = $1 AND NOT offline AND revoked_at IS NULL")
            .bind(session_id)
            .fetch_all(&mut *conn)
            .await?;
    for id in ids {
        revoke(conn, id, reason, now).await?;
    }
    Ok(())
}

/// A user's grants that are not revoked, newest first.
pub async fn list_live_for_user(conn: &mut PgConnection, user_id: Uuid) -> Result<Vec<GrantRow>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM grants WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC");
    Ok(sqlx::query_as::<_, GrantRow>(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_all(conn)
        .await?)
}

/// Revokes the exchanges of `client_id` for `audience` whose scopes are no
/// longer all within its allowance `allowed` (they rested on it).
pub async fn revoke_exchanges_beyond_allowance(
    conn: &mut PgConnection,
    client_id: &str,
    audience: &str,
    allowed: &[String],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let revoked: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE grants SET revoked_at = $4, revoked_reason = 'allowance withdrawn'
         WHERE client_id = $1 AND grant_type = $5 AND revoked_at IS NULL
           AND api_scopes ? $2 AND NOT (api_scopes -> $2) <@ to_jsonb($3::text[])
         RETURNING id",
    )
    .bind(client_id)
    .bind(audience)
    .bind(allowed)
    .bind(now)
    .bind(crate::model::GrantType::TokenExchange.as_str())
    .fetch_all(&mut *conn)
    .await?;
    revoke_descendants(conn, &revoked, "the grant it rests on was revoked", now).await?;
    Ok(revoked.len() as u64)
}

/// Revokes every grant made under a consent.
pub async fn revoke_for_consent(
    conn: &mut PgConnection,
    consent_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM grants WHERE consent_id = $1 AND revoked_at IS NULL")
        .bind(consent_id)
        .fetch_all(&mut *conn)
        .await?;
    for id in ids {
        revoke(conn, id, "consent withdrawn", now).await?;
    }
    Ok(())
}

/// Revokes every live exchange for `audience` (the API is going away).
pub async fn revoke_exchanges_for_api(
    conn: &mut PgConnection,
    audience: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let revoked: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE grants SET revoked_at = $2, revoked_reason = 'API deleted'
         WHERE grant_type = $3 AND revoked_at IS NULL AND $1 = ANY(resources)
         RETURNING id",
    )
    .bind(audience)
    .bind(now)
    .bind(crate::model::GrantType::TokenExchange.as_str())
    .fetch_all(&mut *conn)
    .await?;
    revoke_descendants(conn, &revoked, "the grant it rests on was revoked", now).await?;
    Ok(revoked.len() as u64)
}
