//! `GET` and `POST /authorize`: check the request, then sign in, consent, or redirect.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};

use super::respond::redirect;
use super::signin::{consent_page, signin_page, unavailable};
use super::{AppState, form, query};
use crate::protocol::authorize::{self, Outcome, Refusal};
use crate::protocol::params::Params;
use crate::protocol::session;

pub async fn get(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    run(&req, &state, query(&req), false).await
}

pub async fn post(req: HttpRequest, body: Bytes, state: Data<AppState>) -> HttpResponse {
    run(&req, &state, form(&body), true).await
}

async fn run(req: &HttpRequest, state: &AppState, params: Params, is_post: bool) -> HttpResponse {
    let p = &state.provider;
    let request = match authorize::parse(p, params).await {
        Ok(r) => r,
        Err(Refusal::Page(message)) => {
            return state
                .pages
                .error(StatusCode::BAD_REQUEST, "This sign-in link is not valid", &message);
        }
        Err(Refusal::Redirect(url)) => return redirect(&url, is_post),
    };
    let session = match session::current(p, state.cookies.session(req).as_deref()).await {
        Ok(s) => s,
        Err(e) => return unavailable(state, &e),
    };
    match authorize::decide(p, &request, session.as_ref()).await {
        Ok(Outcome::Redirect(url)) => redirect(&url, is_post),
        Ok(Outcome::SignIn) => {
            let username = request.login_hint.clone().unwrap_or_default();
            signin_page(state, req, StatusCode::OK, Some(&request), &username, None)
        }
        Ok(Outcome::Consent { scopes }) => match &session {
            Some(s) => consent_page(state, req, &request, &scopes, &s.user.username),
            None => signin_page(state, req, StatusCode::OK, Some(&request), "", None),
        },
        Err(e) => unavailable(state, &e),
    }
}
