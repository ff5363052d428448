//! The `audit_events` table.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;

#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub kind: &'a str,
    pub outcome: &'a str,
    pub actor: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub user_id: Option<Uuid>,
    pub ip: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub details: Value,
}

pub async fn insert(conn: &mut PgConnection, e: &NewEvent<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_events (id, occurred_at, kind, outcome, actor, client_id, user_id, ip, reason, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(Uuid::now_v7())
    .bind(now)
    .bind(e.kind)
    .bind(e.outcome)
    .bind(e.actor)
    .bind(e.client_id)
    .bind(e.user_id)
    .bind(e.ip)
    .bind(e.reason)
    .bind(&e.details)
    .execute(conn)
    .await?;
    Ok(())
}
