//! The `par_requests` table: pushed authorization requests (RFC 9126 §2),
//! looked up by the SHA-256 of their `request_uri`; the `request_uri` is
//! spent once, the sign-in it starts continues on the row (`carry_until`),
//! and the row yields one authorization code (`code_issued_at`).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::StoreError;

/// A pushed request to store.
pub struct NewPush<'a> {
    pub id_hash: &'a [u8; 32],
    pub client_id: &'a str,
    pub params: &'a str,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The bounds a push is stored within.
pub struct Bounds {
    /// Pushes of one client neither used nor expired.
    pub per_client: i64,
    /// Rows in the table, whatever their state (housekeeping deletes the
    /// ended ones): the table cannot outgrow it.
    pub stored: i64,
}

/// What became of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Stored,
    /// The client has `per_client` pushes waiting.
    ClientFull,
    /// The table holds `stored` rows.
    TableFull,
}

/// Stores a push unless a bound is reached (one statement, so a burst of
/// pushes cannot go far past them; each count stops at its bound).
pub async fn insert(conn: &mut PgConnection, push: &NewPush<'_>, bounds: &Bounds) -> Result<Stored, StoreError> {
    let (inserted, pending, stored): (i64, i64, i64) = sqlx::query_as(
        "WITH pending AS (
             SELECT count(*) AS n FROM (SELECT 1 FROM par_requests
                 WHERE client_id = $2 AND used_at IS NULL AND expires_at > $4 LIMIT $6) p),
         stored AS (SELECT count(*) AS n FROM (SELECT 1 FROM par_requests LIMIT $7) s),
         added AS (
             INSERT INTO par_requests (id_hash, client_id, params, created_at, expires_at)
             SELECT $1, $2, $3, $4, $5
             WHERE (SELECT n FROM pending) < $6 AND (SELECT n FROM stored) < $7
             RETURNING 1)
         SELECT (SELECT count(*) FROM added), (SELECT n FROM pending), (SELECT n FROM stored)",
    )
    .bind(push.id_hash.as_slice())
    .bind(push.client_id)
    .bind(push.params)
    .bind(push.now)
    .bind(push.expires_at)
    .bind(bounds.per_client)
    .bind(bounds.stored)
    .fetch_one(conn)
    .await?;
    Ok(match (inserted, pending, stored) {
        (1, _, _) => Stored::Stored,
        (_, p, _) if p >= bounds.per_client => Stored::ClientFull,
        _ => Stored::TableFull,
    })
}

/// Spends the `request_uri` of push `id_hash` of `client_id` if it is
/// unused and unexpired (one atomic statement); the sign-in it starts may
/// continue on the row until `carry_until`. False when it could not be spent.
pub async fn spend(
    conn: &mut PgConnection,
    id_hash: &[u8; 32],
    client_id: &str,
    now: DateTime<Utc>,
    carry_until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE par_requests SET used_at = $3, carry_until = $4
         WHERE id_hash = $1 AND client_id = $2 AND used_at IS NULL AND expires_at > $3",
    )
    .bind(id_hash.as_slice())
    .bind(client_id)
    .bind(now)
    .bind(carry_until)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The parameters of a spent push whose sign-in is under way: its
/// `request_uri` spent, its time not over, no code issued from it yet.
pub async fn carried(
    conn: &mut PgConnection,
    id_hash: &[u8; 32],
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT params FROM par_requests
         WHERE id_hash = $1 AND client_id = $2 AND used_at IS NOT NULL AND carry_until > $3
           AND code_issued_at IS NULL",
    )
    .bind(id_hash.as_slice())
    .bind(client_id)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

/// Marks the code issued from push `id_hash`, once (one atomic statement):
/// false when one was issued already (or its time is over), and no second
/// code may be.
pub async fn issue_code(
    conn: &mut PgConnection,
    id_hash: &[u8; 32],
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE par_requests SET code_issued_at = $3
         WHERE id_hash = $1 AND client_id = $2 AND used_at IS NOT NULL AND carry_until > $3
           AND code_issued_at IS NULL",
    )
    .bind(id_hash.as_slice())
    .bind(client_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
