//! `POST /par`: pushed authorization requests (RFC 9126 §2). The body is
//! never logged (it holds the client's credentials).

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::client_ip::client_ip;
use super::error::WebError;
use super::extract::{ClientBasic, dpop_header};
use super::{AppState, protocol_form};
use crate::protocol::par;

pub async fn post(
    req: HttpRequest,
    ClientBasic(basic): ClientBasic,
    body: Bytes,
    state: Data<AppState>,
) -> HttpResponse {
    let result = async {
        let params = protocol_form(&req, &body)?;
        let ip = client_ip(&req, &state.provider.config.trusted_proxies);
        par::push(&state.provider, &basic, &params, (&dpop_header(&req), ip.as_deref())).await
    };
    match result.await {
        // §2.2: 201 Created, not to be cached.
        Ok(pushed) => HttpResponse::build(StatusCode::CREATED)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(pushed),
        Err(error) => WebError::OAuth {
            error,
            basic: basic.is_used(),
        }
        .error_response(),
    }
}
