//! `GET` and `POST /authorize` (RFC 6749 §3.1, OIDC Core §3.1.2.1): check the
//! request, then sign in, consent, or redirect.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};

use super::error::WebError;
use super::respond::redirect;
use super::signin::second_step::step_up_page;
use super::signin::{consent_page, signin_page};
use super::{AppState, form, query};
use crate::protocol::authorize::{self, Outcome, Refusal};
use crate::protocol::client_documents::Fetch;
use crate::protocol::params::Params;
use crate::protocol::session;

pub async fn get(req: HttpRequest, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    run(&req, &state, query(&req), false).await
}

pub async fn post(req: HttpRequest, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    run(&req, &state, form(&body), true).await
}

async fn run(req: &HttpRequest, state: &AppState, params: Params, is_post: bool) -> Result<HttpResponse, WebError> {
    let p = &state.provider;
    let ip = super::client_ip::client_ip(req, &p.config.trusted_proxies);
    let fetch = Fetch::Allowed { ip: ip.as_deref() };
    let request = authorize::parse(p, params, fetch)
        .await
        .map_err(|refusal| match refusal {
            Refusal::Page(message) => {
                WebError::page(StatusCode::BAD_REQUEST, "This sign-in link is not valid", message)
            }
            Refusal::Redirect(url) | Refusal::Continue(url) => WebError::redirect(url, is_post),
            Refusal::Unavailable(e) => WebError::unavailable_page(e),
        })?;
    let session = session::current(p, state.cookies.session(req).as_deref())
        .await
        .map_err(WebError::unavailable_page)?;
    let outcome = authorize::decide(p, &request, session.as_ref())
        .await
        .map_err(WebError::unavailable_page)?;
    if let (Outcome::StepUp { level }, Some(s)) = (&outcome, &session) {
        return Ok(step_up_page(state, req, &request, s, *level).await);
    }
    Ok(match (outcome, &session) {
        (Outcome::Redirect(url), _) => redirect(&url, is_post),
        (Outcome::SignIn, _) => {
            let username = request.login_hint.clone().unwrap_or_default();
            signin_page(state, req, StatusCode::OK, Some(&request), &username, None)
        }
        (Outcome::Consent { scopes }, Some(s)) => consent_page(state, req, &request, &scopes, &s.user.username),
        (Outcome::Consent { .. } | Outcome::StepUp { .. }, _) => {
            signin_page(state, req, StatusCode::OK, Some(&request), "", None)
        }
    })
}
