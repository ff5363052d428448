//! The `mail_outbox` table: mail waiting to leave, claimed by one node at a
//! time (`FOR UPDATE SKIP LOCKED`) and retried with backoff.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;

/// A message to send.
pub struct NewMail<'a> {
    pub recipient: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
}

/// Queues a message, due at once; returns its id. Runs in the caller's
/// transaction, so the mail leaves only if the change that causes it commits.
pub async fn insert(conn: &mut PgConnection, mail: &NewMail<'_>, now: DateTime<Utc>) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO mail_outbox (id, recipient, subject, body, created_at, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(id)
    .bind(mail.recipient)
    .bind(mail.subject)
    .bind(mail.body)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(id)
}

/// A message claimed for one attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MailRow {
    pub id: Uuid,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    /// Attempts so far, this one included.
    pub attempts: i32,
}

/// Claims up to `limit` due messages for one attempt each: their next
/// attempt moves `lease` ahead, so no other node takes them meanwhile (rows
/// another node is claiming are skipped, never waited for), and should this
/// node die the messages are due again once the lease ends.
pub async fn claim_due(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    lease: TimeDelta,
    limit: i64,
) -> Result<Vec<MailRow>, StoreError> {
    Ok(sqlx::query_as::<_, MailRow>(
        "UPDATE mail_outbox SET next_attempt_at = $2, attempts = attempts + 1
         WHERE id IN (SELECT id FROM mail_outbox
                      WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
                      ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING id, recipient, subject, body, created_at, attempts",
    )
    .bind(now)
    .bind(now + lease)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// The message left.
pub async fn mark_sent(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query("UPDATE mail_outbox SET sent_at = $2, last_error = NULL WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// The attempt failed: try again at `retry_at`, or (with `None`) never.
pub async fn mark_failed(
    conn: &mut PgConnection,
    id: Uuid,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE mail_outbox SET last_error = $2,
           next_attempt_at = coalesce($3, next_attempt_at),
           failed_at = CASE WHEN $3::timestamptz IS NULL THEN $4 END
         WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(retry_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
