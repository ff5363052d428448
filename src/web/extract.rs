//! Extractors for the credentials handlers would otherwise parse themselves:
//! HTTP Basic client credentials (RFC 6749 §2.3.1), Bearer tokens (RFC 6750
//! §2.1, §2.2), the admin API's caller and the admin pages' signed-in admin.

use std::future::{Ready, ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{Method, StatusCode, header};
use actix_web::web::{Bytes, Data};
use actix_web::{FromRequest, HttpRequest};

use super::AppState;
use super::error::{ApiError, WebError};
use crate::admin::caller::{self, CallerError};
use crate::protocol::client_auth::Basic;
use crate::protocol::error::OAuthError;
use crate::protocol::params::Params;
use crate::protocol::session::{self, CurrentSession};

type Boxed<T> = Pin<Box<dyn Future<Output = Result<T, WebError>>>>;

fn state(req: &HttpRequest) -> Result<Data<AppState>, WebError> {
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

/// The token of an `Authorization: Bearer` header (RFC 6750 §2.1; the scheme
/// is case-insensitive, RFC 9110 §11.1): `None` without the header, an error
/// for another scheme or an empty token.
pub fn bearer_header(req: &HttpRequest) -> Result<Option<String>, OAuthError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value.to_str().ok().and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    match token {
        Some(t) if !t.is_empty() => Ok(Some(t.to_owned())),
        _ => Err(OAuthError::invalid_request(
            "the Authorization header is not a Bearer token",
        )),
    }
}

/// The access token of a request to a Bearer-protected resource that also
/// takes it in a form body (RFC 6750 §2.2, POST only): `None` when none was
/// sent. One in the URL (§2.3) or sent more than one way is `invalid_request`.
pub struct Bearer(pub Option<String>);

impl Bearer {
    fn read(req: &HttpRequest, form: Option<&Params>) -> Result<Self, OAuthError> {
        let from_header = bearer_header(req)?;
        let from_body = match form {
            Some(params) => params.one("access_token")?.map(str::to_owned),
            None => None,
        };
        if super::query(req).has("access_token") {
            return Err(OAuthError::invalid_request(
                "send the access token in the Authorization header, not the URL",
            ));
        }
        match (from_header, from_body) {
            (Some(_), Some(_)) => Err(OAuthError::invalid_request(
                "the access token was sent more than one way",
            )),
            (h, b) => Ok(Bearer(h.or(b))),
        }
    }
}

impl FromRequest for Bearer {
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
            Bearer::read(&req, form.as_ref()).map_err(|e| WebError::Bearer(Some(e)))
        })
    }
}

/// The admin API's caller, as the audit log names them, once
/// `admin::caller::admit` has admitted their token.
pub struct AdminCaller(pub String);

impl FromRequest for AdminCaller {
    type Error = WebError;
    type Future = Boxed<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            let Ok(Some(token)) = bearer_header(&req) else {
                return Err(unauthorized(
                    "Bearer",
                    "send a Lanyard access token for the admin API".into(),
                ));
            };
            match caller::admit(&state.provider, &token).await {
                Ok(caller) => Ok(AdminCaller(caller.actor())),
                Err(CallerError::Unauthenticated(m)) => Err(unauthorized("Bearer error=\"invalid_token\"", m)),
                Err(CallerError::Forbidden(m)) => Err(WebError::api(StatusCode::FORBIDDEN, "forbidden", m)),
                Err(CallerError::Unavailable(e)) => {
                    tracing::warn!(error = %e.description, "could not check an admin API caller");
                    Err(WebError::api_unavailable())
                }
            }
        })
    }
}

/// 401 with the challenge of RFC 6750 §3.
fn unauthorized(challenge: &'static str, message: String) -> WebError {
    WebError::Api(ApiError {
        status: StatusCode::UNAUTHORIZED,
        code: "unauthorized",
        message,
        challenge: Some(challenge),
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

/// The sign-in page, coming back to this page afterwards.
fn sign_in_target(req: &HttpRequest) -> String {
    let mut back = req.path().to_owned();
    if !req.query_string().is_empty() {
        back = format!("{back}?{}", req.query_string());
    }
    let mut target = url::form_urlencoded::Serializer::new(String::new());
    target.append_pair("return_to", &back);
    format!("{}?{}", crate::paths::SIGNIN, target.finish())
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
            let body = body.await.map_err(|e| {
                let status = e.as_response_error().status_code();
                WebError::page(status, "This form cannot be read", "It is too large or malformed.")
            })?;
            let state = state(&req)?;
            let admin = require_admin(&req, &state).await?;
            let params = super::form(&body);
            if !state
                .csrf
                .check(&req, &state.cookies, ADMIN_FORM, params.one("csrf").ok().flatten())
            {
                return Err(WebError::page(
                    StatusCode::BAD_REQUEST,
                    "This form has expired",
                    "Reload the page and try again.",
                ));
            }
            Ok(AdminForm { admin, params })
        })
    }
}
