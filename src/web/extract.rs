//! Extractors for the credentials handlers would otherwise parse themselves:
//! HTTP Basic client credentials (RFC 6749 §2.3.1), access tokens presented
//! as Bearer (RFC 6750 §2.1, §2.2) or DPoP-bound (RFC 9449 §7.1) with the
//! `DPoP` proof header (§4.1), the admin API's caller and the admin pages'
//! signed-in admin.

use std::future::{Ready, ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{Method, StatusCode, header};
use actix_web::web::{Bytes, Data};
use actix_web::{FromRequest, HttpRequest};

use super::AppState;
use super::error::{ApiError, WebError, challenges};
use crate::admin::caller::{self, CallerError};
use crate::model::AuthLevel;
use crate::protocol::bearer::{Presented, Scheme};
use crate::protocol::client_auth::Basic;
use crate::protocol::dpop::DpopHeader;
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::factors::Enrolled;
use crate::protocol::params::Params;
use crate::protocol::session::{self, CurrentSession};

type Boxed<T> = Pin<Box<dyn Future<Output = Result<T, WebError>>>>;

pub(super) fn state(req: &HttpRequest) -> Result<Data<AppState>, WebError> {
    req.app_data::<Data<AppState>>().cloned().ok_or_else(|| {
        tracing::error!("the app state is missing");
        WebError::page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "")
    })
}

/// The `Authorization: Basic` client credentials, if any (RFC 6749 §2.3.1).
pub struct ClientBasic(pub Basic);

impl FromRequest for ClientBasic {
    type Error = WebError;
    type Future = Ready<Result<Self, WebError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let value = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        ready(Ok(ClientBasic(Basic::parse(value))))
    }
}

/// Every `DPoP` header field as received (RFC 9449 §4.1); a field that is
/// not visible ASCII is kept as an empty, invalid proof.
pub fn dpop_header(req: &HttpRequest) -> DpopHeader {
    DpopHeader(
        req.headers()
            .get_all("dpop")
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .collect(),
    )
}

/// An `Authorization` header that is not a scheme and a token.
pub(super) struct Unreadable;

/// The `Authorization` header as its scheme and token (RFC 9110 §11.4, the
/// token trimmed, maybe empty): `None` without the header. Each caller
/// decides which schemes it takes and how it refuses the rest.
pub(super) fn credentials(req: &HttpRequest) -> Result<Option<(&str, &str)>, Unreadable> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let (scheme, token) = value.to_str().ok().and_then(|v| v.split_once(' ')).ok_or(Unreadable)?;
    Ok(Some((scheme, token.trim())))
}

/// The access token of an `Authorization` header, as presented: `Bearer`
/// (RFC 6750 §2.1) or `DPoP` (RFC 9449 §7.1) with the request's proof, its
/// method and path; the scheme is case-insensitive (RFC 9110 §11.1). `None`
/// without the header; another scheme or an empty token is
/// `invalid_request`, with the scheme when it was one of these two.
fn authorization(req: &HttpRequest) -> Result<Option<Presented>, (Option<Scheme>, OAuthError)> {
    let unreadable = || {
        (
            None,
            OAuthError::invalid_request("the Authorization header is not a Bearer or DPoP token"),
        )
    };
    let Some((scheme, token)) = credentials(req).map_err(|Unreadable| unreadable())? else {
        return Ok(None);
    };
    let scheme = match scheme {
        s if s.eq_ignore_ascii_case("bearer") => Scheme::Bearer,
        s if s.eq_ignore_ascii_case("dpop") => Scheme::Dpop,
        _ => return Err(unreadable()),
    };
    if token.is_empty() {
        return Err((
            Some(scheme),
            OAuthError::invalid_request("the Authorization header has no token"),
        ));
    }
    Ok(Some(match scheme {
        Scheme::Bearer => Presented::Bearer(token.to_owned()),
        Scheme::Dpop => Presented::Dpop {
            token: token.to_owned(),
            proof: dpop_header(req),
            htm: req.method().as_str().to_owned(),
            path: req.path().to_owned(),
        },
    }))
}

