//! The second step of a sign-in (`/signin/step`): a code from the person's
//! authenticator app or a recovery code, after their password — or, for a
//! session asked for a stronger sign-in (`acr_values`, an API's `min_acr`:
//! RFC 9470), the same step on top of it.

use actix_web::http::{StatusCode, header};
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::{Carried, field, refusal};
use crate::paths;
use crate::protocol::authorize::AuthRequest;
use crate::protocol::session::{self, Origin};
use crate::protocol::signin::SignInError;
use crate::protocol::signin::second_step::{self, StepAttempt, Whose};
use crate::web::client_ip::client_ip;
use crate::web::error::WebError;
use crate::web::respond::redirect;
use crate::web::{AppState, form, form_page, query, refuse_cross_site};

const STEP_FORM: &str = "second-step";

#[derive(Serialize)]
struct StepPage<'a> {
    csrf: String,
    request: &'a str,
    return_to: &'a str,
    client_name: &'a str,
    username: &'a str,
    /// A signed-in session asked for more, rather than a sign-in under way.
    step_up: bool,
    error: &'a str,
}

/// The second-step page, carrying what the sign-in form carried.
pub(super) fn page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    carried: &Carried,
    step_up: bool,
    error: Option<&str>,
) -> HttpResponse {
    let encoded = carried.request.as_ref().map(|r| r.params.encode()).unwrap_or_default();
    form_page(state, req, STEP_FORM, status, "pages/second_step.html", |csrf| {
        StepPage {
            csrf,
            request: &encoded,
            return_to: &carried.return_to,
            client_name: carried
                .request
                .as_ref()
                .map(|r| r.client.name.as_str())
                .unwrap_or_default(),
            username: &carried.username,
            step_up,
            error: error.unwrap_or_default(),
        }
    })
}

/// The step-up page for an authorization request that needs a stronger
/// sign-in than the session's.
pub fn step_up_page(state: &AppState, req: &HttpRequest, request: &AuthRequest, username: &str) -> HttpResponse {
    let carried = Carried {
        request: Some(request.clone()),
        return_to: String::new(),
        username: username.to_owned(),
    };
    page(state, req, StatusCode::OK, &carried, true, None)
}

/// `GET /signin/step`: the step-up of the current session (to go back to
/// `return_to`), or the second step of a sign-in under way.
pub async fn get(req: HttpRequest, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let return_to = super::safe_return_to(query(&req).one("return_to").ok().flatten()).unwrap_or_default();
    let pending = state.cookies.pending(&req).is_some();
    let session = session::current(&state.provider, state.cookies.session(&req).as_deref())
        .await
        .map_err(WebError::unavailable_page)?;
    let username = session.as_ref().map(|s| s.user.username.clone()).unwrap_or_default();
    if !pending && session.is_none() {
        return Ok(redirect(paths::SIGNIN, false));
    }
    let carried = Carried {
        request: None,
        return_to,
        username,
    };
    // A signed-in person is stepped up; else the sign-in under way goes on.
    Ok(page(&state, &req, StatusCode::OK, &carried, session.is_some(), None))
}

/// `POST /signin/step`: checks the code and completes the sign-in (or the
/// step-up), then goes on to where the sign-in was going.
pub async fn submit(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    refuse_cross_site(&req)?;
    let params = form(&body);
    let carried = Carried::read(&state, &params).await?;
    // The form says which it is: a stale pending cookie never takes over a
    // step-up of the session (nor a session a pending sign-in).
    let step_up = params.one("mode").ok().flatten() == Some("step-up");
    let pending = state.cookies.pending(&req).filter(|_| !step_up);
    let session = match step_up {
        false => None,
        true => session::current(&state.provider, state.cookies.session(&req).as_deref())
            .await
            .map_err(WebError::unavailable_page)?,
    };
    let again = |status, message: &str| page(&state, &req, status, &carried, step_up, Some(message));
    if !state
        .csrf
        .check(&req, &state.cookies, STEP_FORM, params.one("csrf").ok().flatten())
    {
        return Ok(again(
            StatusCode::BAD_REQUEST,
            "This form has expired. Please enter a new code.",
        ));
    }
    let whose = match (&pending, &session) {
        (Some(value), _) => Whose::Pending(value),
        (None, Some(s)) => Whose::Session(s),
        (None, None) => return Ok(expired(&state, &req, &carried)),
    };
    let code = field(&params, "code");
    if code.trim().is_empty() {
        return Ok(again(
            StatusCode::BAD_REQUEST,
            "Enter the code from your authenticator app, or a recovery code.",
        ));
    }
    let ip = client_ip(&req, &state.provider.config.trusted_proxies);
    let previous = state.cookies.session(&req);
    let device = state.cookies.device(&req);
    let attempt = StepAttempt {
        code: &code,
        from: Origin {
            previous_cookie: previous.as_deref(),
            ip: ip.as_deref(),
            user_agent: req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()),
        },
        device_cookie: device.as_deref(),
    };
    match second_step::complete(&state.provider, whose, &attempt).await {
        Ok(signed_in) => Ok(carried.signed_in(&state, signed_in)),
        Err(SignInError::BadCredentials) => Ok(again(
            StatusCode::UNAUTHORIZED,
            "That code is not right. Enter the current code from your app, or an unused recovery code.",
        )),
        Err(SignInError::Expired) => Ok(expired(&state, &req, &carried)),
        Err(e) => refusal(e, again),
    }
}

/// The sign-in page again: the sign-in under way is too old or gone.
fn expired(state: &AppState, req: &HttpRequest, carried: &Carried) -> HttpResponse {
    let message = "Your sign-in took too long. Please sign in again.";
    let mut res = carried.again(state, req, StatusCode::BAD_REQUEST, message);
    let _ = res.add_cookie(&state.cookies.end_pending());
    res
}
