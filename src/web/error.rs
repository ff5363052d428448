//! The one error type of the HTTP layer: every refusal a handler returns with
//! `?` knows its status, headers and body here, for each of the three kinds of
//! answer — RFC error JSON (protocol endpoints), `{"code","message"}` JSON (the
//! admin API) and the HTML error page. Unexpected failures are logged with their
//! cause where they are made and answered opaquely: no library error's text
//! reaches a client.

use std::fmt;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::admin::AdminError;
use crate::keys::KeyError;
use crate::protocol::bearer::Scheme;
use crate::protocol::dpop;
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::factors::passkeys::PasskeyError;

/// How long a client waits before retrying while the database is away.
const RETRY_SECS: &str = "5";

/// Why a request stops, and how it is answered.
#[derive(Debug)]
pub enum WebError {
    /// An RFC 6749 §5.2 error; `basic` when the client sent HTTP Basic
    /// credentials (a 401 `invalid_client` then challenges `Basic`).
    OAuth { error: OAuthError, basic: bool },
    /// A protected resource's refusal (RFC 6750 §3, RFC 9449 §7.1): the
    /// challenge names the scheme the request used (`None`: no readable
    /// `Authorization`, so both schemes); `error` is `None` when the request
    /// carried no token (bare challenges, RFC 6750 §3.1).
    Resource {
        scheme: Option<Scheme>,
        error: Option<OAuthError>,
    },
    /// An admin API refusal: `{"code", "message"}`.
    Api(ApiError),
    /// The HTML error page.
    Page(PageError),
    /// Not an error for the user: go elsewhere first (sign in, sign in again).
    Redirect { location: String, after_post: bool },
    /// A body actix could not read, with actix's own status (413 too large,
    /// 400 malformed).
    Unreadable(StatusCode),
    /// A refusal of a page's own JSON endpoint (the passkey ceremonies):
    /// `{"error", "error_description"}` with its status.
    Json {
        status: StatusCode,
        error: &'static str,
        description: String,
    },
}

/// An admin API refusal.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// `WWW-Authenticate` of a 401, one field per challenge (RFC 6750 §3,
    /// RFC 9449 §7.1).
    pub challenges: Vec<String>,
    /// `Allow` of a 405 (RFC 9110 §15.5.6).
    pub allow: Option<String>,
}

/// An error page: a title, a message for the user, and a `Retry-After` for
/// 429 and 503.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
    pub retry_after: Option<&'static str>,
}

impl WebError {
    /// The HTML error page.
    pub fn page(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        WebError::Page(PageError {
            status,
            title,
            message: message.into(),
            retry_after: None,
        })
    }

    /// A page saying why (429 or 503) and `Retry-After` saying when to try again.
    pub fn retry_later(status: StatusCode, title: &'static str, message: &str, retry_after: &'static str) -> Self {
        WebError::Page(PageError {
            status,
            title,
            message: message.to_owned(),
            retry_after: Some(retry_after),
        })
    }

