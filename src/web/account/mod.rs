//! The account page at `/account` (README "Your account"): a signed-in
//! person's profile, password, sessions and connected applications, usable
//! without JavaScript. Every change is a POSTed form with a CSRF token, from
//! a recent sign-in, and goes through one `protocol::account` flow.

mod apps;
mod email;
mod page;
mod passkeys;
mod password;
mod profile;
mod sessions;
mod two_step;
mod upstreams;

use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{FromRequest, HttpRequest, HttpResponse};

use super::client_ip::client_ip;
use super::error::WebError;
use super::extract::{csrf_checked, sign_in_target, state, unreadable_form};
use super::respond::redirect;
use super::{AppState, refuse_cross_site, stale_sign_in};
use crate::paths;
use crate::protocol::account::Person;
use crate::protocol::params::Params;
use crate::protocol::session::{self, CurrentSession};

/// The CSRF purpose of every account form.
const ACCOUNT_FORM: &str = "account";

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.route(paths::ACCOUNT, web::get().to(page::get))
        .route(paths::ACCOUNT_PROFILE, web::post().to(profile::post))
        .route(paths::ACCOUNT_PASSWORD, web::post().to(password::post))
        .route(paths::ACCOUNT_EMAIL, web::post().to(email::post))
        .route(paths::ACCOUNT_SESSION_END, web::post().to(sessions::end_one))
        .route(paths::ACCOUNT_SESSIONS_END_OTHERS, web::post().to(sessions::end_others))
        .route(paths::ACCOUNT_APP_WITHDRAW, web::post().to(apps::withdraw))
        .route(paths::ACCOUNT_UPSTREAM_UNLINK, web::post().to(upstreams::unlink))
        .route(paths::TWO_STEP, web::get().to(two_step::page))
        .route(paths::TWO_STEP, web::post().to(two_step::confirm))
        .route(paths::TWO_STEP_REMOVE, web::post().to(two_step::remove))
        .route(paths::RECOVERY_CODES, web::post().to(two_step::renew_codes))
        .route(paths::PASSKEYS, web::get().to(passkeys::page))
        .route(paths::PASSKEYS_RENAME, web::post().to(passkeys::rename))
        .route(paths::PASSKEYS_REMOVE, web::post().to(passkeys::remove))
        .route(paths::PASSKEYS_OPTIONS, web::post().to(passkeys::options))
        .route(paths::PASSKEYS_REGISTER, web::post().to(passkeys::register));
}

/// The signed-in person of a request; else the sign-in page, coming back
/// to this page (after a GET) or to the account page (after a form).
async fn signed_in(req: &HttpRequest, state: &AppState) -> Result<CurrentSession, WebError> {
    match session::current(&state.provider, state.cookies.session(req).as_deref()).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) if req.method() == actix_web::http::Method::GET => Err(WebError::redirect(sign_in_target(req), false)),
        Ok(None) => Err(WebError::redirect(
            format!(
                "{}?return_to={}",
                paths::SIGNIN,
                super::pages::percent_encode(paths::ACCOUNT)
            ),
            true,
        )),
        Err(e) => Err(WebError::unavailable_page(e)),
    }
}

/// A POSTed account form: the signed-in person, the form and their address,
/// once the session, then the form's CSRF token (and Fetch Metadata), then
/// a recent sign-in are checked.
pub struct AccountForm {
    pub session: CurrentSession,
    pub params: Params,
    pub ip: Option<String>,
}

impl AccountForm {
    /// The person making the change.
    fn person<'a>(&'a self, state: &'a AppState) -> Person<'a> {
        Person {
            provider: &state.provider,
            session: &self.session,
            ip: self.ip.as_deref(),
        }
    }

    /// One field of the form (blank, or given twice: empty).
    fn field(&self, name: &str) -> String {
        self.params.one(name).ok().flatten().unwrap_or_default().to_owned()
    }
}

impl FromRequest for AccountForm {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = body.await.map_err(unreadable_form)?;
            let state = state(&req)?;
            let session = signed_in(&req, &state).await?;
            refuse_cross_site(&req)?;
            let params = csrf_checked(&req, &state, &body, ACCOUNT_FORM)?;
            stale_sign_in(&state, &session, paths::ACCOUNT)?;
            let ip = client_ip(&req, &state.provider.config.trusted_proxies);
            Ok(AccountForm { session, params, ip })
        })
    }
}

/// After a change: back to the page, which says what was done.
fn done(what: &str) -> HttpResponse {
    redirect(&format!("{}?done={what}", paths::ACCOUNT), true)
}
