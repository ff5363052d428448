//! The `sessions` table: browser sign-in sessions, keyed by the SHA-256 of the cookie.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;
use super::logout_outbox;
use crate::model::lifecycle::SessionState;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: Uuid,
    pub sid: String,
    pub user_id: Uuid,
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl SessionRow {
    /// Its state now, given the idle timeout.
    pub fn state(&self, idle: chrono::TimeDelta, now: DateTime<Utc>) -> SessionState {
        SessionState::of(self.ended_at.is_some(), self.expires_at, self.last_seen_at, idle, now)
    }
}

pub struct NewSession<'a> {
    pub id: Uuid,
    pub token_hash: &'a [u8],
    pub sid: &'a str,
    pub user_id: Uuid,
    /// When the person authenticated (OIDC Core §2 `auth_time`): `now`,
    /// or an upstream's `auth_time`.
    pub auth_time: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// How the person signed in (RFC 8176 `amr` values).
    pub amr: &'a [String],
}

pub async fn insert(conn: &mut PgConnection, s: &NewSession<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (id, token_hash, sid, user_id, auth_time, amr, created_at, last_seen_at, expires_at, ip, user_agent)
         VALUES ($1, $2, $3, $4, $10, $9, $5, $5, $6, $7, $8)",
    )
    .bind(s.id)
    .bind(s.token_hash)
    .bind(s.sid)
    .bind(s.user_id)
    .bind(s.now)
    .bind(s.expires_at)
    .bind(s.ip)
    .bind(s.user_agent)
    .bind(s.amr)
    .bind(s.auth_time)
    .execute(conn)
    .await?;
    Ok(())
}

/// A live session: not ended, not past its absolute or idle expiry.
pub async fn find_live(
    conn: &mut PgConnection,
    token_hash: &[u8],
    now: DateTime<Utc>,
    idle_secs: i64,
) -> Result<Option<SessionRow>, StoreError> {
    Ok(sqlx::query_as::<_, SessionRow>(
        "SELECT id, sid, user_id, auth_time, amr, created_at, last_seen_at, expires_at, ended_at FROM sessions
         WHERE token_hash = $1 AND ended_at IS NULL AND expires_at > $2
           AND last_seen_at + make_interval(secs => $3) > $2",
    )
    .bind(token_hash)
    .bind(now)
    .bind(idle_secs as f64)
    .fetch_optional(conn)
    .await?)
}

pub async fn find_by_sid(conn: &mut PgConnection, sid: &str) -> Result<Option<SessionRow>, StoreError> {
    Ok(sqlx::query_as::<_, SessionRow>(
        "SELECT id, sid, user_id, auth_time, amr, created_at, last_seen_at, expires_at, ended_at FROM sessions WHERE sid = $1",
    )
    .bind(sid)
    .fetch_optional(conn)
    .await?)
}

/// The session an id_token's `sid` names, with whether its user is still
/// enabled and whether the session is live: what a token exchange checks, in
/// one round trip. When the session is not live, the offline grant of that
/// sign-in and `client_id` that still has a live refresh token (an id_token
/// refreshed from it stands for it), with when that refresh token ends.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubjectSession {
    pub id: Uuid,
    pub auth_time: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub signed_out: bool,
    /// Not ended, not past its absolute or idle expiry.
    pub live: bool,
    pub user_enabled: bool,
    pub offline_grant_id: Option<Uuid>,
    pub offline_until: Option<DateTime<Utc>>,
}

pub async fn subject_session(
    conn: &mut PgConnection,
    sid: &str,
    user_id: Uuid,
    client_id: &str,
    now: DateTime<Utc>,
    idle_secs: i64,
) -> Result<Option<SubjectSession>, StoreError> {
    Ok(sqlx::query_as::<_, SubjectSession>(
        "SELECT s.id, s.auth_time, s.expires_at, s.ended_at IS NOT NULL AS signed_out,
                (s.ended_at IS NULL AND s.expires_at > $4 AND s.last_seen_at + make_interval(secs => $5) > $4) AS live,
                u.disabled_at IS NULL AS user_enabled, o.id AS offline_grant_id, o.until AS offline_until
         FROM sessions s JOIN users u ON u.id = s.user_id
         LEFT JOIN LATERAL (
           SELECT g.id, max(least(r.idle_expires_at, r.expires_at)) AS until
           FROM grants g JOIN refresh_tokens r ON r.grant_id = g.id
           WHERE g.session_id = s.id AND g.client_id = $3 AND g.offline AND g.revoked_at IS NULL
             AND r.rotated_at IS NULL AND r.revoked_at IS NULL AND r.idle_expires_at > $4 AND r.expires_at > $4
           GROUP BY g.id ORDER BY until DESC LIMIT 1
         ) o ON true
         WHERE s.sid = $1 AND s.user_id = $2",
    )
    .bind(sid)
    .bind(user_id)
    .bind(client_id)
    .bind(now)
    .bind(idle_secs as f64)
    .fetch_optional(conn)
    .await?)
}