    /// The page for a database or internal failure of a protocol flow: 503
    /// (with its description) while the database is away, else an opaque 500.
    pub fn unavailable_page(e: OAuthError) -> Self {
        match e.code {
            ErrorCode::TemporarilyUnavailable => Self::retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                &e.description,
                RETRY_SECS,
            ),
            // A throttle (RFC 6585 §4), as `slow_down` answers in JSON.
            ErrorCode::SlowDown => {
                Self::retry_later(StatusCode::TOO_MANY_REQUESTS, "Too many requests", &e.description, "60")
            }
            _ => Self::page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Lanyard could not finish this request.",
            ),
        }
    }

    /// A page's JSON endpoint refusing a request.
    pub fn json(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        WebError::Json {
            status,
            error,
            description: description.into(),
        }
    }

    /// A passkey ceremony's refusal (W3C WebAuthn §7), as its JSON endpoint
    /// answers it: what the person or the page can do about it, never the
    /// library's words.
    pub fn from_passkey(e: PasskeyError) -> Self {
        let (bad, denied) = (StatusCode::BAD_REQUEST, StatusCode::FORBIDDEN);
        match e {
            PasskeyError::Off(off) => Self::json(bad, "passkeys_off", off.explain()),
            PasskeyError::Malformed(what) => Self::json(bad, "invalid_request", what),
            PasskeyError::UnknownCeremony => Self::json(
                bad,
                "invalid_request",
                "unknown, expired or finished ceremony: start again",
            ),
            PasskeyError::NoPasskey => Self::json(bad, "invalid_request", "you have no passkey here"),
            PasskeyError::UnknownPasskey => Self::json(bad, "access_denied", "this passkey is not registered here"),
            PasskeyError::Refused => Self::json(bad, "access_denied", "the passkey's answer did not verify"),
            PasskeyError::Compromised => Self::json(
                denied,
                "access_denied",
                "this passkey was refused: its signature counter went backwards (possibly a copied authenticator); sign in another way",
            ),
            PasskeyError::AlreadyRegistered => {
                Self::json(StatusCode::CONFLICT, "conflict", "this passkey is registered already")
            }
            PasskeyError::Disabled => Self::json(denied, "access_denied", "this account is disabled"),
            PasskeyError::Throttled => Self::json(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many refused sign-ins from this address: try again later",
            ),
            PasskeyError::Internal(e) => e.into(),
        }
    }

    /// 302 after a GET, 303 after a POST.
    pub fn redirect(location: impl Into<String>, after_post: bool) -> Self {
        WebError::Redirect {
            location: location.into(),
            after_post,
        }
    }

    /// An admin API refusal without extra headers.
    pub fn api(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        WebError::Api(ApiError {
            status,
            code,
            message: message.into(),
            challenges: Vec::new(),
            allow: None,
        })
    }

    /// A malformed admin API request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::api(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// The admin API's 503 while the database is unreachable.
    pub fn api_unavailable() -> Self {
        Self::api(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again shortly")
    }

    /// The admin API's opaque 500; the cause is logged here.
    pub fn api_internal(cause: &dyn fmt::Display) -> Self {
        tracing::error!(error = %cause, "admin API failure");
        Self::api(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }

    /// An admin flow's failure as the admin API answers it: stable codes for
    /// refusals, 503 while the database is away, else an opaque 500.
    pub fn from_admin_api(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(f) => Self::api(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                format!("{}: {}", f.field, f.message),
            ),
            AdminError::Conflict(what) => Self::api(StatusCode::CONFLICT, "conflict", format!("{what} already exists")),
            AdminError::NotFound(m) => Self::api(StatusCode::NOT_FOUND, "not_found", m),
            e @ AdminError::LocksOut { .. } => {
                Self::api(StatusCode::CONFLICT, "conflict", format!("{e} (?force=true)"))
            }
            AdminError::Keys(e @ KeyError::TooSoon { .. }) => Self::api(
                StatusCode::CONFLICT,
                "conflict",
                format!("{e} (rotate anyway with ?force=true)"),
            ),
            AdminError::Keys(e @ (KeyError::NotFound(_) | KeyError::Refused { .. })) => {
                Self::api(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
            }
            AdminError::NoMasterKey => Self::api(StatusCode::INTERNAL_SERVER_ERROR, "internal", "no master key"),
            e if e.is_unreachable() => {
                tracing::warn!(error = %e, "admin API: database unreachable");
                Self::api_unavailable()
            }
            e if e.is_bad_input() => {
                Self::bad_request("a value cannot be stored (a NUL character, a number out of range)")
            }
            other => Self::api_internal(&other),
        }
    }

    /// An admin flow's failure as an admin page answers it when there is no
    /// form to show again: 400 for a value the database cannot hold, 503
    /// while it is unreachable, else an opaque 500 (logged).
    pub fn from_admin_page(e: AdminError) -> Self {
        match e {
            AdminError::NotFound(m) => Self::page(StatusCode::NOT_FOUND, "Not found", m),
            AdminError::Keys(e @ (KeyError::NotFound(_) | KeyError::Refused { .. })) => {
                Self::page(StatusCode::BAD_REQUEST, "Refused", e.to_string())
            }
            AdminError::NoMasterKey => Self::page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "No master key",
                "The server has no master key.",
            ),
            e if e.is_bad_input() => Self::page(
                StatusCode::BAD_REQUEST,
                "This value cannot be stored",
                "A field holds a character Lanyard does not keep (such as NUL). Nothing was changed.",
            ),
            e if e.is_unreachable() => {
                tracing::warn!(error = %e, "admin page: database unreachable");
                Self::unavailable_page(OAuthError::new(
                    ErrorCode::TemporarilyUnavailable,
                    "the database is unreachable; try again",
                ))
            }
            other => {
                tracing::error!(error = %other, "admin change failed");
                Self::page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Nothing was changed.",
                )
            }
        }
    }
}

