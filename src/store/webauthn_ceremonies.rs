//! The `webauthn_ceremonies` table: a WebAuthn ceremony's state between the
//! options sent to the browser and its answer. A row is taken by one
//! `DELETE … RETURNING`, so a ceremony finishes once, on any node (W3C
//! WebAuthn §13.4.3: a challenge is used once).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use super::StoreError;

pub struct NewCeremony<'a> {
    pub id: Uuid,
    /// `register`, `sign_in` or `second_step`.
    pub purpose: &'a str,
    pub user_id: Option<Uuid>,
    /// SHA-256 of what the ceremony belongs to.
    pub binding: &'a [u8],
    pub state: &'a Value,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut PgConnection, c: &NewCeremony<'_>) -> Result<(), StoreError> {
    // One browser (one binding) keeps at most two ceremonies of a purpose
    // under way — the autofill's and a button's: older ones go.
    sqlx::query(
        "DELETE FROM webauthn_ceremonies WHERE purpose = $1 AND binding = $2 AND id NOT IN
           (SELECT id FROM webauthn_ceremonies WHERE purpose = $1 AND binding = $2 ORDER BY created_at DESC LIMIT 1)",
    )
    .bind(c.purpose)
    .bind(c.binding)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO webauthn_ceremonies (id, purpose, user_id, binding, state, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(c.id)
    .bind(c.purpose)
    .bind(c.user_id)
    .bind(c.binding)
    .bind(Json(c.state))
    .bind(c.now)
    .bind(c.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes a live ceremony of this purpose and binding: its person and state,
/// once. A second take of the same id finds nothing.
pub async fn take(
    conn: &mut PgConnection,
    id: Uuid,
    purpose: &str,
    binding: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<(Option<Uuid>, Value)>, StoreError> {
    let row: Option<(Option<Uuid>, Json<Value>)> = sqlx::query_as(
        "DELETE FROM webauthn_ceremonies WHERE id = $1 AND purpose = $2 AND binding = $3 AND expires_at > $4
         RETURNING user_id, state",
    )
    .bind(id)
    .bind(purpose)
    .bind(binding)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(user, Json(state))| (user, state)))
}
