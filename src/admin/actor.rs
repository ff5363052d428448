//! Who makes an admin change from the admin pages or the admin API, and what
//! follows every change they make: it is put in force on this node and
//! recorded in the audit log.

use super::error::AdminError;
use crate::protocol::Provider;

/// An administrator at work: the provider the change applies to, and the
/// name the audit log gives them (a username, or `api:…` for the admin API).
pub struct Actor<'a> {
    provider: &'a Provider,
    name: String,
}

impl<'a> Actor<'a> {
    pub fn new(provider: &'a Provider, name: impl Into<String>) -> Self {
        Self {
            provider,
            name: name.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn provider(&self) -> &'a Provider {
        self.provider
    }

    /// After a committed change: waits for the catalog to hold it and reloads
    /// the keys, so the next request on this node sees it (other nodes
    /// follow on the NOTIFY),
    /// and records it in the audit log. A failure here is a warning, not a
    /// failed change: the change itself is already committed.
    pub(crate) async fn changed(&self, action: &str, details: serde_json::Value) {
        let p = self.provider;
        if let Err(e) = p.catalog.catch_up(&p.pool).await {
            tracing::warn!(error = %e, action, "could not reload the catalog after an admin change");
        }
        if let Err(e) = p.keys.reload(&p.pool).await {
            tracing::warn!(error = %e, action, "could not reload the keys after an admin change");
        }
        let recorded = record(&p.pool, p.clock.as_ref(), &self.name, action, details);
        if let Err(e) = recorded.await {
            tracing::warn!(error = %e, action, "could not audit an admin change");
        }
    }
}

/// An admin change as an audit event: who did what, with its details.
pub async fn record(
    pool: &sqlx::PgPool,
    clock: &dyn crate::clock::Clock,
    actor: &str,
    action: &str,
    details: serde_json::Value,
) -> Result<(), AdminError> {
    let event = crate::store::audit::NewEvent {
        kind: "admin",
        outcome: "ok",
        actor: Some(actor),
        client_id: details.get("client_id").and_then(|v| v.as_str()),
        user_id: None,
        ip: None,
        reason: Some(action),
        details: details.clone(),
    };
    let mut conn = pool.acquire().await?;
    crate::store::audit::insert(&mut conn, &event, clock.now()).await?;
    Ok(())
}