/// The access token of a request to one of Lanyard's protected resources:
/// from the `Authorization` header (Bearer or DPoP), or as a bearer in a
/// POSTed form body (RFC 6750 §2.2; a DPoP-bound token travels only in the
/// header, RFC 9449 §7.1). `None` when none was sent. One in the URL
/// (RFC 6750 §2.3) or sent more than one way is `invalid_request`.
pub struct AccessToken(pub Option<Presented>);

impl AccessToken {
    fn read(req: &HttpRequest, form: Option<&Params>) -> Result<Self, WebError> {
        let refuse = |scheme, error| WebError::Resource {
            scheme,
            error: Some(error),
        };
        let from_header = authorization(req).map_err(|(scheme, e)| refuse(scheme, e))?;
        let scheme = from_header.as_ref().map(Presented::scheme);
        let from_body = match form {
            Some(params) => params
                .one("access_token")
                .map_err(|e| refuse(scheme.or(Some(Scheme::Bearer)), e))?
                .map(|t| Presented::Bearer(t.to_owned())),
            None => None,
        };
        if super::query(req).has("access_token") {
            return Err(refuse(
                scheme,
                OAuthError::invalid_request("send the access token in the Authorization header, not the URL"),
            ));
        }
        match (from_header, from_body) {
            (Some(_), Some(_)) => Err(refuse(
                scheme,
                OAuthError::invalid_request("the access token was sent more than one way"),
            )),
            (h, b) => Ok(AccessToken(h.or(b))),
        }
    }
}

impl FromRequest for AccessToken {
    type Error = WebError;
    type Future = Boxed<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = (req.method() == Method::POST).then(|| Bytes::from_request(&req, payload));
        Box::pin(async move {
            let form = match body {
                Some(bytes) => {
                    Some(super::form(&bytes.await.map_err(|e| {
                        WebError::Unreadable(e.as_response_error().status_code())
                    })?))
                }
                None => None,
            };
            AccessToken::read(&req, form.as_ref())
        })
    }
}

/// The admin API's caller, as the audit log names them, once
/// `admin::caller::admit` has admitted their token (Bearer, or DPoP-bound
/// with a proof for this request).
pub struct AdminCaller(pub String);

impl FromRequest for AdminCaller {
    type Error = WebError;
    type Future = Boxed<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            let Ok(Some(presented)) = authorization(&req) else {
                return Err(unauthorized(
                    challenges(None, None),
                    "send a Lanyard access token for the admin API".into(),
                ));
            };
            let scheme = Some(presented.scheme());
            match caller::admit(&state.provider, &presented).await {
                Ok(caller) => Ok(AdminCaller(caller.actor())),
                Err(CallerError::Unauthenticated(m)) => {
                    let error = OAuthError::new(ErrorCode::InvalidToken, m.clone());
                    Err(unauthorized(challenges(scheme, Some(&error)), m))
                }
                Err(CallerError::BadProof(m)) => {
                    let error = OAuthError::new(ErrorCode::InvalidDpopProof, m.clone());
                    Err(unauthorized(challenges(scheme, Some(&error)), m))
                }
                Err(CallerError::WeakSignIn(m)) => {
                    // RFC 9470 §3: the challenge names the levels that would do.
                    let error = OAuthError::new(ErrorCode::InsufficientUserAuthentication, m.clone());
                    let levels = format!(r#", acr_values="{}""#, AuthLevel::at_least(AuthLevel::MultiFactor));
                    let challenges = challenges(scheme, Some(&error)).into_iter().map(|c| c + &levels);
                    Err(unauthorized(challenges.collect(), m))
                }
                Err(CallerError::Forbidden(m)) => Err(WebError::api(StatusCode::FORBIDDEN, "forbidden", m)),
                Err(CallerError::Unavailable(e)) => {
                    tracing::warn!(error = %e.description, "could not check an admin API caller");
                    Err(WebError::api_unavailable())
                }
            }
        })
    }
}

/// 401 with the challenges of RFC 6750 §3 and RFC 9449 §7.1.
fn unauthorized(challenges: Vec<String>, message: String) -> WebError {
    WebError::Api(ApiError {
        status: StatusCode::UNAUTHORIZED,
        code: "unauthorized",
        message,
        challenges,
        allow: None,
    })
}

