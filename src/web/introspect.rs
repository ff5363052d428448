//! `POST /introspect` (RFC 7662) and `POST /revoke` (RFC 7009).

use actix_web::http::header;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};

use super::respond::{json_no_store, oauth_error};
use super::{AppState, cors, protocol_form};
use crate::protocol::client_auth::Basic;
use crate::protocol::{introspect, revoke};

fn basic(req: &HttpRequest) -> Basic {
    Basic::parse(req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()))
}

pub async fn introspect(req: HttpRequest, body: Bytes, state: Data<AppState>) -> HttpResponse {
    let basic = basic(&req);
    let result = match protocol_form(&req, &body) {
        Ok(params) => introspect::introspect(&state.provider, &basic, &params).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(answer) => json_no_store(&answer),
        Err(e) => oauth_error(&e, basic.is_used()),
    }
}

pub async fn revoke(req: HttpRequest, body: Bytes, state: Data<AppState>) -> HttpResponse {
    let basic = basic(&req);
    let result = match protocol_form(&req, &body) {
        Ok(params) => revoke::revoke(&state.provider, &basic, &params).await,
        Err(e) => Err(e),
    };
    let mut res = match result {
        // RFC 7009 §2.2: 200 whether or not the token was known.
        Ok(()) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(e) => oauth_error(&e, basic.is_used()),
    };
    cors::allow_registered_origin(&req, &state, &mut res).await;
    res
}

pub async fn revoke_preflight(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    cors::preflight(&req, &state, "POST").await
}
