//! Reading the audit log for the admin pages and the admin API: what this
//! node still buffers is written first, so it is listed too.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::AdminError;
use crate::protocol::Provider;
use crate::store::audit::{self, EventFilter, EventRow};

/// Which events to list; an empty text matches any.
#[derive(Debug, Default)]
pub struct Filter {
    pub kind: String,
    pub client_id: String,
    pub user_id: Option<Uuid>,
    pub since: Option<DateTime<Utc>>,
}

/// Up to `limit` events matching `filter`, newest first, from `offset`.
pub async fn list(p: &Provider, filter: &Filter, limit: i64, offset: i64) -> Result<Vec<EventRow>, AdminError> {
    p.audit.write(&p.pool).await?;
    let filter = EventFilter {
        kind: &filter.kind,
        client_id: &filter.client_id,
        user_id: filter.user_id,
        since: filter.since,
    };
    Ok(audit::list(&mut *p.pool.acquire().await?, &filter, limit, offset).await?)
}
