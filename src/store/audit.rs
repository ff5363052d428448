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

/// An event waiting in the audit buffer: owned, with its id and time fixed
/// when it happened, so writing it twice (a retried batch) stores it once.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub kind: String,
    pub outcome: String,
    pub actor: Option<String>,
    pub client_id: Option<String>,
    pub user_id: Option<Uuid>,
    pub ip: Option<String>,
    pub reason: Option<String>,
    pub details: Value,
}

impl<'a> NewEvent<'a> {
    /// An attempt or change concerning a person (if known), from an address:
    /// no actor, no client, no details.
    pub fn about(kind: &'a str, outcome: &'a str, user_id: Option<Uuid>, ip: Option<&'a str>, reason: &'a str) -> Self {
        Self {
            kind,
            outcome,
            actor: None,
            client_id: None,
            user_id,
            ip,
            reason: Some(reason),
            details: Value::Object(Default::default()),
        }
    }

    /// This event as it happened now, ready to wait in a buffer.
    pub fn at(&self, now: DateTime<Utc>) -> Event {
        Event {
            id: Uuid::now_v7(),
            occurred_at: now,
            kind: self.kind.to_owned(),
            outcome: self.outcome.to_owned(),
            actor: self.actor.map(str::to_owned),
            client_id: self.client_id.map(str::to_owned),
            user_id: self.user_id,
            ip: self.ip.map(str::to_owned),
            reason: self.reason.map(str::to_owned),
            details: self.details.clone(),
        }
    }
}

/// Writes events in one statement; an event already stored (same id) is skipped.
pub async fn insert_batch(conn: &mut PgConnection, events: &[Event]) -> Result<u64, StoreError> {
    let col = |f: fn(&Event) -> Option<String>| events.iter().map(f).collect::<Vec<_>>();
    let done = sqlx::query(
        "INSERT INTO audit_events (id, occurred_at, kind, outcome, client_id, user_id, ip, reason, details, actor)
         SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::uuid[],
                              $7::text[], $8::text[], $9::jsonb[], $10::text[])
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(events.iter().map(|e| e.id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
    .bind(col(|e| Some(e.kind.clone())))
    .bind(col(|e| Some(e.outcome.clone())))
    .bind(col(|e| e.client_id.clone()))
    .bind(events.iter().map(|e| e.user_id).collect::<Vec<_>>())
    .bind(col(|e| e.ip.clone()))
    .bind(col(|e| e.reason.clone()))
    .bind(events.iter().map(|e| e.details.clone()).collect::<Vec<_>>())
    .bind(col(|e| e.actor.clone()))
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// An audit event as the admin page lists it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct EventRow {
    pub occurred_at: DateTime<Utc>,
    pub kind: String,
    pub outcome: String,
    pub actor: Option<String>,
    pub client_id: Option<String>,
    pub user_id: Option<Uuid>,
    pub ip: Option<String>,
    pub reason: Option<String>,
    pub details: Value,
}

/// What to list: each filter is optional (empty matches all).
#[derive(Debug, Default)]
pub struct EventFilter<'a> {
    pub kind: &'a str,
    pub client_id: &'a str,
    pub user_id: Option<Uuid>,
    pub since: Option<DateTime<Utc>>,
}

/// A page of events, newest first.
pub async fn list(
    conn: &mut PgConnection,
    f: &EventFilter<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<EventRow>, StoreError> {
    Ok(sqlx::query_as::<_, EventRow>(
        "SELECT occurred_at, kind, outcome, actor, client_id, user_id, ip, reason, details FROM audit_events
         WHERE ($1 = '' OR kind = $1) AND ($2 = '' OR client_id = $2) AND ($3::uuid IS NULL OR user_id = $3)
           AND ($4::timestamptz IS NULL OR occurred_at >= $4)
         ORDER BY occurred_at DESC, id DESC LIMIT $5 OFFSET $6",
    )
    .bind(f.kind)
    .bind(f.client_id)
    .bind(f.user_id)
    .bind(f.since)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?)
}

/// How many events of a kind had each outcome since `since`.
pub async fn outcomes(
    conn: &mut PgConnection,
    kind: &str,
    since: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT outcome, count(*) FROM audit_events WHERE kind = $1 AND occurred_at >= $2 GROUP BY outcome ORDER BY outcome",
    )
    .bind(kind)
    .bind(since)
    .fetch_all(conn)
    .await?)
}
