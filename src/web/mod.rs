//! HTTP: actix-web handlers. They parse the request, call one flow, render the result.

mod account;
mod admin;
mod admin_api;
mod authorize;
mod client_ip;
mod cookies;
mod cors;
mod csrf;
mod discovery;
pub mod error;
mod extract;
mod headers;
mod health;
mod introspect;
mod logging;
mod logout;
mod metrics;
pub mod pages;
mod par;
mod qr_svg;
mod registration;
pub(crate) mod respond;
pub(crate) mod signin;
mod token;
mod userinfo;

use actix_web::http::header;
use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse, middleware};

pub use cookies::CookieJar;
pub use csrf::Csrf;
pub use error::{WebError, render_error_pages};
pub use logging::log_request;
pub use pages::Pages;

use crate::paths;
use crate::protocol::Provider;
use crate::protocol::params::Params;
use crate::protocol::session::CurrentSession;

/// What every handler may reach.
pub struct AppState {
    pub provider: Provider,
    /// The discovery document, serialised once.
    pub discovery: Bytes,
    pub pages: Pages,
    pub csrf: Csrf,
    pub cookies: CookieJar,
    /// The change listener start-up opened before reading the catalog and
    /// keys, handed to the refresher when the server starts.
    pub listening: std::sync::Mutex<Option<sqlx::postgres::PgListener>>,
}

/// The largest request body accepted (forms and token requests are small).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Registers every route but `/metrics`.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .route(paths::DISCOVERY, web::get().to(discovery::metadata))
        .route(paths::AUTHORIZATION_SERVER_METADATA, web::get().to(discovery::metadata))
        .route(paths::JWKS, web::get().to(discovery::jwks))
        .route(paths::AUTHORIZE, web::get().to(authorize::get))
        .route(paths::AUTHORIZE, web::post().to(authorize::post))
        .configure(signin_routes)
        .route(paths::TOKEN, web::post().to(token::post))
        .route(paths::PAR, web::post().to(par::post))
        .route(
            paths::TOKEN,
            web::method(actix_web::http::Method::OPTIONS).to(token::preflight),
        )
        .route(paths::USERINFO, web::get().to(userinfo::get))
        .route(paths::USERINFO, web::post().to(userinfo::post))
        .route(
            paths::USERINFO,
            web::method(actix_web::http::Method::OPTIONS).to(userinfo::preflight),
        )
        .route(paths::INTROSPECT, web::post().to(introspect::introspect))
        .route(paths::REVOKE, web::post().to(introspect::revoke))
        .route(
            paths::REVOKE,
            web::method(actix_web::http::Method::OPTIONS).to(introspect::revoke_preflight),
        )
        .route(paths::CLIENT_REGISTRATION, web::post().to(registration::post))
        .route(paths::CLIENT_CONFIGURATION, web::get().to(registration::get))
        .route(paths::CLIENT_CONFIGURATION, web::put().to(registration::put))
        .route(paths::CLIENT_CONFIGURATION, web::delete().to(registration::delete))
        .route(paths::LOGOUT, web::get().to(logout::get))
        .route(paths::LOGOUT, web::post().to(logout::post))
        .route(paths::STYLESHEET, web::get().to(stylesheet))
        .route(paths::ADMIN_SCRIPT, web::get().to(admin_script))
        .route(paths::PASSKEYS_SCRIPT, web::get().to(passkeys_script))
        .configure(admin_api::routes)
        .configure(admin::routes)
        .configure(account::routes)
        .route(paths::HEALTHZ, web::get().to(health::healthz))
        .route(paths::READYZ, web::get().to(health::readyz))
        .default_service(web::to(not_found));
}

/// The sign-in pages: password, second step, passkeys, reset, registration,
/// email verification, consent and upstream providers.
fn signin_routes(cfg: &mut ServiceConfig) {
    cfg.route(paths::SIGNIN, web::get().to(signin::page))
        .route(paths::SIGNIN, web::post().to(signin::submit))
        .route(paths::SECOND_STEP, web::get().to(signin::second_step::get))
        .route(paths::SECOND_STEP, web::post().to(signin::second_step::submit))
        .route(paths::FORGOT, web::get().to(signin::reset::forgot))
        .route(paths::FORGOT, web::post().to(signin::reset::forgot_submit))
        .route(paths::RESET, web::get().to(signin::reset::reset))
        .route(paths::RESET, web::post().to(signin::reset::reset_submit))
        .route(paths::REGISTER, web::get().to(signin::register::page))
        .route(paths::REGISTER, web::post().to(signin::register::submit))
        .route(paths::VERIFY_EMAIL, web::get().to(signin::verify_email::page))
        .route(paths::VERIFY_EMAIL, web::post().to(signin::verify_email::submit))
        .route(paths::CONSENT, web::post().to(signin::consent))
        .route(paths::UPSTREAM_SIGNIN, web::get().to(signin::upstream::start))
        .route(paths::UPSTREAM_CALLBACK, web::get().to(signin::upstream::callback))
        .route(paths::UPSTREAM_LINK, web::post().to(signin::upstream::link))
        .route(paths::PASSKEY_SIGNIN_OPTIONS, web::post().to(signin::passkey::options))
        .route(paths::PASSKEY_SIGNIN, web::post().to(signin::passkey::finish))
        .route(
            paths::PASSKEY_STEP_OPTIONS,
            web::post().to(signin::second_step::passkey_options),
        )
        .route(paths::PASSKEY_STEP, web::post().to(signin::second_step::passkey));
}

