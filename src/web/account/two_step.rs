//! Two-step sign-in from one's own account: `/account/two-step` (a new
//! authenticator's QR code, drawn on the server, and the form confirming it
//! with a code), the recovery codes shown once, new recovery codes and
//! removal. Each goes through `protocol::account::two_step`.

use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::page::{Area, refused};
use super::{ACCOUNT_FORM, AccountForm, done, signed_in};
use crate::paths;
use crate::protocol::account::{AccountError, Person, two_step};
use crate::protocol::factors::totp::{ConfirmError, Enrolment};
use crate::protocol::session::CurrentSession;
use crate::web::client_ip::client_ip;
use crate::web::error::WebError;
use crate::web::respond::redirect;
use crate::web::{AppState, form_page, qr_svg, stale_sign_in};

#[derive(Serialize)]
struct SetupPage<'a> {
    csrf: String,
    username: &'a str,
    qr: String,
    secret: String,
    sealed: &'a str,
    replacing: bool,
    error: &'a str,
}

fn setup_page(
    state: &AppState,
    req: &HttpRequest,
    (status, session): (StatusCode, &CurrentSession),
    enrolment: &Enrolment,
    replacing: bool,
    error: Option<&str>,
) -> HttpResponse {
    // Groups of four, as authenticator apps show secrets.
    let secret = enrolment
        .secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let qr = qr_svg::svg(&enrolment.uri, "QR code of your new authenticator's secret").unwrap_or_default();
    form_page(state, req, ACCOUNT_FORM, status, "pages/two_step_setup.html", |csrf| {
        SetupPage {
            csrf,
            username: &session.user.username,
            qr,
            secret,
            sealed: &enrolment.sealed,
            replacing,
            error: error.unwrap_or_default(),
        }
    })
}

/// A change to a second factor from a session that has not proved it: the
/// second step first, then back to the account page.
fn second_step_first() -> HttpResponse {
    let back = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", paths::ACCOUNT)
        .finish();
    redirect(&format!("{}?{back}", paths::SECOND_STEP), true)
}

/// `GET /account/two-step`: a new secret to scan, and the form to confirm it.
pub async fn page(req: HttpRequest, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let session = signed_in(&req, &state).await?;
    stale_sign_in(&state, &session, paths::TWO_STEP)?;
    let ip = client_ip(&req, &state.provider.config.trusted_proxies);
    let person = Person {
        provider: &state.provider,
        session: &session,
        ip: ip.as_deref(),
    };
    match two_step::begin(&person).await {
        Ok((enrolment, replacing)) => {
            let shown = (StatusCode::OK, &session);
            Ok(setup_page(&state, &req, shown, &enrolment, replacing, None))
        }
        Err(AccountError::SecondStepFirst) => Ok(second_step_first()),
        Err(e) => refused(&state, &req, &session, Area::Factors, e, None).await,
    }
}

/// `POST /account/two-step`: confirms the new authenticator with a code; the
/// recovery codes are shown once.
pub async fn confirm(req: HttpRequest, form: AccountForm, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let person = form.person(&state);
    let sealed = form.field("sealed");
    let error = match two_step::confirm(&person, &sealed, &form.field("code")).await {
        Ok(codes) => return Ok(codes_page(&state, &form.session, &codes, true)),
        Err(ConfirmError::WrongCode) => "That code is not right. Enter the code your app shows now.",
        Err(ConfirmError::Expired) => "This setup took too long. Scan the new code below.",
        Err(ConfirmError::Internal(e)) => return Err(WebError::unavailable_page(e)),
    };
    let enrolment = two_step::again(&person, &sealed).map_err(|_| WebError::unavailable_page(internal()))?;
    let shown = (StatusCode::BAD_REQUEST, &form.session);
    Ok(setup_page(&state, &req, shown, &enrolment, false, Some(error)))
}

fn internal() -> crate::protocol::error::OAuthError {
    crate::protocol::error::OAuthError::internal("the TOTP enrolment could not be shown again")
}

/// The recovery codes, shown this once.
fn codes_page(state: &AppState, session: &CurrentSession, codes: &[String], new_authenticator: bool) -> HttpResponse {
    let page = serde_json::json!({
        "username": session.user.username,
        "codes": codes,
        "new_authenticator": new_authenticator,
    });
    state.pages.render(StatusCode::OK, "pages/recovery_codes.html", &page)
}

/// `POST /account/two-step/remove`: removes the authenticator and the
/// recovery codes (the password alone signs in again).
pub async fn remove(req: HttpRequest, form: AccountForm, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    match two_step::remove(&form.person(&state)).await {
        Ok(()) => Ok(done("two-step-removed")),
        Err(AccountError::SecondStepFirst) => Ok(second_step_first()),
        Err(e) => refused(&state, &req, &form.session, Area::Factors, e, None).await,
    }
}

/// `POST /account/recovery-codes`: new recovery codes (the old ones stop working).
pub async fn renew_codes(req: HttpRequest, form: AccountForm, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    match two_step::renew_codes(&form.person(&state)).await {
        Ok(codes) => Ok(codes_page(&state, &form.session, &codes, false)),
        Err(AccountError::SecondStepFirst) => Ok(second_step_first()),
        Err(e) => refused(&state, &req, &form.session, Area::Factors, e, None).await,
    }
}
