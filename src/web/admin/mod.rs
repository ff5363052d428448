//! The admin web page at `/admin`: for users with the admin role, through the
//! same sign-in and session; every form has a CSRF token; sensitive changes
//! ask for a recent sign-in (`session::RECENT_SIGN_IN`, 15 minutes).

mod apis;
mod audit;
mod client;
mod clients;
mod dashboard;
mod keys;
mod lab;
mod upstreams;
mod user;
mod users;

use actix_web::http::StatusCode;
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::error::WebError;
use super::extract::ADMIN_FORM;
// Keys, secrets and roles need a recent sign-in (`stale_sign_in`); every
// page shows its `?done=…` notice.
use super::{AppState, form_page};
pub(crate) use super::{notice, stale_sign_in};
use crate::admin::{Actor, AdminError};
use crate::paths;
use crate::protocol::session::CurrentSession;

/// Rows per page of a list.
pub const PAGE_SIZE: i64 = 25;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.route(paths::ADMIN, web::get().to(dashboard::page))
        .route("/admin/keys", web::get().to(keys::page))
        .route("/admin/keys/rotate", web::post().to(keys::rotate))
        .route("/admin/keys/{kid}/revoke", web::post().to(keys::revoke))
        .route("/admin/users", web::get().to(users::page))
        .route("/admin/users", web::post().to(users::create))
        .route(paths::ADMIN_INVITATIONS, web::post().to(users::invite))
        .route(paths::ADMIN_INVITATION_WITHDRAW, web::post().to(users::withdraw))
        .route("/admin/clients", web::get().to(clients::page))
        .route("/admin/clients", web::post().to(clients::create))
        .route("/admin/clients/{id}", web::get().to(client::page))
        .route("/admin/clients/{id}", web::post().to(client::update))
        .route("/admin/clients/{id}/secret", web::post().to(client::rotate_secret))
        .route(
            "/admin/clients/{id}/secret/end-grace",
            web::post().to(client::end_secret_grace),
        )
        .route("/admin/clients/{id}/delete", web::post().to(client::delete))
        .route("/admin/clients/{id}/access", web::post().to(client::access))
        .route("/admin/clients/{id}/trust", web::post().to(client::trust))
        .route("/admin/users/{sub}", web::get().to(user::page))
        .route("/admin/users/{sub}/{action}", web::post().to(user::act))
        .route("/admin/apis", web::get().to(apis::page))
        .route("/admin/apis", web::post().to(apis::create))
        .route("/admin/apis/{id}", web::get().to(apis::one))
        .route("/admin/apis/{id}", web::post().to(apis::update))
        .route("/admin/upstreams", web::get().to(upstreams::page))
        .route("/admin/upstreams", web::post().to(upstreams::create))
        .route("/admin/upstreams/{id}", web::get().to(upstreams::one))
        .route("/admin/upstreams/{id}", web::post().to(upstreams::update))
        .route("/admin/upstreams/{id}/delete", web::post().to(upstreams::delete))
        .route("/admin/lab", web::get().to(lab::page))
        .route("/admin/lab", web::post().to(lab::explain))
        .route("/admin/dry-run", web::get().to(lab::dry_run_page))
        .route("/admin/dry-run", web::post().to(lab::dry_run))
        .route("/admin/audit", web::get().to(audit::page));
}

/// The admin as the actor of the changes they make.
pub fn actor<'a>(state: &'a AppState, admin: &CurrentSession) -> Actor<'a> {
    Actor::new(&state.provider, admin.user.username.clone())
}

/// The 404 page of a thing that is not there (its title names the kind).
pub fn missing(title: &'static str) -> impl FnOnce(AdminError) -> WebError {
    move |e| match e {
        AdminError::NotFound(m) => WebError::page(StatusCode::NOT_FOUND, title, m),
        e => WebError::from_admin_page(e),
    }
}

/// Renders an admin page; `csrf` is the token of the page's forms.
pub fn admin_page<P: Serialize>(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    template: &str,
    page: impl FnOnce(String) -> P,
) -> HttpResponse {
    form_page(state, req, ADMIN_FORM, status, template, page)
}

/// The page number of a list (`?page=N`, from 1).
pub fn page_number(req: &HttpRequest) -> i64 {
    super::query(req)
        .one("page")
        .ok()
        .flatten()
        .and_then(|p| p.parse().ok())
        .filter(|p: &i64| *p >= 1)
        .unwrap_or(1)
}

/// One page of a searchable list (`?q=…&page=N`): ask the store for
/// `limit()` rows from `offset()`, then `finish` keeps a page and says what links.
pub struct Paging {
    pub search: String,
    pub page: i64,
}

impl Paging {
    pub fn of(req: &HttpRequest) -> Self {
        let search = super::query(req).one("q").ok().flatten().unwrap_or_default().to_owned();
        Self {
            search,
            page: page_number(req),
        }
    }

    /// One row more than a page, to know whether there is a next one.
    pub fn limit(&self) -> i64 {
        PAGE_SIZE + 1
    }

    /// Saturates for a page number far beyond the last page (an empty page).
    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(PAGE_SIZE)
    }

    /// Trims `rows` to a page; returns `page`, `previous` and `next` (0: none) for the pager.
    pub fn finish<T>(&self, rows: &mut Vec<T>) -> serde_json::Value {
        let more = rows.len() as i64 > PAGE_SIZE;
        rows.truncate(PAGE_SIZE as usize);
        serde_json::json!({
            "page": self.page, "previous": self.page - 1, "next": if more { self.page.saturating_add(1) } else { 0 }, "q": self.search,
        })
    }
}
