//! `POST /token`.

use actix_web::http::header;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};

use super::respond::{json_no_store, oauth_error};
use super::{AppState, cors, form};
use crate::protocol::client_auth::Basic;
use crate::protocol::error::OAuthError;
use crate::protocol::token;

pub async fn post(req: HttpRequest, body: Bytes, state: Data<AppState>) -> HttpResponse {
    let basic = Basic::parse(req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        });
    let mut res = if !is_form {
        oauth_error(
            &OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"),
            basic.is_used(),
        )
    } else {
        match token::exchange(&state.provider, &basic, &form(&body)).await {
            Ok(response) => json_no_store(&response),
            Err(e) => oauth_error(&e, basic.is_used()),
        }
    };
    cors::allow_registered_origin(&req, &state, &mut res).await;
    res
}

pub async fn preflight(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    cors::preflight(&req, &state, "POST").await
}
