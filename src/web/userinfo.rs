//! `GET` and `POST /userinfo` (OIDC Core §5.3) with RFC 6750 bearer tokens.

use actix_web::http::header;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};

use super::respond::{bearer_error, json_no_store};
use super::{AppState, cors, form};
use crate::protocol::error::OAuthError;
use crate::protocol::userinfo;

pub async fn get(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    respond(&req, &state, None).await
}

pub async fn post(req: HttpRequest, body: Bytes, state: Data<AppState>) -> HttpResponse {
    respond(&req, &state, Some(body)).await
}

/// The token from the `Authorization` header or (POST) the form body's
/// `access_token`; more than one way is `invalid_request` (RFC 6750 §2).
fn bearer_token(req: &HttpRequest, body: Option<&Bytes>) -> Result<Option<String>, OAuthError> {
    let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let from_header = match header {
        None => None,
        Some(v) => match v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            Some(t) if !t.trim().is_empty() => Some(t.trim().to_owned()),
            _ => {
                return Err(OAuthError::invalid_request(
                    "the Authorization header is not a Bearer token",
                ));
            }
        },
    };
    let from_body = match body {
        Some(b) => form(b).one("access_token")?.map(str::to_owned),
        None => None,
    };
    let in_query = super::query(req).has("access_token");
    match (from_header, from_body, in_query) {
        (_, _, true) => Err(OAuthError::invalid_request(
            "send the access token in the Authorization header, not the URL",
        )),
        (Some(_), Some(_), _) => Err(OAuthError::invalid_request(
            "the access token was sent more than one way",
        )),
        (h, b, _) => Ok(h.or(b)),
    }
}

async fn respond(req: &HttpRequest, state: &AppState, body: Option<Bytes>) -> HttpResponse {
    let mut res = match bearer_token(req, body.as_ref()) {
        Err(e) => bearer_error(Some(&e)),
        Ok(None) => bearer_error(None),
        Ok(Some(token)) => match userinfo::userinfo(&state.provider, &token).await {
            Ok(claims) => json_no_store(&claims),
            Err(e) => bearer_error(Some(&e)),
        },
    };
    cors::allow_registered_origin(req, state, &mut res).await;
    res
}

pub async fn preflight(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    cors::preflight(&req, &state, "GET, POST").await
}
