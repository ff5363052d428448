//! `POST /token` (RFC 6749 §3.2).

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};

use super::error::WebError;
use super::extract::{ClientBasic, dpop_header};
use super::respond::{json_no_store, with_cors};
use super::{AppState, cors, protocol_form};
use crate::protocol::token;

pub async fn post(
    req: HttpRequest,
    ClientBasic(basic): ClientBasic,
    body: Bytes,
    state: Data<AppState>,
) -> HttpResponse {
    let result = async {
        let params = protocol_form(&req, &body)?;
        token::issue(&state.provider, &basic, &params, &dpop_header(&req)).await
    };
    let result = result
        .await
        .map(|r| {
            let mut res = json_no_store(&r);
            // RFC 9449 §8.2: the next nonce, for a client that uses them.
            if let Some(nonce) = r.dpop_nonce.as_deref().and_then(|n| HeaderValue::from_str(n).ok()) {
                res.headers_mut().insert(HeaderName::from_static("dpop-nonce"), nonce);
            }
            res
        })
        .map_err(|error| WebError::OAuth {
            error,
            basic: basic.is_used(),
        });
    with_cors(&req, &state, result).await
}

pub async fn preflight(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    cors::preflight(&req, &state, "POST").await
}