/// The signed-in admin of an admin page; otherwise the sign-in page (coming
/// back here afterwards) or a 403 page for non-admins.
pub struct Admin(pub CurrentSession);

impl FromRequest for Admin {
    type Error = WebError;
    type Future = Boxed<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            require_admin(&req, &state).await.map(Admin)
        })
    }
}

async fn require_admin(req: &HttpRequest, state: &AppState) -> Result<CurrentSession, WebError> {
    match session::current(&state.provider, state.cookies.session(req).as_deref()).await {
        Ok(Some(s)) if s.user.is_admin && needs_second_factor(state, &s) => Err(step_up_first(req, state, &s).await),
        Ok(Some(s)) if s.user.is_admin => Ok(s),
        Ok(Some(_)) => Err(WebError::page(
            StatusCode::FORBIDDEN,
            "Admins only",
            "Your account does not have the admin role.",
        )),
        Ok(None) => Err(WebError::redirect(sign_in_target(req), false)),
        Err(e) => Err(WebError::unavailable_page(e)),
    }
}

/// `LANYARD_ADMIN_REQUIRE_MFA`: an admin signed in with a password alone.
fn needs_second_factor(state: &AppState, s: &CurrentSession) -> bool {
    state.provider.config.admin_require_mfa && AuthLevel::of_methods(&s.amr) < AuthLevel::MultiFactor
}

/// The second step for the admin's session (coming back here), or, for an
/// admin with no second factor yet, where to set one up.
async fn step_up_first(req: &HttpRequest, state: &AppState, s: &CurrentSession) -> WebError {
    match Enrolled::of(&state.provider, s.user.id).await {
        Ok(enrolled) if enrolled.reach() >= AuthLevel::MultiFactor => {
            WebError::redirect(back_here(req, crate::paths::SECOND_STEP), false)
        }
        Ok(_) => WebError::page(
            StatusCode::FORBIDDEN,
            "Two-step sign-in needed",
            "Administrators sign in with a second factor. Set up an authenticator app at /account/two-step or a passkey at /account/passkeys, then come back.",
        ),
        Err(e) => WebError::unavailable_page(e),
    }
}

/// The sign-in page, coming back to this page afterwards.
pub(super) fn sign_in_target(req: &HttpRequest) -> String {
    back_here(req, crate::paths::SIGNIN)
}

/// `page?return_to=<this page>`.
fn back_here(req: &HttpRequest, page: &str) -> String {
    let mut back = req.path().to_owned();
    if !req.query_string().is_empty() {
        back = format!("{back}?{}", req.query_string());
    }
    let mut target = url::form_urlencoded::Serializer::new(String::new());
    target.append_pair("return_to", &back);
    format!("{page}?{}", target.finish())
}

/// The CSRF purpose of every admin form.
pub const ADMIN_FORM: &str = "admin";

/// A POSTed admin form: the signed-in admin and the form, once the admin and
/// then the form's CSRF token are checked.
pub struct AdminForm {
    pub admin: CurrentSession,
    pub params: Params,
}

impl FromRequest for AdminForm {
    type Error = WebError;
    type Future = Boxed<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = body.await.map_err(unreadable_form)?;
            let state = state(&req)?;
            let admin = require_admin(&req, &state).await?;
            let params = csrf_checked(&req, &state, &body, ADMIN_FORM)?;
            Ok(AdminForm { admin, params })
        })
    }
}

/// The page for a form body actix could not read (too large, malformed).
pub(super) fn unreadable_form(e: actix_web::Error) -> WebError {
    let status = e.as_response_error().status_code();
    WebError::page(status, "This form cannot be read", "It is too large or malformed.")
}

/// A page form's parameters, once it carries this browser's CSRF token for `purpose`.
pub(super) fn csrf_checked(
    req: &HttpRequest,
    state: &AppState,
    body: &Bytes,
    purpose: &str,
) -> Result<Params, WebError> {
    let params = super::form(body);
    match state
        .csrf
        .check(req, &state.cookies, purpose, params.one("csrf").ok().flatten())
    {
        true => Ok(params),
        false => Err(WebError::page(
            StatusCode::BAD_REQUEST,
            "This form has expired",
            "Reload the page and try again.",
        )),
    }
}
