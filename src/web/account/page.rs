//! Renders the account page: `GET /account`, and the page again with a
//! message when a change is refused.

use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::{ACCOUNT_FORM, signed_in};
use crate::paths;
use crate::protocol::account::profile::{self, Submitted};
use crate::protocol::account::{self, AccountError};
use crate::protocol::session::CurrentSession;
use crate::web::error::WebError;
use crate::web::{AppState, form_page, notice, signin};

/// Which section a message belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Area {
    Profile,
    Email,
    Password,
    Sessions,
    Apps,
    Factors,
    Upstreams,
}

impl Area {
    fn as_str(self) -> &'static str {
        match self {
            Area::Profile => "profile",
            Area::Email => "email",
            Area::Password => "password",
            Area::Sessions => "sessions",
            Area::Apps => "apps",
            Area::Factors => "factors",
            Area::Upstreams => "upstreams",
        }
    }
}

/// A refused change, shown in its section (with the profile as submitted).
pub struct Problem {
    pub area: Area,
    pub message: String,
    pub submitted: Option<Submitted>,
}

/// `GET /account`.
pub async fn get(req: HttpRequest, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let session = signed_in(&req, &state).await?;
    render(&state, &req, &session, StatusCode::OK, None).await
}

/// What a `?done=…` notice says (only known ones are shown).
fn said(done: &str) -> &'static str {
    match done {
        "profile" => "Your profile is saved.",
        "password" => "Your password is changed. Your other sessions have ended.",
        "email" => "We sent a link to the new address: your address changes when you open it (within 24 hours).",
        "session" => "That session has ended.",
        "others" => "Every other session has ended.",
        "app" => "The application no longer has access to your account.",
        "two-step-removed" => {
            "Two-step sign-in is off: your password alone signs you in. Your other sessions have ended."
        }
        _ => "",
    }
}

/// The page, with `problem` in its section. Everything it shows comes from
/// `protocol::account::overview`; a new section is a new field there.
pub async fn render(
    state: &AppState,
    req: &HttpRequest,
    session: &CurrentSession,
    status: StatusCode,
    problem: Option<Problem>,
) -> Result<HttpResponse, WebError> {
    let mut overview = account::overview(&state.provider, session)
        .await
        .map_err(WebError::unavailable_page)?;
    let mut errors = serde_json::Map::new();
    if let Some(problem) = problem {
        if let Some(submitted) = &problem.submitted {
            overview.profile = profile::fields_as_submitted(&state.provider, submitted);
        }
        errors.insert(problem.area.as_str().into(), problem.message.into());
    }
    let notice = said(&notice(req));
    Ok(form_page(
        state,
        req,
        ACCOUNT_FORM,
        status,
        "account/page.html",
        |csrf| {
            json!({
                "csrf": csrf, "account": overview, "notice": notice, "errors": errors,
                "paths": {
                    "profile": paths::ACCOUNT_PROFILE, "password": paths::ACCOUNT_PASSWORD, "email": paths::ACCOUNT_EMAIL,
                    "end_session": paths::ACCOUNT_SESSION_END, "end_others": paths::ACCOUNT_SESSIONS_END_OTHERS,
                    "withdraw": paths::ACCOUNT_APP_WITHDRAW, "unlink": paths::ACCOUNT_UPSTREAM_UNLINK,
                },
            })
        },
    ))
}

/// The answer to a refused change: the page again with the message in
/// `area` for a refused value or a wrong password, else an error page.
pub async fn refused(
    state: &AppState,
    req: &HttpRequest,
    session: &CurrentSession,
    area: Area,
    e: AccountError,
    submitted: Option<Submitted>,
) -> Result<HttpResponse, WebError> {
    let (status, message) = match e {
        // A profile field's message names the field; the password form's speak for themselves.
        AccountError::Invalid(f) if matches!(area, Area::Profile) => (StatusCode::BAD_REQUEST, f.to_string()),
        AccountError::Invalid(f) => (StatusCode::BAD_REQUEST, f.message),
        AccountError::WrongPassword => (StatusCode::UNAUTHORIZED, "Your current password is wrong.".into()),
        AccountError::PasswordCheck(e) => return signin::refusal(e, |_, _| HttpResponse::BadRequest().finish()),
        AccountError::NotFound(m) => return Err(WebError::page(StatusCode::NOT_FOUND, "Not found", m)),
        AccountError::SecondStepFirst => {
            let message = "Confirm it is you with your second factor first (sign out and in again).";
            (StatusCode::FORBIDDEN, message.into())
        }
        AccountError::Internal(e) => return Err(WebError::unavailable_page(e)),
    };
    let problem = Problem {
        area,
        message,
        submitted,
    };
    render(state, req, session, status, Some(problem)).await
}
