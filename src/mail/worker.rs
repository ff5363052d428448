//! The outbox worker: every few seconds it claims due messages (`FOR UPDATE
//! SKIP LOCKED`, so several nodes never send one message twice), sends them,
//! and retries a failure with the backoff every outbox shares (`crate::outbox`).

use std::sync::Arc;

use serde_json::json;
use sqlx::PgPool;

use super::Mailer;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::outbox::{BATCH, LEASE, retry_at};
use crate::store::StoreError;
use crate::store::audit::{self, NewEvent};
use crate::store::mail_outbox::MailRow;
use crate::store::outbox::{self, Queue};

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

impl crate::outbox::Attempted for Pass {
    fn attempted(&self) -> usize {
        self.sent + self.failed
    }
}

/// One pass: claims the due messages and tries each once.
pub async fn deliver_due(o: &Outbox) -> Result<Pass, StoreError> {
    if !o.mailer.is_on() {
        return Ok(Pass::default());
    }
    let now = o.clock.now();
    let mut conn = o.pool.acquire().await?;
    let claimed: Vec<MailRow> = outbox::claim_due(&mut conn, Queue::Mail, now, LEASE, BATCH).await?;
    drop(conn);
    let mut pass = Pass::default();
    for mail in claimed {
        match o.mailer.send(&mail).await {
            Ok(()) => {
                let now = o.clock.now();
                outbox::mark_sent(&mut *o.pool.acquire().await?, Queue::Mail, attempt(&mail), now).await?;
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

fn attempt(mail: &MailRow) -> outbox::Attempt {
    outbox::Attempt {
        id: mail.id,
        attempts: mail.attempts,
    }
}

/// Records a failed attempt: a retry later, or — past a day — the end, audited.
async fn failed(o: &Outbox, mail: &MailRow, error: &str) -> Result<(), StoreError> {
    let now = o.clock.now();
    let retry_at = retry_at(now, mail.attempts, mail.created_at);
    let mut conn = o.pool.acquire().await?;
    if !outbox::mark_failed(&mut conn, Queue::Mail, attempt(mail), error, retry_at, now).await? {
        return Ok(());
    }
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

/// Runs a pass every `every` until aborted (with the app's other background
/// tasks); nothing while mail is off.
pub fn spawn(o: Outbox, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    match o.mailer.is_on() {
        true => crate::outbox::spawn_every("mail outbox", every, move || {
            let o = o.clone();
            async move { deliver_due(&o).await }
        }),
        false => tokio::spawn(async {}),
    }
}
