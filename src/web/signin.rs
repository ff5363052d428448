//! The sign-in and consent pages and their forms.

use actix_web::http::{StatusCode, header};
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::client_ip::client_ip;
use super::respond::redirect;
use super::{AppState, form, form_page, refuse_cross_site};
use crate::model::OidcScope;
use crate::paths;
use crate::protocol::authorize::{self, AuthRequest, Refusal};
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::params::Params;
use crate::protocol::session;
use crate::protocol::signin::{self, Attempt, SignInError};

const SIGNIN_FORM: &str = "signin";
const CONSENT_FORM: &str = "consent";

#[derive(Serialize)]
struct SignInPage<'a> {
    csrf: String,
    request: &'a str,
    return_to: &'a str,
    client_name: &'a str,
    username: &'a str,
    error: &'a str,
}

/// The sign-in page, carrying the authorization request (if any) to resume.
pub fn signin_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    request: Option<&AuthRequest>,
    username: &str,
    error: Option<&str>,
) -> HttpResponse {
    render_signin(state, req, status, request, "", username, error)
}

/// The sign-in page; `return_to` is an admin page to go back to after it.
fn render_signin(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    request: Option<&AuthRequest>,
    return_to: &str,
    username: &str,
    error: Option<&str>,
) -> HttpResponse {
    let encoded = request.map(|r| r.params.encode()).unwrap_or_default();
    form_page(state, req, SIGNIN_FORM, status, "pages/signin.html", |csrf| {
        SignInPage {
            csrf,
            request: &encoded,
            return_to,
            client_name: request.map(|r| r.client.name.as_str()).unwrap_or_default(),
            username,
            error: error.unwrap_or_default(),
        }
    })
}

#[derive(Serialize)]
struct ScopeLine {
    name: String,
    description: String,
}

#[derive(Serialize)]
struct ConsentPage<'a> {
    csrf: String,
    request: &'a str,
    client_name: &'a str,
    username: &'a str,
    scopes: Vec<ScopeLine>,
}

/// What each OIDC scope lets the application do, in plain words.
fn describe(scope: &str) -> &'static str {
    match scope.parse::<OidcScope>() {
        Ok(OidcScope::Openid) => "know who you are (your account identifier)",
        Ok(OidcScope::Profile) => "see your name and profile details",
        Ok(OidcScope::Email) => "see your email address",
        Ok(OidcScope::Phone) => "see your phone number",
        Ok(OidcScope::Address) => "see your postal address",
        Ok(OidcScope::OfflineAccess) => "stay connected while you are signed out",
        Err(_) => "access this API",
    }
}

pub fn consent_page(
    state: &AppState,
    req: &HttpRequest,
    request: &AuthRequest,
    scopes: &[String],
    username: &str,
) -> HttpResponse {
    let encoded = request.params.encode();
    form_page(state, req, CONSENT_FORM, StatusCode::OK, "pages/consent.html", |csrf| {
        ConsentPage {
            csrf,
            request: &encoded,
            client_name: &request.client.name,
            username,
            scopes: scopes
                .iter()
                .map(|s| ScopeLine {
                    name: s.clone(),
                    description: describe(s).to_owned(),
                })
                .chain(request.api_scopes.iter().flat_map(|api| {
                    api.scopes.iter().map(move |(name, description)| ScopeLine {
                        name: format!("{}: {name}", api.api_name),
                        description: if description.is_empty() {
                            "use this API".to_owned()
                        } else {
                            description.clone()
                        },
                    })
                }))
                .collect(),
        }
    })
}

/// The error page for a database or internal failure.
pub fn unavailable(state: &AppState, e: &OAuthError) -> HttpResponse {
    match e.code {
        ErrorCode::TemporarilyUnavailable => {
            let mut res = state.pages.error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                &e.description,
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            res
        }
        _ => state.pages.error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Lanyard could not finish this request.",
        ),
    }
}

/// The authorization request a form carries, checked again from scratch.
async fn carried_request(state: &AppState, params: &Params) -> Result<Option<AuthRequest>, HttpResponse> {
    let Some(raw) = params.one("request").ok().flatten() else {
        return Ok(None);
    };
    match authorize::parse(&state.provider, Params::parse(raw)).await {
        Ok(r) => Ok(Some(r)),
        Err(Refusal::Page(m)) => Err(state
            .pages
            .error(StatusCode::BAD_REQUEST, "This sign-in link is not valid", &m)),
        Err(Refusal::Redirect(url)) => Err(redirect(&url, true)),
    }
}

/// Where the sign-in page may send the browser back to: an admin page of this
/// site, never another origin.
pub fn safe_return_to(raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    let ok = raw.starts_with(paths::ADMIN)
        && !raw.contains("//")
        && !raw.contains('\\')
        && raw.len() <= 512
        && raw.chars().all(|c| c.is_ascii_graphic());
    ok.then(|| raw.to_owned())
}

/// `GET /signin`: the sign-in page on its own, or who is signed in. With
/// `return_to` (an admin page) it goes back there; `reauth=1` asks again.
pub async fn page(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    let query = super::query(&req);
    let return_to = safe_return_to(query.one("return_to").ok().flatten());
    let reauth = query.one("reauth").ok().flatten() == Some("1");
    match session::current(&state.provider, state.cookies.session(&req).as_deref()).await {
        Ok(Some(s)) if reauth => {
            let username = s.user.username.clone();
            render_signin(
                &state,
                &req,
                StatusCode::OK,
                None,
                return_to.as_deref().unwrap_or_default(),
                &username,
                None,
            )
        }
        Ok(Some(_)) if return_to.is_some() => redirect(return_to.as_deref().unwrap_or(paths::SIGNIN), false),
        Ok(Some(s)) => {
            // The sign-out form posts to /logout with that form's CSRF purpose.
            let purpose = super::logout::LOGOUT_FORM;
            form_page(
                &state,
                &req,
                purpose,
                StatusCode::OK,
                "pages/signed_in.html",
                |csrf| serde_json::json!({ "username": s.user.username, "csrf": csrf }),
            )
        }
        Ok(None) => render_signin(
            &state,
            &req,
            StatusCode::OK,
            None,
            return_to.as_deref().unwrap_or_default(),
            "",
            None,
        ),
        Err(e) => unavailable(&state, &e),
    }
}

