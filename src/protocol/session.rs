//! Browser sessions: one row per sign-in, found by the SHA-256 of the cookie.

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::Provider;
use super::error::OAuthError;
use crate::crypto::secret;
use crate::store::grants;
use crate::store::sessions::{self, NewSession};
use crate::store::users::{self, UserRow};

/// How stale `last_seen_at` may get before a request refreshes it (saves writes).
const TOUCH_AFTER: TimeDelta = TimeDelta::seconds(60);
/// Sensitive changes — an admin's to keys, secrets and roles, and every
/// change a person makes to their own account — need a sign-in at most this
/// old (OIDC Core §3.1.2.1 `max_age` is the same idea for relying parties).
pub const RECENT_SIGN_IN: TimeDelta = TimeDelta::minutes(15);

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub id: Uuid,
    /// The public session id (`sid` in id_tokens): never the cookie or its hash.
    pub sid: String,
    pub user: UserRow,
    pub auth_time: DateTime<Utc>,
    /// How the person signed in (RFC 8176 `amr` values).
    pub amr: Vec<String>,
}

impl CurrentSession {
    /// Whether the person signed in (typed their password) within [`RECENT_SIGN_IN`].
    pub fn signed_in_recently(&self, now: DateTime<Utc>) -> bool {
        now - self.auth_time <= RECENT_SIGN_IN
    }
}

/// The live session behind a cookie value, if any (idle and absolute expiry,
/// user still enabled).
pub async fn current(p: &Provider, cookie: Option<&str>) -> Result<Option<CurrentSession>, OAuthError> {
    let Some(cookie) = cookie else { return Ok(None) };
    let now = p.now();
    let mut conn = p.pool.acquire().await?;
    let idle = p.config.lifetimes.session_idle.num_seconds();
    let Some(row) = sessions::find_live(&mut conn, &secret::sha256(cookie), now, idle).await? else {
        return Ok(None);
    };
    let Some(user) = users::find(&mut conn, row.user_id).await?.filter(UserRow::is_enabled) else {
        return Ok(None);
    };
    if now - row.last_seen_at > TOUCH_AFTER {
        sessions::touch(&mut conn, row.id, now).await?;
    }
    Ok(Some(CurrentSession {
        id: row.id,
        sid: row.sid,
        user,
        auth_time: row.auth_time,
        amr: row.amr,
    }))
}

#[derive(Debug, Clone, Copy)]
/// Where a sign-in comes from: the browser's previous session cookie (that
/// session ends), its address and user agent.
pub struct Origin<'a> {
    pub previous_cookie: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// Starts a session for a user who just signed in with `amr` (RFC 8176); a
/// session the browser already had for someone else ends (a new session id
/// at every sign-in). The same person signing in again on their own live
/// session (a re-authentication: `prompt=login`, `max_age`, a recent
/// sign-in for a sensitive change) keeps it — its `sid` and its grants — with
/// a new cookie, this sign-in's methods and `auth_time`. Returns the cookie
/// value.
pub async fn start(p: &Provider, user_id: Uuid, amr: &[String], from: &Origin<'_>) -> Result<String, OAuthError> {
    start_at(p, user_id, amr, None, from).await
}

/// `start`, the person having authenticated at `auth_time` (an upstream's
/// `auth_time`, OIDC Core §2) rather than now; never later than now.
pub async fn start_at(
    p: &Provider,
    user_id: Uuid,
    amr: &[String],
    auth_time: Option<DateTime<Utc>>,
    from: &Origin<'_>,
) -> Result<String, OAuthError> {
    let Origin {
        previous_cookie,
        ip,
        user_agent,
    } = *from;
    let now = p.now();
    let auth_time = auth_time.map_or(now, |t| t.min(now));
    let mut rng = crate::random::rng();
    let cookie = secret::random_token(&mut rng);
    let sid = secret::random_token(&mut rng);
    let mut tx = p.pool.begin().await?;
    if let Some(previous) = previous_cookie {
        let idle = p.config.lifetimes.session_idle.num_seconds();
        if let Some(old) = sessions::find_live(&mut tx, &secret::sha256(previous), now, idle).await? {
            if old.user_id == user_id
                && sessions::reauthenticate(&mut tx, old.id, &secret::sha256(&cookie), amr, (auth_time, now)).await?
            {
                tx.commit().await?;
                return Ok(cookie);
            }
            end_in(&mut tx, old.id, now).await?;
        }
    }
    let user_agent = user_agent.map(|ua| ua.chars().take(300).collect::<String>());
    sessions::insert(
        &mut tx,
        &NewSession {
            id: Uuid::now_v7(),
            token_hash: &secret::sha256(&cookie),
            sid: &sid,
            user_id,
            auth_time,
            now,
            expires_at: now + p.config.lifetimes.session,
            ip,
            user_agent: user_agent.as_deref(),
            amr,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(cookie)
}

/// Steps a live session up after the person proved more (`amr` now): the
/// same session, with a new cookie (the old one stops working). Its
/// authentication time stays: a second factor alone does not make the
/// password recent again (`max_age`, the recent sign-in of sensitive
/// changes). `None` if the session ended meanwhile.
pub async fn step_up(p: &Provider, session: &CurrentSession, amr: &[String]) -> Result<Option<String>, OAuthError> {
    let cookie = secret::random_token(&mut crate::random::rng());
    let mut conn = p.pool.acquire().await?;
    let times = (session.auth_time, p.now());
    let live = sessions::reauthenticate(&mut conn, session.id, &secret::sha256(&cookie), amr, times).await?;
    Ok(live.then_some(cookie))
}

/// Ends a session; refresh tokens without `offline_access` end with it (OIDC Core §11).
pub async fn end(p: &Provider, session_id: Uuid) -> Result<(), OAuthError> {
    let mut tx = p.pool.begin().await?;
    end_in(&mut tx, session_id, p.now()).await?;
    tx.commit().await?;
    Ok(())
}

/// Ends a session within a transaction; its grants without
/// `offline_access` end with it (OIDC Core §11).
pub(crate) async fn end_in(
    conn: &mut sqlx::PgConnection,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    sessions::end(conn, session_id, now).await?;
    grants::revoke_online_of_session(conn, session_id, "session ended", now).await?;
    Ok(())
}
