//! The audit log: every event, newest first, filterable by type, user, client and time, paged.

use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use chrono::TimeDelta;
use serde_json::json;

use super::{Paging, admin_page};
use crate::admin::audit::{self, Filter};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::Admin;

pub async fn page(req: HttpRequest, Admin(admin): Admin, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let q = crate::web::query(&req);
    let text = |name: &str| q.one(name).ok().flatten().unwrap_or_default().to_owned();
    let (kind, client, user, hours) = (text("kind"), text("client"), text("user"), text("hours"));
    // Too many hours to matter (or a past before the calendar) means no limit.
    let since = crate::protocol::params::duration(&hours, TimeDelta::hours(1))
        .ok()
        .flatten()
        .filter(|d| *d > TimeDelta::zero())
        .and_then(|d| state.provider.now().checked_sub_signed(d));
    let filter = Filter {
        kind: kind.clone(),
        client_id: client.clone(),
        user_id: uuid::Uuid::parse_str(&user).ok(),
        since,
    };
    let paging = Paging::of(&req);
    let mut events = audit::list(&state.provider, &filter, paging.limit(), paging.offset())
        .await
        .map_err(WebError::from_admin_page)?;
    let pager = paging.finish(&mut events);
    Ok(admin_page(&state, &req, StatusCode::OK, "admin/audit.html", |csrf| {
        json!({
            "csrf": csrf, "admin": admin.user.username, "section": "audit", "events": events,
            "kind": kind, "client": client, "user": user, "hours": hours,
            "pager": pager,
        })
    }))
}