/// `/metrics`: on the main address, or alone on `LANYARD_METRICS_BIND`.
pub fn metrics_route(cfg: &mut ServiceConfig) {
    cfg.route(paths::METRICS, web::get().to(metrics::metrics));
}

/// The security headers every response carries (HSTS when `https`).
pub fn security_headers(https: bool) -> middleware::DefaultHeaders {
    headers::security_headers(https)
}

/// The parameters of a form body (`application/x-www-form-urlencoded`).
pub(crate) fn form(body: &Bytes) -> Params {
    Params::parse(&String::from_utf8_lossy(body))
}

/// Renders a page that holds a form: issues the form's CSRF token (setting the
/// browser's CSRF cookie if it had none) and hands it to `page`.
fn form_page<P: serde::Serialize>(
    state: &AppState,
    req: &HttpRequest,
    purpose: &str,
    status: actix_web::http::StatusCode,
    template: &str,
    page: impl FnOnce(String) -> P,
) -> HttpResponse {
    let token = state.csrf.issue(req, &state.cookies, purpose);
    let mut res = state.pages.render(status, template, &page(token.token));
    if let Some(cookie) = token.set_cookie {
        let _ = res.add_cookie(&cookie);
    }
    res
}

/// For sensitive changes (an admin's keys, secrets and roles; every change
/// on the account page): the sign-in must be recent
/// (`session::RECENT_SIGN_IN`); else the redirect to sign in again and come
/// back to `back_to`.
pub(crate) fn stale_sign_in(state: &AppState, session: &CurrentSession, back_to: &str) -> Result<(), WebError> {
    if session.signed_in_recently(state.provider.now()) {
        return Ok(());
    }
    let mut target = url::form_urlencoded::Serializer::new(String::new());
    target.append_pair("reauth", "1").append_pair("return_to", back_to);
    Err(WebError::redirect(
        format!("{}?{}", paths::SIGNIN, target.finish()),
        true,
    ))
}

/// A page's `?done=…` notice: the change just made.
pub(crate) fn notice(req: &HttpRequest) -> String {
    query(req).one("done").ok().flatten().unwrap_or_default().to_owned()
}

/// Refuses a page POST sent from another site (Fetch Metadata).
fn refuse_cross_site(req: &HttpRequest) -> Result<(), WebError> {
    match csrf::is_cross_site(req) {
        true => Err(WebError::page(
            actix_web::http::StatusCode::FORBIDDEN,
            "Request refused",
            "This form was sent from another site.",
        )),
        false => Ok(()),
    }
}

/// The header a page's script sends the page's CSRF token in.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// A page's own JSON request (the passkey ceremonies' `fetch`): refused
/// from another site (Fetch Metadata), without the page's CSRF token in
/// `X-CSRF-Token`, or with a body that is not the JSON expected — each a
/// 4xx JSON answer.
fn json_request<T: serde::de::DeserializeOwned>(
    state: &AppState,
    req: &HttpRequest,
    body: &Bytes,
    purpose: &str,
) -> Result<T, WebError> {
    use actix_web::http::StatusCode;
    if csrf::is_cross_site(req) {
        return Err(WebError::json(
            StatusCode::FORBIDDEN,
            "access_denied",
            "this request was sent from another site",
        ));
    }
    let token = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if !state.csrf.check(req, &state.cookies, purpose, token) {
        return Err(WebError::json(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "missing or wrong CSRF token: reload the page",
        ));
    }
    serde_json::from_slice(body).map_err(|_| {
        WebError::json(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body is not the JSON expected",
        )
    })
}

/// The body of a JSON request that carries nothing but its CSRF header: `{}`.
#[derive(serde::Deserialize)]
pub(crate) struct NoFields {}

/// The parameters of a protocol POST, whose body must be a form
/// (RFC 6749 §4.1.3, RFC 7662 §2.1, RFC 7009 §2.1).
fn protocol_form(req: &HttpRequest, body: &Bytes) -> Result<Params, crate::protocol::error::OAuthError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        });
    match is_form {
        true => Ok(form(body)),
        false => Err(crate::protocol::error::OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        )),
    }
}

pub(crate) fn query(req: &HttpRequest) -> Params {
    Params::parse(req.query_string())
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(pages::STYLESHEET)
}

async fn admin_script() -> HttpResponse {
    script(pages::ADMIN_SCRIPT)
}

async fn passkeys_script() -> HttpResponse {
    script(pages::PASSKEYS_SCRIPT)
}

fn script(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("Not found\n")
}
