//! What the outbox tables share — `mail_outbox` and `logout_outbox` (README
//! "Email and password reset", "Back-channel logout"): a row waits until it
//! is due, one node claims it for one attempt (`FOR UPDATE SKIP LOCKED` and
//! a lease), and the attempt ends sent, due again later, or given up.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::StoreError;

/// An outbox table; each has `id`, `created_at`, `next_attempt_at`,
/// `attempts`, `sent_at`, `failed_at` and `last_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    Mail,
    Logout,
}

impl Queue {
    fn table(self) -> &'static str {
        match self {
            Queue::Mail => "mail_outbox",
            Queue::Logout => "logout_outbox",
        }
    }

    /// Who receives a row: claims take turns between them.
    fn party(self) -> &'static str {
        match self {
            Queue::Mail => "lower(recipient)",
            Queue::Logout => "client_id",
        }
    }

    /// The columns an attempt reads (its row type's fields).
    fn columns(self) -> &'static str {
        match self {
            Queue::Mail => "id, recipient, subject, body, created_at, attempts",
            Queue::Logout => "id, client_id, sub, sid, created_at, attempts",
        }
    }
}

/// Claims up to `limit` due rows for one attempt each: their next attempt
/// moves `lease` ahead, so no other node takes them meanwhile (rows another
/// node is claiming are skipped, never waited for), and should this node die
/// they are due again once the lease ends.
pub async fn claim_due<T>(
    conn: &mut PgConnection,
    queue: Queue,
    now: DateTime<Utc>,
    lease: TimeDelta,
    limit: i64,
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let (table, columns, party) = (queue.table(), queue.columns(), queue.party());
    // Round robin over the receivers: every receiver's oldest due row comes
    // before anyone's second, so a backlog for one (a receiver that is down)
    // never holds back the others. Window functions cannot lock rows: the
    // inner query ranks, the middle one locks.
    let sql = format!(
        "UPDATE {table} SET next_attempt_at = $2, attempts = attempts + 1
         WHERE id IN (SELECT id FROM {table} WHERE id IN (
                        SELECT id FROM (SELECT id, next_attempt_at,
                                          row_number() OVER (PARTITION BY {party} ORDER BY next_attempt_at) AS turn
                                        FROM {table}
                                        WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1) due
                        ORDER BY turn, next_attempt_at LIMIT $3)
                      AND sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
                      FOR UPDATE SKIP LOCKED)
         RETURNING {columns}"
    );
    Ok(sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(now + lease)
        .bind(limit)
        .fetch_all(conn)
        .await?)
}

/// The claimed attempt: the row's id and its `attempts` when claimed.
/// Recording an outcome changes the row only while it is still that
/// attempt's (not given up meanwhile, e.g. shed from a full queue).
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    pub id: Uuid,
    pub attempts: i32,
}

/// The row left; false when the attempt was no longer the row's.
pub async fn mark_sent(
    conn: &mut PgConnection,
    queue: Queue,
    a: Attempt,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let sql = format!(
        "UPDATE {} SET sent_at = $2, last_error = NULL
         WHERE id = $1 AND attempts = $3 AND sent_at IS NULL AND failed_at IS NULL",
        queue.table()
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(a.id)
        .bind(now)
        .bind(a.attempts)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The attempt failed: try again at `retry_at`, or (with `None`) never;
/// false when the attempt was no longer the row's.
pub async fn mark_failed(
    conn: &mut PgConnection,
    queue: Queue,
    a: Attempt,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let sql = format!(
        "UPDATE {} SET last_error = $2,
           next_attempt_at = coalesce($3, next_attempt_at),
           failed_at = CASE WHEN $3::timestamptz IS NULL THEN $4 END
         WHERE id = $1 AND attempts = $5 AND sent_at IS NULL AND failed_at IS NULL",
        queue.table()
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(a.id)
        .bind(error)
        .bind(retry_at)
        .bind(now)
        .bind(a.attempts)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives up (at most `batch` of) the oldest rows still to send beyond the
/// newest `keep`: a queue past its limit drops its oldest work. Returns
/// the rows given up.
pub async fn shed_beyond<T>(
    conn: &mut PgConnection,
    queue: Queue,
    keep: i64,
    batch: i64,
    now: DateTime<Utc>,
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let (table, columns) = (queue.table(), queue.columns());
    let sql = format!(
        "UPDATE {table} SET failed_at = $1, last_error = 'the queue was full'
         WHERE id IN (SELECT id FROM {table} WHERE sent_at IS NULL AND failed_at IS NULL
                      ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING {columns}"
    );
    Ok(sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(keep)
        .bind(batch)
        .fetch_all(conn)
        .await?)
}