/// `POST /signin`.
pub async fn submit(req: HttpRequest, body: Bytes, state: Data<AppState>) -> HttpResponse {
    if let Some(refusal) = refuse_cross_site(&req, &state) {
        return refusal;
    }
    let params = form(&body);
    let request = match carried_request(&state, &params).await {
        Ok(r) => r,
        Err(res) => return res,
    };
    let field = |name: &str| params.one(name).ok().flatten().unwrap_or_default().to_owned();
    let username = field("username");
    let return_to = safe_return_to(params.one("return_to").ok().flatten()).unwrap_or_default();
    let again = |status: StatusCode, message: &str| {
        render_signin(
            &state,
            &req,
            status,
            request.as_ref(),
            &return_to,
            &username,
            Some(message),
        )
    };
    if !state
        .csrf
        .check(&req, &state.cookies, SIGNIN_FORM, params.one("csrf").ok().flatten())
    {
        let message = "This form has expired. Please sign in again.";
        return again(StatusCode::BAD_REQUEST, message);
    }
    let password = field("password");
    if username.is_empty() || password.is_empty() {
        let message = "Enter your username and password.";
        return again(StatusCode::BAD_REQUEST, message);
    }
    let ip = client_ip(&req, &state.provider.config.trusted_proxies);
    let user_agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let previous = state.cookies.session(&req);
    let device = state.cookies.device(&req);
    let attempt = Attempt {
        username: &username,
        password: &password,
        ip: ip.as_deref(),
        user_agent,
        previous_cookie: previous.as_deref(),
        device_cookie: device.as_deref(),
    };
    match signin::sign_in(&state.provider, &attempt).await {
        Ok(signed_in) => {
            let target = match &request {
                Some(r) => format!("{}?{}", paths::AUTHORIZE, authorize::resume(&r.params, "login")),
                None if !return_to.is_empty() => return_to.clone(),
                None => paths::SIGNIN.to_owned(),
            };
            let mut res = redirect(&target, true);
            let _ = res.add_cookie(&state.cookies.new_device(signed_in.device_cookie));
            let _ = res.add_cookie(&state.cookies.new_session(signed_in.cookie));
            res
        }
        Err(e) => refusal(&state, e, again),
    }
}

/// The answer to a refused attempt; `again` shows the form with a message.
fn refusal(state: &AppState, e: SignInError, again: impl Fn(StatusCode, &str) -> HttpResponse) -> HttpResponse {
    let too_many = StatusCode::TOO_MANY_REQUESTS;
    match e {
        SignInError::BadCredentials => again(StatusCode::UNAUTHORIZED, "Unknown username or wrong password."),
        SignInError::Disabled => again(
            StatusCode::FORBIDDEN,
            "This account is disabled. Ask your administrator.",
        ),
        SignInError::Throttled => retry_later(
            state,
            too_many,
            "Too many sign-in attempts for this account. Try again later (within 15 minutes).",
            "900",
        ),
        SignInError::InFlight => retry_later(
            state,
            too_many,
            "Another sign-in to this account is being checked. Try again in a moment.",
            "2",
        ),
        SignInError::Busy => retry_later(
            state,
            StatusCode::SERVICE_UNAVAILABLE,
            "Lanyard is checking many sign-ins right now. Try again in a few seconds.",
            "2",
        ),
        SignInError::Internal(e) => unavailable(state, &e),
    }
}

/// A page saying why (429 or 503) and `Retry-After` saying when to try again.
fn retry_later(state: &AppState, status: StatusCode, message: &str, retry_after: &'static str) -> HttpResponse {
    let title = match status {
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        _ => "Busy",
    };
    let mut res = state.pages.error(status, title, message);
    res.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static(retry_after));
    res
}

/// `POST /consent`: Allow records the consent and resumes; Deny returns `access_denied`.
pub async fn consent(req: HttpRequest, body: Bytes, state: Data<AppState>) -> HttpResponse {
    if let Some(refusal) = refuse_cross_site(&req, &state) {
        return refusal;
    }
    let params = form(&body);
    let request = match carried_request(&state, &params).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return state.pages.error(
                StatusCode::BAD_REQUEST,
                "Nothing to consent to",
                "The form carries no request.",
            );
        }
        Err(res) => return res,
    };
    if !state
        .csrf
        .check(&req, &state.cookies, CONSENT_FORM, params.one("csrf").ok().flatten())
    {
        return state.pages.error(
            StatusCode::BAD_REQUEST,
            "This form has expired",
            "Go back to the application and start again.",
        );
    }
    let session = match session::current(&state.provider, state.cookies.session(&req).as_deref()).await {
        Ok(Some(s)) => s,
        Ok(None) => return signin_page(&state, &req, StatusCode::OK, Some(&request), "", None),
        Err(e) => return unavailable(&state, &e),
    };
    match params.one("decision").ok().flatten() {
        Some("allow") => match authorize::record_consent(&state.provider, &request, &session).await {
            Ok(()) => redirect(
                &format!("{}?{}", paths::AUTHORIZE, authorize::resume(&request.params, "consent")),
                true,
            ),
            Err(e) => unavailable(&state, &e),
        },
        _ => redirect(&authorize::denied(&state.provider, &request), true),
    }
}