/// A protocol flow's error, answered as RFC error JSON.
impl From<OAuthError> for WebError {
    fn from(error: OAuthError) -> Self {
        WebError::OAuth { error, basic: false }
    }
}

impl fmt::Display for WebError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebError::OAuth { error, .. } | WebError::Resource { error: Some(error), .. } => write!(f, "{error}"),
            WebError::Resource { error: None, .. } => f.write_str("no access token"),
            WebError::Api(e) => write!(f, "{}: {}", e.code, e.message),
            WebError::Page(e) => write!(f, "{}: {}", e.title, e.message),
            WebError::Redirect { location, .. } => write!(f, "redirect to {location}"),
            WebError::Unreadable(status) => write!(f, "unreadable body ({status})"),
            WebError::Json { error, description, .. } => write!(f, "{error}: {description}"),
        }
    }
}

#[derive(Serialize)]
struct OAuthBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

#[derive(Serialize)]
struct ApiBody<'a> {
    code: &'a str,
    message: &'a str,
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::OAuth { error, .. } => oauth_status(error.code),
            WebError::Resource { error: Some(error), .. } => resource_status(error.code),
            WebError::Resource { error: None, .. } => StatusCode::UNAUTHORIZED,
            WebError::Api(e) => e.status,
            WebError::Page(e) => e.status,
            WebError::Redirect { after_post: true, .. } => StatusCode::SEE_OTHER,
            WebError::Redirect { after_post: false, .. } => StatusCode::FOUND,
            WebError::Unreadable(status) | WebError::Json { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            WebError::OAuth { error, basic } => oauth_response(error, *basic),
            WebError::Resource { scheme, error } => resource_response(*scheme, error.as_ref()),
            WebError::Api(e) => api_response(e),
            // `render_error_pages` puts the page around it.
            WebError::Page(e) => {
                let mut res = HttpResponse::build(e.status);
                res.insert_header((header::CACHE_CONTROL, "no-store"));
                if let Some(secs) = e.retry_after {
                    res.insert_header((header::RETRY_AFTER, secs));
                }
                res.content_type("text/plain; charset=utf-8")
                    .body(format!("{}\n\n{}\n", e.title, e.message))
            }
            WebError::Redirect { location, after_post } => super::respond::redirect(location, *after_post),
            WebError::Unreadable(status) => HttpResponse::build(*status).finish(),
            WebError::Json {
                status,
                error,
                description,
            } => HttpResponse::build(*status)
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(OAuthBody {
                    error,
                    error_description: description,
                }),
        }
    }
}

fn oauth_status(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST)
}

/// `{"error", "error_description"}` with the RFC's status; 401 `invalid_client`
/// carries `WWW-Authenticate: Basic` when the client used Basic (RFC 6749 §5.2);
/// `temporarily_unavailable` and `slow_down` carry `Retry-After` (RFC 9110 §10.2.3).
fn oauth_response(e: &OAuthError, basic_used: bool) -> HttpResponse {
    let mut res = HttpResponse::build(oauth_status(e.code));
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if e.code == ErrorCode::InvalidClient && basic_used {
        res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"lanyard\""));
    }
    if e.code == ErrorCode::TemporarilyUnavailable {
        res.insert_header((header::RETRY_AFTER, RETRY_SECS));
    }
    // RFC 6585 §4: how long to wait (a throttle's window is a minute).
    if e.code == ErrorCode::SlowDown {
        res.insert_header((header::RETRY_AFTER, "60"));
    }
    // RFC 9449 §8: `use_dpop_nonce` names the nonce to use.
    if let Some(nonce) = &e.dpop_nonce {
        res.insert_header((crate::protocol::dpop::DPOP_NONCE, nonce.as_str()));
    }
    res.json(OAuthBody {
        error: e.code.as_str(),
        error_description: &e.description,
    })
}

