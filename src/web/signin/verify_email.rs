//! `/signin/verify-email`: the link that verifies an email address (the
//! flow is `protocol::email_verification`). Opening it only shows a button:
//! a mail scanner that fetches links does not spend it; the POST does.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use crate::protocol::email_verification::{self, VerifyError, Waiting};
use crate::web::client_ip::client_ip;
use crate::web::error::WebError;
use crate::web::{AppState, form, form_page, query, refuse_cross_site};

const VERIFY_FORM: &str = "verify-email";

fn invalid_link() -> WebError {
    WebError::page(
        StatusCode::BAD_REQUEST,
        "This link is not valid",
        "The link was used already, has expired (after 24 hours) or is incomplete. \
         Ask for a new one on your account page.",
    )
}

fn refused(e: VerifyError) -> WebError {
    match e {
        VerifyError::InvalidLink => invalid_link(),
        VerifyError::Internal(e) => WebError::unavailable_page(e),
    }
}

/// The token a link or form carries; a malformed one is an invalid link.
fn token(raw: Option<&str>) -> Result<String, WebError> {
    match raw.unwrap_or_default() {
        t if t.is_empty() || t.len() > 128 => Err(invalid_link()),
        t => Ok(t.to_owned()),
    }
}

/// The button, naming the address and the account it goes to.
fn confirm_page(state: &AppState, req: &HttpRequest, status: StatusCode, token: &str, w: &Waiting) -> HttpResponse {
    form_page(
        state,
        req,
        VERIFY_FORM,
        status,
        "pages/verify_email.html",
        |csrf| json!({ "csrf": csrf, "token": token, "email": w.email, "username": w.username, "done": false }),
    )
}

/// `GET /signin/verify-email?token=…`: the address and a button, if the link still works.
pub async fn page(req: HttpRequest, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let token = token(query(&req).one("token").ok().flatten())?;
    let waiting = email_verification::check(&state.provider, &token)
        .await
        .map_err(refused)?;
    Ok(confirm_page(&state, &req, StatusCode::OK, &token, &waiting))
}

/// `POST /signin/verify-email`: spends the link; the address is the account's, verified.
pub async fn submit(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    refuse_cross_site(&req)?;
    let params = form(&body);
    let token = token(params.one("token").ok().flatten())?;
    if !state
        .csrf
        .check(&req, &state.cookies, VERIFY_FORM, params.one("csrf").ok().flatten())
    {
        let waiting = email_verification::check(&state.provider, &token)
            .await
            .map_err(refused)?;
        return Ok(confirm_page(&state, &req, StatusCode::BAD_REQUEST, &token, &waiting));
    }
    let ip = client_ip(&req, &state.provider.config.trusted_proxies);
    let email = email_verification::confirm(&state.provider, &token, ip.as_deref())
        .await
        .map_err(refused)?;
    let page = json!({ "email": email, "done": true, "csrf": "", "token": "" });
    Ok(state.pages.render(StatusCode::OK, "pages/verify_email.html", &page))
}
