//! `/signin/forgot` and `/signin/reset`: password reset by email (the flow
//! is `protocol::password_reset`).

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::field;
use crate::protocol::password_reset::{self, ResetError};
use crate::web::client_ip::client_ip;
use crate::web::error::WebError;
use crate::web::{AppState, form, form_page, query, refuse_cross_site};

const FORGOT_FORM: &str = "forgot";
const RESET_FORM: &str = "reset";

#[derive(Serialize)]
struct ForgotPage<'a> {
    csrf: String,
    sent: bool,
    error: &'a str,
}

#[derive(Serialize)]
struct ResetPage<'a> {
    csrf: String,
    token: &'a str,
    error: &'a str,
}

fn forgot_page(state: &AppState, req: &HttpRequest, status: StatusCode, sent: bool, error: &str) -> HttpResponse {
    form_page(state, req, FORGOT_FORM, status, "pages/forgot.html", |csrf| {
        ForgotPage { csrf, sent, error }
    })
}

fn reset_page(state: &AppState, req: &HttpRequest, status: StatusCode, token: &str, error: &str) -> HttpResponse {
    form_page(state, req, RESET_FORM, status, "pages/reset.html", |csrf| ResetPage {
        csrf,
        token,
        error,
    })
}

/// Mail is off (no `LANYARD_SMTP_URL`): the feature says so.
fn mail_off() -> WebError {
    WebError::page(
        StatusCode::NOT_FOUND,
        "Password reset by email is not available",
        "Lanyard sends no mail here. Ask your administrator to reset your password.",
    )
}

fn invalid_link() -> WebError {
    WebError::page(
        StatusCode::BAD_REQUEST,
        "This link is not valid",
        "The link was used already, has expired (after 30 minutes) or is incomplete. Ask for a new one.",
    )
}

/// What a flow's refusal looks like as a page.
fn refused(e: ResetError) -> WebError {
    match e {
        ResetError::MailOff => mail_off(),
        ResetError::InvalidLink => invalid_link(),
        ResetError::Throttled => WebError::retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "Too many reset requests from your address. Try again later (within 15 minutes).",
            "900",
        ),
        ResetError::Password(m) => WebError::page(StatusCode::BAD_REQUEST, "Password not accepted", m),
        ResetError::Internal(e) => WebError::unavailable_page(e),
    }
}

/// `GET /signin/forgot`.
pub async fn forgot(req: HttpRequest, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    if !state.provider.mail.is_on() {
        return Err(mail_off());
    }
    Ok(forgot_page(&state, &req, StatusCode::OK, false, ""))
}

/// `POST /signin/forgot`: the same answer whether an account matched or not.
pub async fn forgot_submit(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    refuse_cross_site(&req)?;
    let params = form(&body);
    if !state
        .csrf
        .check(&req, &state.cookies, FORGOT_FORM, params.one("csrf").ok().flatten())
    {
        let message = "This form has expired. Please try again.";
        return Ok(forgot_page(&state, &req, StatusCode::BAD_REQUEST, false, message));
    }
    let who = field(&params, "who");
    if who.trim().is_empty() || who.len() > 320 {
        let message = "Enter your username or email address.";
        return Ok(forgot_page(&state, &req, StatusCode::BAD_REQUEST, false, message));
    }
    let ip = client_ip(&req, &state.provider.config.trusted_proxies);
    password_reset::request(&state.provider, &who, ip.as_deref())
        .await
        .map_err(refused)?;
    Ok(forgot_page(&state, &req, StatusCode::OK, true, ""))
}

/// `GET /signin/reset?token=…`: the form, if the link still works.
pub async fn reset(req: HttpRequest, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let query = query(&req);
    let token = query.one("token").ok().flatten().unwrap_or_default().to_owned();
    if token.is_empty() || token.len() > 128 {
        return Err(invalid_link());
    }
    password_reset::check(&state.provider, &token).await.map_err(refused)?;
    Ok(reset_page(&state, &req, StatusCode::OK, &token, ""))
}

/// `POST /signin/reset`: spends the link and sets the password.
pub async fn reset_submit(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    refuse_cross_site(&req)?;
    let params = form(&body);
    let token = field(&params, "token");
    if token.is_empty() || token.len() > 128 {
        return Err(invalid_link());
    }
    if !state
        .csrf
        .check(&req, &state.cookies, RESET_FORM, params.one("csrf").ok().flatten())
    {
        let message = "This form has expired. Please try again.";
        return Ok(reset_page(&state, &req, StatusCode::BAD_REQUEST, &token, message));
    }
    let (new, again) = (field(&params, "password"), field(&params, "password_again"));
    let ip = client_ip(&req, &state.provider.config.trusted_proxies);
    match password_reset::complete(&state.provider, &token, new, &again, ip.as_deref()).await {
        Ok(()) => {
            let mut res = state
                .pages
                .render(StatusCode::OK, "pages/reset_done.html", &serde_json::json!({}));
            let _ = res.add_cookie(&state.cookies.end_pending());
            Ok(res)
        }
        Err(ResetError::Password(m)) => Ok(reset_page(&state, &req, StatusCode::BAD_REQUEST, &token, &m)),
        Err(e) => Err(refused(e)),
    }
}
