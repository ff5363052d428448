//! The tables of single-use tokens already accepted, so that each is
//! accepted once across every node: DPoP proofs (`dpop_proof_jtis`, RFC 9449
//! §11.1), client assertions (`client_assertion_jtis`, RFC 7523 §3 item 7)
//! and sign-ins completed after their second step (`pending_sign_in_nonces`).
//! Each row is the SHA-256 of who signed and the `jti`, kept until it could
//! no longer be accepted anyway; housekeeping deletes it after.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::StoreError;

/// Which single-use tokens a table remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JtiTable {
    DpopProofs,
    ClientAssertions,
    /// Sign-ins completed after their second step (each pending value once).
    PendingSignIns,
}

impl JtiTable {
    fn name(self) -> &'static str {
        match self {
            JtiTable::DpopProofs => "dpop_proof_jtis",
            JtiTable::ClientAssertions => "client_assertion_jtis",
            JtiTable::PendingSignIns => "pending_sign_in_nonces",
        }
    }
}

/// Records one hash; `false` when it was seen before.
pub async fn first_use(
    conn: &mut PgConnection,
    table: JtiTable,
    jti_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let sql = format!(
        "INSERT INTO {} (jti_hash, expires_at) VALUES ($1, $2) ON CONFLICT (jti_hash) DO NOTHING",
        table.name()
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(jti_hash)
        .bind(expires_at)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}

/// Records many hashes in one statement (duplicates within `hashes` count
/// once); returns those recorded now — the others were seen before.
pub async fn first_uses(
    conn: &mut PgConnection,
    table: JtiTable,
    hashes: &[Vec<u8>],
    expires_at: &[DateTime<Utc>],
) -> Result<Vec<Vec<u8>>, StoreError> {
    let sql = format!(
        "INSERT INTO {} (jti_hash, expires_at) SELECT * FROM unnest($1::bytea[], $2::timestamptz[])
         ON CONFLICT (jti_hash) DO NOTHING RETURNING jti_hash",
        table.name()
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(hashes)
        .bind(expires_at)
        .fetch_all(conn)
        .await?)
}