/// A protected resource's status: RFC 6750 §3.1's, and 401 for
/// `invalid_dpop_proof` (RFC 9449 §7.1: the credentials are not valid).
fn resource_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidDpopProof => StatusCode::UNAUTHORIZED,
        code => oauth_status(code),
    }
}

/// The `WWW-Authenticate` challenges of a protected resource taking both
/// schemes, one header field each: the scheme the request used, naming the
/// error (RFC 6750 §3, RFC 9449 §7.1); without a usable scheme, both (RFC
/// 9449 §7.2). The `DPoP` challenge lists the proof algorithms (`algs`).
/// Quoted-string values lose `"` and `\` (RFC 6750 §3's character set).
pub fn challenges(scheme: Option<Scheme>, error: Option<&OAuthError>) -> Vec<String> {
    let mut params = vec![r#"realm="lanyard""#.to_owned()];
    if let Some(e) = error {
        params.push(format!(r#"error="{}""#, e.code.as_str()));
        params.push(format!(
            r#"error_description="{}""#,
            e.description.replace(['"', '\\'], "'")
        ));
    }
    let bearer = || format!("Bearer {}", params.join(", "));
    let dpop = || format!(r#"DPoP {}, algs="{}""#, params.join(", "), dpop::SIGNING_ALGS.join(" "));
    match scheme {
        Some(Scheme::Bearer) => vec![bearer()],
        Some(Scheme::Dpop) => vec![dpop()],
        None => vec![bearer(), dpop()],
    }
}

/// Appends each challenge as its own `WWW-Authenticate` field.
fn add_challenges(res: &mut HttpResponse, challenges: &[String]) {
    for challenge in challenges {
        if let Ok(value) = header::HeaderValue::from_str(challenge) {
            res.headers_mut().append(header::WWW_AUTHENTICATE, value);
        }
    }
}

/// RFC 6750 §3 and RFC 9449 §7.1: the challenge names the error; a request
/// with no token gets bare challenges and no body (RFC 6750 §3.1).
fn resource_response(scheme: Option<Scheme>, e: Option<&OAuthError>) -> HttpResponse {
    let mut res = match e {
        None => HttpResponse::Unauthorized()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Some(e) => {
            let mut res = oauth_response(e, false);
            *res.status_mut() = resource_status(e.code);
            res
        }
    };
    // A 503 or 500 is no verdict on the credentials: no challenge.
    if matches!(res.status().as_u16(), 400 | 401 | 403) {
        add_challenges(&mut res, &challenges(scheme, e));
    }
    res
}

/// The admin API's `{"code", "message"}`, never cached; 503 carries
/// `Retry-After`, 401 its challenge, 405 the methods allowed.
fn api_response(e: &ApiError) -> HttpResponse {
    let mut res = HttpResponse::build(e.status);
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    if e.status == StatusCode::SERVICE_UNAVAILABLE {
        res.insert_header((header::RETRY_AFTER, RETRY_SECS));
    }
    if let Some(allow) = &e.allow {
        res.insert_header((header::ALLOW, allow.as_str()));
    }
    let mut res = res.json(ApiBody {
        code: e.code,
        message: &e.message,
    });
    add_challenges(&mut res, &e.challenges);
    res
}

/// Middleware: a response made from a [`WebError::Page`] becomes Lanyard's
/// error page (the templates live in the app state, which `error_response`
/// cannot reach), keeping its status and `Retry-After`.
pub async fn render_error_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let page = res
        .response()
        .error()
        .and_then(|e| e.as_error::<WebError>())
        .and_then(|e| match e {
            WebError::Page(p) => Some(p),
            _ => None,
        });
    let state = res.request().app_data::<actix_web::web::Data<super::AppState>>();
    let (Some(page), Some(state)) = (page, state) else {
        return Ok(res.map_into_left_body());
    };
    let mut rendered = state.pages.error(page.status, page.title, &page.message);
    if let Some(secs) = page.retry_after {
        rendered
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static(secs));
    }
    Ok(res.into_response(rendered).map_into_right_body())
}
