//! The audit log: every event, newest first, filterable by type, user, client and time, paged.

use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use chrono::TimeDelta;
use serde_json::json;

use super::{Paging, admin_page, require_admin};
use crate::store::audit::{self, EventFilter};
use crate::web::AppState;
use crate::web::signin::unavailable;

pub async fn page(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    let admin = match require_admin(&req, &state).await {
        Ok(a) => a,
        Err(res) => return res,
    };
    let q = crate::web::query(&req);
    let text = |name: &str| q.one(name).ok().flatten().unwrap_or_default().to_owned();
    let (kind, client, user, hours) = (text("kind"), text("client"), text("user"), text("hours"));
    let user_id = uuid::Uuid::parse_str(&user).ok();
    // Too many hours to matter (or a past before the calendar) means no limit.
    let since = crate::protocol::params::duration(&hours, TimeDelta::hours(1))
        .ok()
        .flatten()
        .filter(|d| *d > TimeDelta::zero())
        .and_then(|d| state.provider.now().checked_sub_signed(d));
    let paging = Paging::of(&req);
    let filter = EventFilter {
        kind: &kind,
        client_id: &client,
        user_id,
        since,
    };
    let events = async {
        // What this node still buffers is shown too.
        state.provider.audit.write(&state.provider.pool).await?;
        let mut conn = state.provider.pool.acquire().await?;
        audit::list(&mut conn, &filter, paging.limit(), paging.offset()).await
    };
    let mut events = match events.await {
        Ok(e) => e,
        Err(e) => return unavailable(&state, &e.into()),
    };
    let pager = paging.finish(&mut events);
    admin_page(&state, &req, StatusCode::OK, "admin/audit.html", |csrf| {
        json!({
            "csrf": csrf, "admin": admin.user.username, "section": "audit", "events": events,
            "kind": kind, "client": client, "user": user, "hours": hours,
            "pager": pager,
        })
    })
}
