//! The outbox worker: every few seconds it claims due messages (`FOR UPDATE
//! SKIP LOCKED`, so several nodes never send one message twice), sends them,
//! and retries a failure with exponential backoff for about a day.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use sqlx::PgPool;

use super::Mailer;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::StoreError;
use crate::store::audit::{self, NewEvent};
use crate::store::mail_outbox::{self, MailRow};

/// How many messages one pass claims at most.
const BATCH: i64 = 20;
/// How long a claimed message is kept from other nodes: longer than one SMTP
/// conversation can take.
const LEASE: TimeDelta = TimeDelta::minutes(5);
/// The first retry waits this long; each next one twice as long.
const FIRST_RETRY: TimeDelta = TimeDelta::seconds(30);
/// The longest wait between two attempts.
const MAX_RETRY: TimeDelta = TimeDelta::hours(1);
/// After this long a message that never left is given up (and audited).
const GIVE_UP_AFTER: TimeDelta = TimeDelta::hours(24);

/// What the worker needs.
#[derive(Clone)]
pub struct Outbox {
    pub pool: PgPool,
    pub clock: Arc<dyn Clock>,
    pub mailer: Arc<Mailer>,
    pub metrics: Arc<Metrics>,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub failed: usize,
}

/// When the next attempt after `attempts` failed ones is due.
pub fn retry_delay(attempts: i32) -> TimeDelta {
    let doublings = attempts.saturating_sub(1).clamp(0, 16) as u32;
    (FIRST_RETRY * 2_i32.pow(doublings)).min(MAX_RETRY)
}

/// One pass: claims the due messages and tries each once.
pub async fn deliver_due(o: &Outbox) -> Result<Pass, StoreError> {
    if !o.mailer.is_on() {
        return Ok(Pass::default());
    }
    let now = o.clock.now();
    let claimed = mail_outbox::claim_due(&mut *o.pool.acquire().await?, now, LEASE, BATCH).await?;
    let mut pass = Pass::default();
    for mail in claimed {
        match o.mailer.send(&mail).await {
            Ok(()) => {
                let now = o.clock.now();
                mail_outbox::mark_sent(&mut *o.pool.acquire().await?, mail.id, now).await?;
                o.metrics.mail("sent");
                pass.sent += 1;
            }
            Err(e) => {
                failed(o, &mail, &e.to_string()).await?;
                pass.failed += 1;
            }
        }
    }
    Ok(pass)
}

/// Records a failed attempt: a retry later, or — past a day — the end, audited.
async fn failed(o: &Outbox, mail: &MailRow, error: &str) -> Result<(), StoreError> {
    let now = o.clock.now();
    let retry_at: Option<DateTime<Utc>> =
        Some(now + retry_delay(mail.attempts)).filter(|at| *at < mail.created_at + GIVE_UP_AFTER);
    let mut conn = o.pool.acquire().await?;
    mail_outbox::mark_failed(&mut conn, mail.id, error, retry_at, now).await?;
    tracing::warn!(id = %mail.id, attempts = mail.attempts, error, gave_up = retry_at.is_none(), "mail not sent");
    if retry_at.is_some() {
        o.metrics.mail("failed");
        return Ok(());
    }
    o.metrics.mail("gave_up");
    let event = NewEvent {
        details: json!({ "mail_id": mail.id, "subject": mail.subject, "attempts": mail.attempts, "error": error }),
        ..NewEvent::about("mail", "failure", None, None, "gave up after a day of failed attempts")
    };
    audit::insert(&mut conn, &event, now).await
}

/// Runs a pass every `every` until aborted (with the app's other background tasks).
pub fn spawn(o: Outbox, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if !o.mailer.is_on() {
            return;
        }
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = deliver_due(&o).await {
                tracing::warn!(error = %e, "the mail outbox could not be read");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        assert_eq!(retry_delay(1), TimeDelta::seconds(30));
        assert_eq!(retry_delay(2), TimeDelta::seconds(60));
        assert_eq!(retry_delay(3), TimeDelta::seconds(120));
        assert_eq!(retry_delay(40), TimeDelta::hours(1));
    }
}
