//! The sign-in and consent pages and their forms.

pub mod passkey;
pub mod register;
pub mod reset;
pub mod second_step;
pub mod upstream;
pub mod verify_email;

use actix_web::http::{StatusCode, header};
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::client_ip::client_ip;
use super::error::WebError;
use super::logout::LOGOUT_FORM;
use super::respond::redirect;
use super::{AppState, form, form_page, refuse_cross_site};
use crate::model::OidcScope;
use crate::paths;
use crate::protocol::authorize::{self, AuthRequest, Refusal};
use crate::protocol::params::Params;
use crate::protocol::session;
use crate::protocol::signin::second_step::Whose;
use crate::protocol::signin::{self, Attempt, Outcome, SignInError, SignedIn};

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
    /// "Sign in with a passkey" (off when the issuer's host is an IP address).
    passkeys: bool,
    /// "Forgot your password?" (only when mail can go out).
    forgot: bool,
    /// "Create an account" (only when `LANYARD_SIGNUP` is `open`).
    register: bool,
    /// "Continue with NAME": the enabled upstream providers.
    upstreams: Vec<upstream::UpstreamLink>,
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

/// The sign-in page; `return_to` is an admin or account page to go back to after it.
fn render_signin(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    request: Option<&AuthRequest>,
    return_to: &str,
    username: &str,
    error: Option<&str>,
) -> HttpResponse {
    let encoded = request.map(AuthRequest::carried).unwrap_or_default();
    // Asked again (`reauth=1`, a recent sign-in rule): so is the upstream.
    let reauth = super::query(req).one("reauth").ok().flatten() == Some("1");
    form_page(state, req, SIGNIN_FORM, status, "pages/signin.html", |csrf| {
        SignInPage {
            csrf,
            request: &encoded,
            return_to,
            client_name: request.map(|r| r.client.name.as_str()).unwrap_or_default(),
            username,
            error: error.unwrap_or_default(),
            passkeys: state.provider.webauthn.is_ok(),
            forgot: state.provider.mail.is_on(),
            register: register::offered(state),
            upstreams: upstream::links(state, &encoded, return_to, reauth),
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
    /// The client registered itself (RFC 7591): its name is its own
    /// choice, and nobody checked it (RFC 7591 §5 asks the server to say so).
    registered_itself: bool,
    /// The client_id is the URL of a metadata document the client serves
    /// itself (Client ID Metadata Document §6): nobody checked it either.
    describes_itself: bool,
    /// The host of that URL.
    client_host: String,
    /// Where the code will go: the redirect URI's host (or the URI, for a
    /// private-use scheme).
    destination: String,
}

/// The host of a redirect URI, as the consent page names where the code goes.
fn destination(redirect_uri: &str) -> String {
    url::Url::parse(redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| redirect_uri.to_owned())
}

/// What each OIDC scope lets the application do, in plain words.
fn describe(scope: &str) -> &'static str {
    scope
        .parse::<OidcScope>()
        .map_or("access this API", OidcScope::in_words)
}

pub fn consent_page(
    state: &AppState,
    req: &HttpRequest,
    request: &AuthRequest,
    scopes: &[String],
    username: &str,
) -> HttpResponse {
    let encoded = request.carried();
    form_page(state, req, CONSENT_FORM, StatusCode::OK, "pages/consent.html", |csrf| {
        ConsentPage {
            csrf,
            request: &encoded,
            client_name: &request.client.name,
            username,
            registered_itself: request.client.self_registered && request.client.document_fresh_until.is_none(),
            describes_itself: request.client.document_fresh_until.is_some(),
            client_host: destination(&request.client.client_id),
            destination: destination(&request.redirect_uri),
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

/// The authorization request a form carries, checked again from scratch.
async fn carried_request(state: &AppState, raw: Option<&str>) -> Result<Option<AuthRequest>, WebError> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    // The request was resolved at /authorize already: nothing new is fetched.
    let fetch = crate::protocol::client_documents::Fetch::IfKnown;
    match authorize::parse(&state.provider, Params::parse(raw), fetch).await {
        Ok(r) => Ok(Some(r)),
        Err(Refusal::Page(m)) => Err(WebError::page(
            StatusCode::BAD_REQUEST,
            "This sign-in link is not valid",
            m,
        )),
        Err(Refusal::Redirect(url) | Refusal::Continue(url)) => Err(WebError::redirect(url, true)),
        Err(Refusal::Unavailable(e)) => Err(WebError::unavailable_page(e)),
    }
}

/// Where the sign-in page may send the browser back to: an admin page or
/// the account page of this site, never another origin.
pub fn safe_return_to(raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    let under = |prefix: &str| {
        raw.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
    };
    let ok = (under(paths::ADMIN) || under(paths::ACCOUNT))
        && !raw.contains("//")
        && !raw.contains('\\')
        && raw.len() <= 512
        && raw.chars().all(|c| c.is_ascii_graphic());
    ok.then(|| raw.to_owned())
}

/// `GET /signin`: the sign-in page on its own, or who is signed in. With
/// `return_to` (an admin or account page) it goes back there; `reauth=1` asks again.
pub async fn page(req: HttpRequest, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let query = super::query(&req);
    let return_to = safe_return_to(query.one("return_to").ok().flatten());
    let return_to = return_to.as_deref().unwrap_or_default();
    let reauth = query.one("reauth").ok().flatten() == Some("1");
    let session = session::current(&state.provider, state.cookies.session(&req).as_deref())
        .await
        .map_err(WebError::unavailable_page)?;
    Ok(match session {
        Some(s) if reauth => render_signin(&state, &req, StatusCode::OK, None, return_to, &s.user.username, None),
        Some(_) if !return_to.is_empty() => redirect(return_to, false),
        // The sign-out form posts to /logout with that form's CSRF purpose.
        Some(s) => form_page(
            &state,
            &req,
            LOGOUT_FORM,
            StatusCode::OK,
            "pages/signed_in.html",
            |csrf| serde_json::json!({ "username": s.user.username, "csrf": csrf }),
        ),
        None => render_signin(&state, &req, StatusCode::OK, None, return_to, "", None),
    })
}

/// What a sign-in form carries besides the credentials.
struct Carried {
    request: Option<AuthRequest>,
    return_to: String,
    username: String,
}

impl Carried {
    /// The form again, with a message.
    fn again(&self, state: &AppState, req: &HttpRequest, status: StatusCode, message: &str) -> HttpResponse {
        let request = self.request.as_ref();
        render_signin(
            state,
            req,
            status,
            request,
            &self.return_to,
            &self.username,
            Some(message),
        )
    }

    /// Where a successful sign-in goes: back to the authorization request, or
    /// to the admin or account page it came from, or to the signed-in page.
    fn target(&self, state: &AppState) -> String {
        match &self.request {
            Some(r) => format!(
                "{}?{}",
                paths::AUTHORIZE,
                authorize::resume(&state.provider, r, "login")
            ),
            None if !self.return_to.is_empty() => self.return_to.clone(),
            None => paths::SIGNIN.to_owned(),
        }
    }
}

impl Carried {
    /// What a form carries: its authorization request (checked again), its
    /// admin page to return to, and the username typed or shown.
    async fn read(state: &AppState, params: &Params) -> Result<Self, WebError> {
        let one = |name| params.one(name).ok().flatten();
        let mut carried = Self::from_fields(state, one("request"), one("return_to")).await?;
        carried.username = field(params, "username");
        Ok(carried)
    }

    /// What a page's JSON request carries (`request`, `return_to`).
    async fn from_fields(state: &AppState, request: Option<&str>, return_to: Option<&str>) -> Result<Self, WebError> {
        Ok(Self {
            request: carried_request(state, request).await?,
            return_to: safe_return_to(return_to).unwrap_or_default(),
            username: String::new(),
        })
    }

    /// Signed in: on to the target with the session and device cookies (and
    /// no sign-in pending any more).
    fn signed_in(&self, state: &AppState, signed_in: SignedIn) -> HttpResponse {
        with_sign_in_cookies(state, redirect(&self.target(state), true), signed_in)
    }

    /// Signed in, answering a page's script: `{"redirect": target}` and the
    /// same cookies.
    fn signed_in_json(&self, state: &AppState, signed_in: SignedIn) -> HttpResponse {
        let body = serde_json::json!({ "redirect": self.target(state) });
        with_sign_in_cookies(state, super::respond::json_no_store(&body), signed_in)
    }

    /// Signed in with the account's own factors (password and its second
    /// step, or a passkey): as `signed_in` (or `signed_in_json` for a
    /// page's script), and the link this browser is signing in to make is
    /// made if it names this very account (`upstream::complete_link`).
    async fn signed_in_own(
        &self,
        state: &AppState,
        req: &HttpRequest,
        signed_in: SignedIn,
        json: bool,
    ) -> HttpResponse {
        let user_id = signed_in.user_id;
        let res = match json {
            true => self.signed_in_json(state, signed_in),
            false => self.signed_in(state, signed_in),
        };
        upstream::complete_link(state, req, user_id, res).await
    }
}

/// The session and device cookies of a sign-in, and no sign-in pending.
fn with_sign_in_cookies(state: &AppState, mut res: HttpResponse, signed_in: SignedIn) -> HttpResponse {
    let _ = res.add_cookie(&state.cookies.new_device(signed_in.device_cookie));
    let _ = res.add_cookie(&state.cookies.new_session(signed_in.cookie));
    let _ = res.add_cookie(&state.cookies.end_pending());
    res
}

/// A passkey's answer, as a page's script sends it: the ceremony, the
/// credential (`PublicKeyCredential` as JSON), and what the page carried.
#[derive(serde::Deserialize)]
struct PasskeyAnswer {
    ceremony: String,
    credential: serde_json::Value,
    #[serde(default)]
    request: Option<String>,
    #[serde(default)]
    return_to: Option<String>,
    /// `sign-in` or `step-up` (the second step's page says which).
    #[serde(default)]
    mode: Option<String>,
}

impl PasskeyAnswer {
    /// Where the sign-in goes on to; a carried request that no longer
    /// checks out is a 400.
    async fn carried(&self, state: &AppState) -> Result<Carried, WebError> {
        Carried::from_fields(state, self.request.as_deref(), self.return_to.as_deref())
            .await
            .map_err(|_| {
                WebError::json(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the sign-in request this page carries is not valid",
                )
            })
    }
}

/// Where a sign-in comes from: the browser's session cookie, address and
/// user agent.
fn origin_of<'a>(req: &'a HttpRequest, ip: Option<&'a str>, previous_cookie: Option<&'a str>) -> session::Origin<'a> {
    session::Origin {
        previous_cookie,
        ip,
        user_agent: req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()),
    }
}

/// A form field, empty when absent or repeated.
fn field(params: &Params, name: &str) -> String {
    params.one(name).ok().flatten().unwrap_or_default().to_owned()
}

/// `POST /signin`.
pub async fn submit(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    refuse_cross_site(&req)?;
    let params = form(&body);
    let carried = Carried::read(&state, &params).await?;
    if !state
        .csrf
        .check(&req, &state.cookies, SIGNIN_FORM, params.one("csrf").ok().flatten())
    {
        let message = "This form has expired. Please sign in again.";
        return Ok(carried.again(&state, &req, StatusCode::BAD_REQUEST, message));
    }
    let password = field(&params, "password");
    if carried.username.is_empty() || password.is_empty() {
        let message = "Enter your username and password.";
        return Ok(carried.again(&state, &req, StatusCode::BAD_REQUEST, message));
    }
    let ip = client_ip(&req, &state.provider.config.trusted_proxies);
    let (previous, device) = (state.cookies.session(&req), state.cookies.device(&req));
    let attempt = Attempt {
        username: &carried.username,
        password: &password,
        ip: ip.as_deref(),
        user_agent: req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()),
        previous_cookie: previous.as_deref(),
        device_cookie: device.as_deref(),
    };
    match signin::sign_in(&state.provider, &attempt).await {
        Ok(Outcome::SignedIn(signed_in)) => Ok(carried.signed_in_own(&state, &req, signed_in, false).await),
        Ok(Outcome::SecondStep { pending }) => {
            let whose = Whose::Pending(&pending);
            let offer = second_step::offer(&state, &whose, None).await;
            let mut res = second_step::page(&state, &req, StatusCode::OK, &carried, (false, offer), None);
            let _ = res.add_cookie(&state.cookies.new_pending(pending));
            Ok(res)
        }
        Err(e) => refusal(e, |status, message| carried.again(&state, &req, status, message)),
    }
}

/// The answer to a refused attempt; `again` shows the form with a message.
pub(super) fn refusal(
    e: SignInError,
    again: impl Fn(StatusCode, &str) -> HttpResponse,
) -> Result<HttpResponse, WebError> {
    let (too_many, busy) = (StatusCode::TOO_MANY_REQUESTS, StatusCode::SERVICE_UNAVAILABLE);
    Err(match e {
        SignInError::BadCredentials => {
            return Ok(again(StatusCode::UNAUTHORIZED, "Unknown username or wrong password."));
        }
        SignInError::Disabled => {
            let message = "This account is disabled. Ask your administrator.";
            return Ok(again(StatusCode::FORBIDDEN, message));
        }
        SignInError::Expired => {
            let message = "Your sign-in took too long. Please sign in again.";
            return Ok(again(StatusCode::BAD_REQUEST, message));
        }
        SignInError::CodesLocked => {
            let message = "Too many wrong codes in a row: codes from your app are refused now. \
                           Use a recovery code or a passkey, or ask your administrator to reset your second factors.";
            return Ok(again(StatusCode::FORBIDDEN, message));
        }
        SignInError::Throttled => WebError::retry_later(
            too_many,
            "Too many attempts",
            "Too many sign-in attempts for this account. Try again later (within 15 minutes).",
            "900",
        ),
        SignInError::InFlight => WebError::retry_later(
            too_many,
            "Too many attempts",
            "Another sign-in to this account is being checked. Try again in a moment.",
            "2",
        ),
        SignInError::Busy => WebError::retry_later(
            busy,
            "Busy",
            "Lanyard is checking many sign-ins right now. Try again in a few seconds.",
            "2",
        ),
        SignInError::Passkey(e) => WebError::from_passkey(e),
        SignInError::Internal(e) => WebError::unavailable_page(e),
    })
}

/// `POST /consent`: Allow records the consent and resumes; Deny returns `access_denied`.
pub async fn consent(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    refuse_cross_site(&req)?;
    let params = form(&body);
    let request = carried_request(&state, params.one("request").ok().flatten())
        .await?
        .ok_or_else(|| {
            WebError::page(
                StatusCode::BAD_REQUEST,
                "Nothing to consent to",
                "The form carries no request.",
            )
        })?;
    if !state
        .csrf
        .check(&req, &state.cookies, CONSENT_FORM, params.one("csrf").ok().flatten())
    {
        return Err(WebError::page(
            StatusCode::BAD_REQUEST,
            "This form has expired",
            "Go back to the application and start again.",
        ));
    }
    let session = session::current(&state.provider, state.cookies.session(&req).as_deref())
        .await
        .map_err(WebError::unavailable_page)?;
    let Some(session) = session else {
        return Ok(signin_page(&state, &req, StatusCode::OK, Some(&request), "", None));
    };
    if params.one("decision").ok().flatten() != Some("allow") {
        return Ok(redirect(&authorize::denied(&state.provider, &request), true));
    }
    authorize::record_consent(&state.provider, &request, &session)
        .await
        .map_err(WebError::unavailable_page)?;
    let resume = authorize::resume(&state.provider, &request, "consent");
    Ok(redirect(&format!("{}?{resume}", paths::AUTHORIZE), true))
}
