//! The second step of a sign-in (`/signin/step`): a code from the person's
//! authenticator app, a recovery code, or one of their passkeys, after their
//! password — or, for a session asked for a stronger sign-in (`acr_values`,
//! an API's `min_acr`: RFC 9470), the same step on top of it. A passkey's
//! ceremony is two JSON requests of the page's script
//! (`/signin/passkey/step/options`, `/signin/passkey/step`).

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::{Carried, PasskeyAnswer, field, origin_of, refusal};
use crate::model::AuthLevel;
use crate::paths;
use crate::protocol::authorize::AuthRequest;
use crate::protocol::session::{self, CurrentSession};
use crate::protocol::signin::SignInError;
use crate::protocol::signin::second_step::{self, Offer, Proof, StepAttempt, Whose};
use crate::web::client_ip::client_ip;
use crate::web::error::WebError;
use crate::web::respond::{json_no_store, redirect};
use crate::web::{AppState, form, form_page, json_request, query, refuse_cross_site};

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
    /// The code form.
    code: bool,
    /// "Use a passkey".
    passkey: bool,
}

/// The second-step page, carrying what the sign-in form carried; `how` is
/// whether it steps a session up, and what it offers.
pub(super) fn page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    carried: &Carried,
    (step_up, offer): (bool, Offer),
    error: Option<&str>,
) -> HttpResponse {
    let encoded = carried.request.as_ref().map(|r| r.carried()).unwrap_or_default();
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
            code: offer.code,
            passkey: offer.passkey,
        }
    })
}

/// What the step offers this person for `level` (the code form alone if
/// that cannot be known now: the form's answer will say why).
pub(super) async fn offer(state: &AppState, whose: &Whose<'_>, level: Option<AuthLevel>) -> Offer {
    second_step::offer(&state.provider, whose, level)
        .await
        .unwrap_or(Offer {
            code: true,
            passkey: false,
        })
}

/// The step-up page for an authorization request that needs a stronger
/// sign-in (`level`) than the session's.
pub async fn step_up_page(
    state: &AppState,
    req: &HttpRequest,
    request: &AuthRequest,
    session: &CurrentSession,
    level: AuthLevel,
) -> HttpResponse {
    let carried = Carried {
        request: Some(request.clone()),
        return_to: String::new(),
        username: session.user.username.clone(),
    };
    let offer = offer(state, &Whose::Session(session), Some(level)).await;
    page(state, req, StatusCode::OK, &carried, (true, offer), None)
}

/// The sign-in a request continues. The page's forms say which (`mode`):
/// the pending sign-in the browser holds (`sign-in`), or its session
/// (`step-up`) — so a stale pending cookie never takes over a step-up, nor
/// a session a sign-in under way. Without a mode (the page itself), a
/// signed-in person is stepped up, else the sign-in under way goes on.
async fn stepping(
    state: &AppState,
    req: &HttpRequest,
    mode: Option<&str>,
) -> Result<(Option<String>, Option<CurrentSession>), WebError> {
    let session = || async {
        session::current(&state.provider, state.cookies.session(req).as_deref())
            .await
            .map_err(WebError::unavailable_page)
    };
    Ok(match mode {
        Some("sign-in") => (state.cookies.pending(req), None),
        Some(_) => (None, session().await?),
        None => match session().await? {
            Some(s) => (None, Some(s)),
            None => (state.cookies.pending(req), None),
        },
    })
}

/// The mode a form or a script's request names (`sign-in`, `step-up`).
fn mode_of(raw: Option<&str>) -> Option<&'static str> {
    match raw {
        Some("sign-in") => Some("sign-in"),
        Some("step-up") => Some("step-up"),
        _ => None,
    }
}

fn whose<'a>(pending: &'a Option<String>, session: &'a Option<CurrentSession>) -> Option<Whose<'a>> {
    match (pending, session) {
        (Some(value), _) => Some(Whose::Pending(value)),
        (None, Some(s)) => Some(Whose::Session(s)),
        (None, None) => None,
    }
}

/// `GET /signin/step`: the step-up of the current session (to go back to
/// `return_to`), or the second step of a sign-in under way.
pub async fn get(req: HttpRequest, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let return_to = super::safe_return_to(query(&req).one("return_to").ok().flatten()).unwrap_or_default();
    let (pending, session) = stepping(&state, &req, None).await?;
    let Some(whose) = whose(&pending, &session) else {
        return Ok(redirect(paths::SIGNIN, false));
    };
    let carried = Carried {
        request: None,
        return_to,
        username: session.as_ref().map(|s| s.user.username.clone()).unwrap_or_default(),
    };
    let offer = offer(&state, &whose, None).await;
    Ok(page(
        &state,
        &req,
        StatusCode::OK,
        &carried,
        (pending.is_none(), offer),
        None,
    ))
}

