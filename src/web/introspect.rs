//! `POST /introspect` (RFC 7662) and `POST /revoke` (RFC 7009).

use actix_web::http::header;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};

use super::error::WebError;
use super::extract::ClientBasic;
use super::respond::{json_no_store, with_cors};
use super::{AppState, cors, protocol_form};
use crate::protocol::client_auth::Basic;
use crate::protocol::error::OAuthError;
use crate::protocol::{introspect, revoke};

/// A client's error, with the Basic challenge if it used Basic (RFC 6749 §5.2).
fn refused(basic: &Basic) -> impl FnOnce(OAuthError) -> WebError {
    let used = basic.is_used();
    move |error| WebError::OAuth { error, basic: used }
}

/// RFC 7662 §2.1: the resource server authenticates; the body is a form.
pub async fn introspect(
    req: HttpRequest,
    ClientBasic(basic): ClientBasic,
    body: Bytes,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let params = protocol_form(&req, &body).map_err(refused(&basic))?;
    let answer = introspect::introspect(&state.provider, &basic, &params)
        .await
        .map_err(refused(&basic))?;
    Ok(json_no_store(&answer))
}

/// RFC 7009 §2.1.
pub async fn revoke(
    req: HttpRequest,
    ClientBasic(basic): ClientBasic,
    body: Bytes,
    state: Data<AppState>,
) -> HttpResponse {
    let result = async {
        let params = protocol_form(&req, &body)?;
        revoke::revoke(&state.provider, &basic, &params).await
    };
    // RFC 7009 §2.2: 200 whether or not the token was known.
    let result = result.await.map_err(refused(&basic)).map(|()| {
        HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()
    });
    with_cors(&req, &state, result).await
}

pub async fn revoke_preflight(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    cors::preflight(&req, &state, "POST").await
}
