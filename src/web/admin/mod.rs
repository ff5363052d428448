//! The admin web page at `/admin`: for users with the admin role, through the
//! same sign-in and session; every form has a CSRF token; sensitive changes
//! ask for a sign-in younger than 15 minutes.

mod apis;
mod audit;
mod client;
mod clients;
mod dashboard;
mod keys;
mod lab;
mod user;
mod users;

use actix_web::http::StatusCode;
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use chrono::TimeDelta;
use serde::Serialize;

use super::respond::redirect;
use super::signin::unavailable;
use super::{AppState, form_page};
use crate::admin::AdminError;
use crate::paths;
use crate::protocol::session::{self, CurrentSession};

/// Sensitive changes (secrets, keys, roles) need a sign-in at most this old.
pub const RECENT_SIGN_IN: TimeDelta = TimeDelta::minutes(15);
/// Rows per page of a list.
pub const PAGE_SIZE: i64 = 25;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.route(paths::ADMIN, web::get().to(dashboard::page))
        .route("/admin/keys", web::get().to(keys::page))
        .route("/admin/keys/rotate", web::post().to(keys::rotate))
        .route("/admin/keys/{kid}/revoke", web::post().to(keys::revoke))
        .route("/admin/users", web::get().to(users::page))
        .route("/admin/users", web::post().to(users::create))
        .route("/admin/clients", web::get().to(clients::page))
        .route("/admin/clients", web::post().to(clients::create))
        .route("/admin/clients/{id}", web::get().to(client::page))
        .route("/admin/clients/{id}", web::post().to(client::update))
        .route("/admin/clients/{id}/secret", web::post().to(client::rotate_secret))
        .route("/admin/clients/{id}/delete", web::post().to(client::delete))
        .route("/admin/clients/{id}/access", web::post().to(client::access))
        .route("/admin/clients/{id}/trust", web::post().to(client::trust))
        .route("/admin/users/{sub}", web::get().to(user::page))
        .route("/admin/users/{sub}/{action}", web::post().to(user::act))
        .route("/admin/apis", web::get().to(apis::page))
        .route("/admin/apis", web::post().to(apis::create))
        .route("/admin/apis/{id}", web::get().to(apis::one))
        .route("/admin/apis/{id}", web::post().to(apis::update))
        .route("/admin/lab", web::get().to(lab::page))
        .route("/admin/lab", web::post().to(lab::explain))
        .route("/admin/dry-run", web::get().to(lab::dry_run_page))
        .route("/admin/dry-run", web::post().to(lab::dry_run))
        .route("/admin/audit", web::get().to(audit::page));
}

/// The signed-in admin, or the response that stops the request: the sign-in
/// page (coming back here afterwards) or a 403 page for non-admins.
pub async fn require_admin(req: &HttpRequest, state: &AppState) -> Result<CurrentSession, HttpResponse> {
    match session::current(&state.provider, state.cookies.session(req).as_deref()).await {
        Ok(Some(s)) if s.user.is_admin => Ok(s),
        Ok(Some(_)) => Err(state.pages.error(
            StatusCode::FORBIDDEN,
            "Admins only",
            "Your account does not have the admin role.",
        )),
        Ok(None) => Err(to_sign_in(req, false)),
        Err(e) => Err(unavailable(state, &e)),
    }
}

/// For keys, secrets and roles: the sign-in must be recent; else the redirect
/// to sign in again (and come back to `back_to`).
pub fn stale_sign_in(state: &AppState, admin: &CurrentSession, back_to: &str) -> Option<HttpResponse> {
    if state.provider.now() - admin.auth_time <= RECENT_SIGN_IN {
        return None;
    }
    let mut target = url::form_urlencoded::Serializer::new(String::new());
    target.append_pair("reauth", "1").append_pair("return_to", back_to);
    Some(redirect(&format!("{}?{}", paths::SIGNIN, target.finish()), true))
}

fn to_sign_in(req: &HttpRequest, reauth: bool) -> HttpResponse {
    let mut back = req.path().to_owned();
    if !req.query_string().is_empty() {
        back = format!("{back}?{}", req.query_string());
    }
    let mut target = url::form_urlencoded::Serializer::new(String::new());
    if reauth {
        target.append_pair("reauth", "1");
    }
    target.append_pair("return_to", &back);
    redirect(&format!("{}?{}", paths::SIGNIN, target.finish()), false)
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

/// The CSRF purpose of every admin form.
pub const ADMIN_FORM: &str = "admin";

/// Whether a POST carries this browser's admin CSRF token.
pub fn csrf_ok(state: &AppState, req: &HttpRequest, params: &crate::protocol::params::Params) -> bool {
    state
        .csrf
        .check(req, &state.cookies, ADMIN_FORM, params.one("csrf").ok().flatten())
}

/// The admin and the posted form, after the admin and CSRF checks.
pub async fn admitted(
    req: &HttpRequest,
    state: &AppState,
    body: &actix_web::web::Bytes,
) -> Result<(CurrentSession, crate::protocol::params::Params), HttpResponse> {
    let admin = require_admin(req, state).await?;
    let params = super::form(body);
    if !csrf_ok(state, req, &params) {
        return Err(bad_form(state));
    }
    Ok((admin, params))
}

/// The page for an admin change that failed: 400 for a value the database
/// cannot hold (a NUL character), 503 while it is unreachable, else 500
/// (logged).
pub fn failed(state: &AppState, e: &AdminError) -> HttpResponse {
    match e {
        AdminError::Store(s) if s.is_bad_input() => state.pages.error(
            StatusCode::BAD_REQUEST,
            "This value cannot be stored",
            "A field holds a character Lanyard does not keep (such as NUL). Nothing was changed.",
        ),
        AdminError::Store(s) if s.is_unreachable() => {
            use crate::protocol::error::{ErrorCode, OAuthError};
            let e = OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "the database is unreachable; try again",
            );
            unavailable(state, &e)
        }
        _ => {
            tracing::error!(error = %e, "admin change failed");
            state.pages.error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Nothing was changed.",
            )
        }
    }
}

pub fn bad_form(state: &AppState) -> HttpResponse {
    state.pages.error(
        StatusCode::BAD_REQUEST,
        "This form has expired",
        "Reload the page and try again.",
    )
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
