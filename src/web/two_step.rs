//! Setting up two-step sign-in from one's own account: an authenticator app
//! (TOTP, RFC 6238) enrolled by scanning a QR code or typing its secret and
//! confirmed with a code, recovery codes shown once, removal. Every change
//! needs a recent sign-in and is audited.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::client_ip::client_ip;
use super::error::WebError;
use super::respond::redirect;
use super::{AppState, form, form_page, qr_svg, refuse_cross_site};
use crate::paths;
use crate::protocol::factors::{self, Enrolled, recovery, totp};
use crate::protocol::session::{self, CurrentSession};

const SETUP_FORM: &str = "two-step-setup";

/// The signed-in person, with a recent enough sign-in for a change; else
/// the redirect to sign in (again) and come back to `back_to`.
pub(super) async fn recent_session(
    state: &AppState,
    req: &HttpRequest,
    back_to: &str,
) -> Result<CurrentSession, WebError> {
    let session = session::current(&state.provider, state.cookies.session(req).as_deref())
        .await
        .map_err(WebError::unavailable_page)?;
    let Some(session) = session else {
        let mut target = url::form_urlencoded::Serializer::new(String::new());
        target.append_pair("return_to", back_to);
        return Err(WebError::redirect(
            format!("{}?{}", paths::SIGNIN, target.finish()),
            false,
        ));
    };
    super::admin::stale_sign_in(state, &session, back_to)?;
    Ok(session)
}

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
    status: StatusCode,
    session: &CurrentSession,
    enrolment: &totp::Enrolment,
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
    form_page(state, req, SETUP_FORM, status, "pages/two_step_setup.html", |csrf| {
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

/// `GET /account/two-step`: a new secret to scan, and the form to confirm it.
pub async fn page(req: HttpRequest, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let session = recent_session(&state, &req, paths::TWO_STEP).await?;
    let p = &state.provider;
    let enrolment = totp::begin(p, &session.user).map_err(WebError::unavailable_page)?;
    let replacing = Enrolled::of(p, session.user.id)
        .await
        .map_err(WebError::unavailable_page)?
        .summary
        .totp;
    Ok(setup_page(
        &state,
        &req,
        StatusCode::OK,
        &session,
        &enrolment,
        replacing,
        None,
    ))
}

/// `POST /account/two-step`: confirms the new authenticator with a code; the
/// recovery codes are shown once.
pub async fn confirm(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    refuse_cross_site(&req)?;
    let session = recent_session(&state, &req, paths::TWO_STEP).await?;
    let params = form(&body);
    let field = |name: &str| params.one(name).ok().flatten().unwrap_or_default().to_owned();
    let (p, sealed, code) = (&state.provider, field("sealed"), field("code"));
    let csrf_ok = state
        .csrf
        .check(&req, &state.cookies, SETUP_FORM, params.one("csrf").ok().flatten());
    let error = match csrf_ok {
        false => "This form has expired. Scan the new code below and enter a code again.",
        true => match totp::confirm(p, session.user.id, &sealed, &code).await {
            Ok(codes) => {
                let ip = client_ip(&req, &p.config.trusted_proxies);
                factors::record(p, &session.user, ip.as_deref(), "set up an authenticator app")
                    .map_err(WebError::unavailable_page)?;
                return Ok(codes_page(&state, &session, &codes, true));
            }
            Err(totp::ConfirmError::WrongCode) => "That code is not right. Enter the code your app shows now.",
            Err(totp::ConfirmError::Expired) => "This setup took too long. Scan the new code below.",
            Err(totp::ConfirmError::Internal(e)) => return Err(WebError::unavailable_page(e)),
        },
    };
    let resumed = match csrf_ok {
        true => totp::resume(p, &session.user, &sealed).map_err(WebError::unavailable_page)?,
        false => None,
    };
    let enrolment = match resumed {
        Some(e) => e,
        None => totp::begin(p, &session.user).map_err(WebError::unavailable_page)?,
    };
    let status = StatusCode::BAD_REQUEST;
    Ok(setup_page(
        &state,
        &req,
        status,
        &session,
        &enrolment,
        false,
        Some(error),
    ))
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

/// A change with only a CSRF token: checked, or the error page.
pub(super) fn check_csrf(state: &AppState, req: &HttpRequest, body: &Bytes, purpose: &str) -> Result<(), WebError> {
    let params = form(body);
    match state
        .csrf
        .check(req, &state.cookies, purpose, params.one("csrf").ok().flatten())
    {
        true => Ok(()),
        false => Err(WebError::page(
            StatusCode::BAD_REQUEST,
            "This form has expired",
            "Go back to your account page and try again.",
        )),
    }
}

/// `POST /account/two-step/remove`: removes the authenticator and the
/// recovery codes (the password alone signs in again).
pub async fn remove(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    refuse_cross_site(&req)?;
    let session = recent_session(&state, &req, paths::ACCOUNT).await?;
    check_csrf(&state, &req, &body, ACCOUNT_FORM)?;
    let p = &state.provider;
    if totp::remove(p, session.user.id)
        .await
        .map_err(WebError::unavailable_page)?
    {
        let ip = client_ip(&req, &p.config.trusted_proxies);
        factors::record(p, &session.user, ip.as_deref(), "removed their authenticator app")
            .map_err(WebError::unavailable_page)?;
    }
    Ok(redirect(&format!("{}?done=two-step-removed", paths::ACCOUNT), true))
}

/// `POST /account/recovery-codes`: new recovery codes (the old ones stop working).
pub async fn renew_codes(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    refuse_cross_site(&req)?;
    let session = recent_session(&state, &req, paths::ACCOUNT).await?;
    check_csrf(&state, &req, &body, ACCOUNT_FORM)?;
    let p = &state.provider;
    let enrolled = Enrolled::of(p, session.user.id)
        .await
        .map_err(WebError::unavailable_page)?;
    if !enrolled.summary.totp {
        return Ok(redirect(paths::TWO_STEP, true));
    }
    let codes = recovery::renew_now(p, session.user.id)
        .await
        .map_err(WebError::unavailable_page)?;
    let ip = client_ip(&req, &p.config.trusted_proxies);
    factors::record(p, &session.user, ip.as_deref(), "made new recovery codes").map_err(WebError::unavailable_page)?;
    Ok(codes_page(&state, &session, &codes, false))
}

/// The CSRF purpose of the account page's forms.
pub const ACCOUNT_FORM: &str = "account";