/// Whether a session is live now (for refresh tokens bound to it).
pub async fn is_live(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
    idle_secs: i64,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1 AND ended_at IS NULL AND expires_at > $2
           AND last_seen_at + make_interval(secs => $3) > $2)",
    )
    .bind(id)
    .bind(now)
    .bind(idle_secs as f64)
    .fetch_one(conn)
    .await?)
}

/// A live session proven again (a re-authentication or a step-up): its
/// methods, its authentication time and its cookie change; false if it
/// ended meanwhile.
pub async fn reauthenticate(
    conn: &mut PgConnection,
    id: Uuid,
    token_hash: &[u8],
    amr: &[String],
    (auth_time, now): (DateTime<Utc>, DateTime<Utc>),
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE sessions SET token_hash = $2, amr = $3, auth_time = $4, last_seen_at = $5
         WHERE id = $1 AND ended_at IS NULL",
    )
    .bind(id)
    .bind(token_hash)
    .bind(amr)
    .bind(auth_time)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn touch(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends a session, and in the same transaction queues a back-channel
/// logout token for each client that received tokens in it (`logout_outbox`).
pub async fn end(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    end_where(conn, "id = $1", id, now).await
}

/// Ends every session of a user, queueing their back-channel logout tokens
/// as [`end`] does.
pub async fn end_all_of_user(conn: &mut PgConnection, user_id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    end_where(conn, "user_id = $1", user_id, now).await
}

/// Ends the sessions `condition` (on `$1`) picks that have not ended, then
/// queues their logout tokens (a second statement: it sees a grant committed
/// while this one waited for a session's row).
async fn end_where(conn: &mut PgConnection, condition: &str, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    let sql = format!("UPDATE sessions SET ended_at = $2 WHERE {condition} AND ended_at IS NULL RETURNING id");
    let ended: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
    logout_outbox::enqueue_for_sessions(conn, &ended, now).await
}

/// The public `sid` of a session.
pub async fn find_sid(conn: &mut PgConnection, id: Uuid) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT sid FROM sessions WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

/// A user's sessions that have not ended, newest first.
pub async fn list_for_user(conn: &mut PgConnection, user_id: Uuid) -> Result<Vec<SessionRow>, StoreError> {
    Ok(sqlx::query_as::<_, SessionRow>(
        "SELECT id, sid, user_id, auth_time, amr, created_at, last_seen_at, expires_at, ended_at FROM sessions
         WHERE user_id = $1 AND ended_at IS NULL ORDER BY created_at DESC",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?)
}

/// A live session as its person sees it on the account page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionLine {
    pub id: Uuid,
    pub auth_time: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A user's live sessions (not ended, not past their absolute or idle
/// expiry), most recently seen first.
pub async fn list_live_of_user(
    conn: &mut PgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
    idle_secs: i64,
) -> Result<Vec<SessionLine>, StoreError> {
    Ok(sqlx::query_as::<_, SessionLine>(
        "SELECT id, auth_time, created_at, last_seen_at, ip, user_agent FROM sessions
         WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2
           AND last_seen_at + make_interval(secs => $3) > $2
         ORDER BY last_seen_at DESC, created_at DESC",
    )
    .bind(user_id)
    .bind(now)
    .bind(idle_secs as f64)
    .fetch_all(conn)
    .await?)
}

/// The sessions of a user that have not ended, but `except`.
pub async fn open_ids_of_user_except(
    conn: &mut PgConnection,
    user_id: Uuid,
    except: Uuid,
) -> Result<Vec<Uuid>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM sessions WHERE user_id = $1 AND ended_at IS NULL AND id <> $2")
            .bind(user_id)
            .bind(except)
            .fetch_all(conn)
            .await?,
    )
}

/// Whether session `id` is `user_id`'s and has not ended.
pub async fn is_open_of_user(conn: &mut PgConnection, id: Uuid, user_id: Uuid) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1 AND user_id = $2 AND ended_at IS NULL)",
        )
        .bind(id)
        .bind(user_id)
        .fetch_one(conn)
        .await?,
    )
}

/// Sessions not ended and not past their absolute expiry.
pub async fn count_active(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE ended_at IS NULL AND expires_at > $1")
            .bind(now)
            .fetch_one(conn)
            .await?,
    )
}