/// `POST /signin/step`: checks the code and completes the sign-in (or the
/// step-up), then goes on to where the sign-in was going.
pub async fn submit(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    refuse_cross_site(&req)?;
    let params = form(&body);
    let carried = Carried::read(&state, &params).await?;
    let mode = mode_of(params.one("mode").ok().flatten()).unwrap_or("sign-in");
    let (pending, session) = stepping(&state, &req, Some(mode)).await?;
    let Some(whose) = whose(&pending, &session) else {
        return Ok(expired(&state, &req, &carried));
    };
    let how = (pending.is_none(), offer(&state, &whose, None).await);
    let again = |status, message: &str| page(&state, &req, status, &carried, how, Some(message));
    if !state
        .csrf
        .check(&req, &state.cookies, STEP_FORM, params.one("csrf").ok().flatten())
    {
        let message = "This form has expired. Please enter a new code.";
        return Ok(again(StatusCode::BAD_REQUEST, message));
    }
    let code = field(&params, "code");
    if code.trim().is_empty() {
        let message = "Enter the code from your authenticator app, or a recovery code.";
        return Ok(again(StatusCode::BAD_REQUEST, message));
    }
    let ip = client_ip(&req, &state.provider.config.trusted_proxies);
    let (previous, device) = (state.cookies.session(&req), state.cookies.device(&req));
    let attempt = StepAttempt {
        proof: Proof::Code(&code),
        from: origin_of(&req, ip.as_deref(), previous.as_deref()),
        device_cookie: device.as_deref(),
    };
    match second_step::complete(&state.provider, whose, &attempt).await {
        Ok(signed_in) => Ok(carried.signed_in_own(&state, &req, signed_in, false).await),
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

/// What the script's options request says: which step it is (`mode`).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StepMode {
    #[serde(default)]
    mode: Option<String>,
}

/// `POST /signin/passkey/step/options`: a passkey ceremony for this step.
pub async fn passkey_options(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let asked: StepMode = json_request(&state, &req, &body, STEP_FORM)?;
    let (pending, session) = stepping(&state, &req, mode_of(asked.mode.as_deref()).or(Some("sign-in"))).await?;
    let whose = whose(&pending, &session).ok_or_else(|| json_refusal(SignInError::Expired))?;
    let challenge = second_step::passkey_options(&state.provider, &whose)
        .await
        .map_err(json_refusal)?;
    Ok(json_no_store(&challenge))
}

/// `POST /signin/passkey/step`: the passkey's assertion completes the
/// step; `{"redirect": …}`.
pub async fn passkey(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let answer: PasskeyAnswer = json_request(&state, &req, &body, STEP_FORM)?;
    let carried = answer.carried(&state).await?;
    let mode = mode_of(answer.mode.as_deref()).or(Some("sign-in"));
    let (pending, session) = stepping(&state, &req, mode).await?;
    let whose = whose(&pending, &session).ok_or_else(|| json_refusal(SignInError::Expired))?;
    let proof = Proof::passkey(&answer.ceremony, &answer.credential).map_err(json_refusal)?;
    let ip = client_ip(&req, &state.provider.config.trusted_proxies);
    let (previous, device) = (state.cookies.session(&req), state.cookies.device(&req));
    let attempt = StepAttempt {
        proof,
        from: origin_of(&req, ip.as_deref(), previous.as_deref()),
        device_cookie: device.as_deref(),
    };
    match second_step::complete(&state.provider, whose, &attempt).await {
        Ok(signed_in) => Ok(carried.signed_in_own(&state, &req, signed_in, true).await),
        Err(e) => Err(json_refusal(e)),
    }
}

/// A refused step, as the page's script reads it.
fn json_refusal(e: SignInError) -> WebError {
    let json = WebError::json;
    match e {
        SignInError::Passkey(e) => WebError::from_passkey(e),
        SignInError::Expired => json(
            StatusCode::BAD_REQUEST,
            "expired",
            "your sign-in took too long: sign in again",
        ),
        SignInError::BadCredentials => json(StatusCode::BAD_REQUEST, "access_denied", "not accepted"),
        SignInError::CodesLocked => json(StatusCode::FORBIDDEN, "access_denied", "codes are locked"),
        SignInError::Disabled => json(StatusCode::FORBIDDEN, "access_denied", "this account is disabled"),
        SignInError::Throttled | SignInError::InFlight => json(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many attempts: try again later",
        ),
        SignInError::Busy => json(StatusCode::SERVICE_UNAVAILABLE, "busy", "try again in a few seconds"),
        SignInError::Internal(e) => e.into(),
    }
}
