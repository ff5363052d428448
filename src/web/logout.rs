//! `GET` and `POST /logout` (RP-Initiated Logout 1.0).

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::error::WebError;
use super::respond::redirect;
use super::{AppState, form, form_page, query};
use crate::protocol::logout::{self, LogoutRequest};
use crate::protocol::params::Params;
use crate::protocol::session;

/// The CSRF purpose of the sign-out forms (this confirmation and the signed-in page's).
pub(super) const LOGOUT_FORM: &str = "logout";

pub async fn get(req: HttpRequest, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    run(&req, &state, query(&req), false).await
}

/// A POST is either an RP's logout request or our confirmation form (`confirm=yes`).
pub async fn post(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    run(&req, &state, form(&body), true).await
}

#[derive(Serialize)]
struct Field {
    name: &'static str,
    value: String,
}

#[derive(Serialize)]
struct ConfirmPage<'a> {
    csrf: String,
    client_name: &'a str,
    username: &'a str,
    fields: Vec<Field>,
}

async fn run(req: &HttpRequest, state: &AppState, mut params: Params, is_post: bool) -> Result<HttpResponse, WebError> {
    let p = &state.provider;
    let confirmed = is_post && params.one("confirm").ok().flatten() == Some("yes");
    let csrf = params.one("csrf").ok().flatten().map(str::to_owned);
    params.set("confirm", None);
    params.set("csrf", None);
    let request = logout::parse(p, params)
        .await
        .map_err(|m| WebError::page(StatusCode::BAD_REQUEST, "Cannot sign out here", m))?;
    let session = session::current(p, state.cookies.session(req).as_deref())
        .await
        .map_err(WebError::unavailable_page)?;
    if confirmed && !state.csrf.check(req, &state.cookies, LOGOUT_FORM, csrf.as_deref()) {
        return Err(WebError::page(
            StatusCode::BAD_REQUEST,
            "This form has expired",
            "Go back and try signing out again.",
        ));
    }
    if !confirmed && logout::needs_confirmation(&request, session.as_ref(), !is_post) {
        let username = session.as_ref().map(|s| s.user.username.as_str()).unwrap_or_default();
        return Ok(confirm_page(state, req, &request, username));
    }
    let target = logout::finish(p, &request, session.as_ref())
        .await
        .map_err(WebError::unavailable_page)?;
    let mut res = match target {
        Some(url) => redirect(&url, is_post),
        None => state
            .pages
            .render(StatusCode::OK, "pages/signed_out.html", &serde_json::json!({})),
    };
    let _ = res.add_cookie(&state.cookies.end_session());
    Ok(res)
}

fn confirm_page(state: &AppState, req: &HttpRequest, request: &LogoutRequest, username: &str) -> HttpResponse {
    let carried = ["id_token_hint", "client_id", "post_logout_redirect_uri", "state"];
    let fields = carried
        .into_iter()
        .filter_map(|name| {
            Some(Field {
                name,
                value: request.params.one(name).ok().flatten()?.to_owned(),
            })
        })
        .collect();
    form_page(state, req, LOGOUT_FORM, StatusCode::OK, "pages/logout.html", |csrf| {
        ConfirmPage {
            csrf,
            client_name: request.client.as_ref().map(|c| c.name.as_str()).unwrap_or_default(),
            username,
            fields,
        }
    })
}
