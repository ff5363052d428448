//! The audit log: every event, newest first, filterable by type, user, client and time, paged.

use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use chrono::TimeDelta;
use serde_json::json;

use super::{PAGE_SIZE, admin_page, page_number, require_admin};
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
    let since = hours
        .parse::<i64>()
        .ok()
        .filter(|h| *h > 0)
        .map(|h| state.provider.now() - TimeDelta::hours(h));
    let page = page_number(&req);
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
        audit::list(&mut conn, &filter, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE).await
    };
    let mut events = match events.await {
        Ok(e) => e,
        Err(e) => return unavailable(&state, &e.into()),
    };
    let more = events.len() as i64 > PAGE_SIZE;
    events.truncate(PAGE_SIZE as usize);
    admin_page(&state, &req, StatusCode::OK, "admin/audit.html", |csrf| {
        json!({
            "csrf": csrf, "admin": admin.user.username, "section": "audit", "events": events,
            "kind": kind, "client": client, "user": user, "hours": hours,
            "page": page, "previous": page - 1, "next": if more { page + 1 } else { 0 },
        })
    })
}
