//! `/signin/register`: self-registration (the flow is `protocol::signup`).
//! Like the sign-in page it carries the pending authorization request, so a
//! new account goes on to the application; without one, to `/account`.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::{Carried, carried_request, field, origin_of, with_sign_in_cookies};
use crate::paths;
use crate::protocol::authorize;
use crate::protocol::signup::{self, Registration, SignupError};
use crate::store::invitations::InvitationRow;
use crate::web::client_ip::client_ip;
use crate::web::error::WebError;
use crate::web::{AppState, form, form_page, query, refuse_cross_site};

const REGISTER_FORM: &str = "register";

#[derive(Serialize)]
struct RegisterPage<'a> {
    csrf: String,
    request: &'a str,
    client_name: &'a str,
    invite: &'a str,
    /// The invited address, fixed in the form.
    invited_email: &'a str,
    /// The form asks for an address only when mail can verify it.
    mail: bool,
    username: &'a str,
    email: &'a str,
    min_length: usize,
    error: &'a str,
}

/// What the form shows again: the fields typed, and what it carries.
struct Shown<'a> {
    carried: &'a Carried,
    invite: &'a str,
    invitation: Option<&'a InvitationRow>,
    email: &'a str,
}

fn register_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    shown: &Shown<'_>,
    error: &str,
) -> HttpResponse {
    let request = shown.carried.request.as_ref();
    let encoded = request.map(|r| r.carried()).unwrap_or_default();
    form_page(state, req, REGISTER_FORM, status, "pages/register.html", |csrf| {
        RegisterPage {
            csrf,
            request: &encoded,
            client_name: request.map(|r| r.client.name.as_str()).unwrap_or_default(),
            invite: shown.invite,
            invited_email: shown.invitation.map(|i| i.email.as_str()).unwrap_or_default(),
            mail: state.provider.mail.is_on(),
            username: &shown.carried.username,
            email: shown.email,
            min_length: state.provider.config.password_policy.min_chars,
            error,
        }
    })
}

/// A refusal that is a page of its own (the form cannot help).
fn refused(e: SignupError) -> WebError {
    match e {
        SignupError::Off => WebError::page(
            StatusCode::NOT_FOUND,
            "Registration is closed",
            "Accounts here are created by an administrator. Ask yours for one.",
        ),
        SignupError::InvitationNeeded => WebError::page(
            StatusCode::FORBIDDEN,
            "An invitation is needed",
            "Accounts here are created by invitation only. Ask your administrator for an invitation.",
        ),
        SignupError::InvalidInvitation => WebError::page(
            StatusCode::BAD_REQUEST,
            "This invitation is not valid",
            "The invitation was used already, has expired (after 7 days) or is incomplete. Ask for a new one.",
        ),
        SignupError::Throttled => WebError::retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many registrations",
            "Too many registrations from your address. Try again later (within 15 minutes).",
            "900",
        ),
        SignupError::Invalid(f) => WebError::page(StatusCode::BAD_REQUEST, "Not accepted", f.message),
        SignupError::Internal(e) => WebError::unavailable_page(e),
    }
}

/// The invitation token a request names (query or form), if any.
fn invite_token(raw: Option<&str>) -> Result<String, WebError> {
    let token = raw.unwrap_or_default();
    match token.len() > 128 {
        true => Err(refused(SignupError::InvalidInvitation)),
        false => Ok(token.to_owned()),
    }
}

/// `GET /signin/register[?invite=…][&request=…]`: the form, if registration is open to this visitor.
pub async fn page(req: HttpRequest, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let query = query(&req);
    let invite = invite_token(query.one("invite").ok().flatten())?;
    let admitted = signup::admit(&state.provider, Some(&invite)).await.map_err(refused)?;
    let carried = Carried {
        request: carried_request(&state, query.one("request").ok().flatten()).await?,
        return_to: String::new(),
        username: String::new(),
    };
    let shown = Shown {
        carried: &carried,
        invite: &invite,
        invitation: admitted.invitation(),
        email: "",
    };
    Ok(register_page(&state, &req, StatusCode::OK, &shown, ""))
}

/// `POST /signin/register`: creates the account, signs the person in and
/// says where the verification message went.
pub async fn submit(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    refuse_cross_site(&req)?;
    let params = form(&body);
    let invite = invite_token(params.one("invite").ok().flatten())?;
    // Once per request: `register` goes by what this said.
    let admitted = signup::admit(&state.provider, Some(&invite)).await.map_err(refused)?;
    let carried = Carried::read(&state, &params).await?;
    let email = field(&params, "email");
    let shown = Shown {
        carried: &carried,
        invite: &invite,
        invitation: admitted.invitation(),
        email: &email,
    };
    if !state
        .csrf
        .check(&req, &state.cookies, REGISTER_FORM, params.one("csrf").ok().flatten())
    {
        let message = "This form has expired. Please try again.";
        return Ok(register_page(&state, &req, StatusCode::BAD_REQUEST, &shown, message));
    }
    let ip = client_ip(&req, &state.provider.config.trusted_proxies);
    let (previous, device) = (state.cookies.session(&req), state.cookies.device(&req));
    let registration = Registration {
        username: &carried.username,
        email: &email,
        password: field(&params, "password"),
        password_again: &field(&params, "password_again"),
        admitted: &admitted,
        origin: origin_of(&req, ip.as_deref(), previous.as_deref()),
        device_cookie: device.as_deref(),
    };
    match signup::register(&state.provider, registration).await {
        Ok(registered) => {
            let target = match &carried.request {
                Some(r) => format!(
                    "{}?{}",
                    paths::AUTHORIZE,
                    authorize::resume(&state.provider, r, "login")
                ),
                None => paths::ACCOUNT.to_owned(),
            };
            let page = serde_json::json!({
                "username": carried.username, "mailed_to": registered.mailed_to, "target": target,
                "client_name": carried.request.as_ref().map(|r| r.client.name.as_str()),
            });
            let res = state.pages.render(StatusCode::OK, "pages/registered.html", &page);
            Ok(with_sign_in_cookies(&state, res, registered.signed_in))
        }
        Err(SignupError::Invalid(f)) => Ok(register_page(&state, &req, StatusCode::BAD_REQUEST, &shown, &f.message)),
        Err(e) => Err(refused(e)),
    }
}

/// Whether the sign-in page links to the registration page.
pub fn offered(state: &AppState) -> bool {
    state.provider.config.signup == crate::config::SignupMode::Open
}
