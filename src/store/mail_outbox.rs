//! The `mail_outbox` table: mail waiting to leave, claimed by one node at a
//! time and retried with backoff (`store::outbox`, `Queue::Mail`).

use chrono::{DateTime, Utc};
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
