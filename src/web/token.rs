//! `POST /token`.

use actix_web::http::header;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};

use super::respond::{json_no_store, oauth_error};
use super::{AppState, cors, protocol_form};
use crate::protocol::client_auth::Basic;
use crate::protocol::token;

pub async fn post(req: HttpRequest, body: Bytes, state: Data<AppState>) -> HttpResponse {
    let basic = Basic::parse(req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
    let result = match protocol_form(&req, &body) {
        Ok(params) => token::issue(&state.provider, &basic, &params).await,
        Err(e) => Err(e),
    };
    let mut res = match result {
        Ok(response) => json_no_store(&response),
        Err(e) => oauth_error(&e, basic.is_used()),
    };
    cors::allow_registered_origin(&req, &state, &mut res).await;
    res
}

pub async fn preflight(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    cors::preflight(&req, &state, "POST").await
}
