//! The `logout_outbox` table (OpenID Connect Back-Channel Logout 1.0 §2.5):
//! a logout token to send per ended session and client that received tokens
//! in it. Rows are written by the very statement that ends a session
//! (`sessions::end`, `sessions::end_all_of_user`), so in its transaction;
//! they are claimed and retried as every outbox is (`store::outbox`,
//! `Queue::Logout`).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;

/// Completes a statement that begins with a CTE `ended (id, sid, user_id)`
/// of the sessions it has just ended: one row per such session and client
/// that received tokens in it (any grant of the session) and registered a
/// back-channel logout URI. `$2` is the time.
pub(super) const ENQUEUE_FOR_ENDED: &str = "
    INSERT INTO logout_outbox (id, client_id, sub, sid, created_at, next_attempt_at)
    SELECT gen_random_uuid(), c.client_id, e.user_id::text, e.sid, $2, $2
    FROM ended e
    JOIN (SELECT DISTINCT session_id, client_id FROM grants) g ON g.session_id = e.id
    JOIN clients c ON c.client_id = g.client_id
    WHERE c.backchannel_logout_uri IS NOT NULL";

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
