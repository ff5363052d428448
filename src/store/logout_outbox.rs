//! The `logout_outbox` table (OpenID Connect Back-Channel Logout 1.0 §2.5):
//! a logout token to send per ended session and client that received tokens
//! in it. Rows are written right after the statement that ends a session
//! (`sessions::end`, `sessions::end_all_of_user`), in its transaction, or
//! when a code is redeemed in a session that has ended;
//! they are claimed and retried as every outbox is (`store::outbox`,
//! `Queue::Logout`).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;

/// Queues a logout token for each of the sessions `ids` (just ended) and
/// each client that received tokens in it (any grant of the session) and
/// registered a back-channel logout URI. Run after the statement that ended
/// them, in its transaction: as a statement of its own, it sees the grants
/// committed while that statement waited for the sessions' rows (a code
/// redeemed at that moment; see [`enqueue_if_ended`] for the other order).
pub async fn enqueue_for_sessions(conn: &mut PgConnection, ids: &[Uuid], now: DateTime<Utc>) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO logout_outbox (id, client_id, sub, sid, created_at, next_attempt_at)
         SELECT gen_random_uuid(), c.client_id, e.user_id::text, e.sid, $2, $2
         FROM sessions e
         JOIN (SELECT DISTINCT session_id, client_id FROM grants WHERE session_id = ANY($1)) g ON g.session_id = e.id
         JOIN clients c ON c.client_id = g.client_id
         WHERE e.id = ANY($1) AND c.backchannel_logout_uri IS NOT NULL
         ON CONFLICT (sid, client_id) DO NOTHING",
    )
    .bind(ids)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A client just received tokens in session `session_id` (a code redeemed):
/// if that session has ended, its logout token for this client is queued
/// now (once). The session's row is share-locked, so a session ending at
/// this moment either waits for this transaction (and then sees its grant)
/// or has ended before this statement reads it.
pub async fn enqueue_if_ended(
    conn: &mut PgConnection,
    session_id: Uuid,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "WITH s AS (SELECT id, sid, user_id, ended_at FROM sessions WHERE id = $1 FOR SHARE)
         INSERT INTO logout_outbox (id, client_id, sub, sid, created_at, next_attempt_at)
         SELECT gen_random_uuid(), c.client_id, s.user_id::text, s.sid, $3, $3
         FROM s JOIN clients c ON c.client_id = $2
         WHERE s.ended_at IS NOT NULL AND c.backchannel_logout_uri IS NOT NULL
         ON CONFLICT (sid, client_id) DO NOTHING",
    )
    .bind(session_id)
    .bind(client_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A logout token to send, claimed for one attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogoutRow {
    pub id: Uuid,
    pub client_id: String,
    /// The user's `sub`.
    pub sub: String,
    /// The ended session's public `sid`.
    pub sid: String,
    pub created_at: DateTime<Utc>,
    /// Attempts so far, this one included.
    pub attempts: i32,
}

/// A delivery as the audit page and tests see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogoutLine {
    pub id: Uuid,
    pub client_id: String,
    pub sub: String,
    pub sid: String,
    pub attempts: i32,
    pub sent_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// The deliveries for a session's `sid`, oldest first.
pub async fn of_sid(conn: &mut PgConnection, sid: &str) -> Result<Vec<LogoutLine>, StoreError> {
    Ok(sqlx::query_as::<_, LogoutLine>(
        "SELECT id, client_id, sub, sid, attempts, sent_at, failed_at, last_error FROM logout_outbox
         WHERE sid = $1 ORDER BY created_at, client_id",
    )
    .bind(sid)
    .fetch_all(conn)
    .await?)
}
