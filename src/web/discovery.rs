//! Discovery metadata and the JWKS, from precomputed bytes.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::AppState;
use crate::keys::JWKS_MAX_AGE_SECS;

/// How long clients may cache the discovery document.
const DISCOVERY_MAX_AGE_SECS: i64 = 3600;

/// `GET /.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`.
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    public_json(state.discovery.clone(), DISCOVERY_MAX_AGE_SECS, "application/json")
}

/// `GET /jwks` (RFC 7517 §5; served as `application/jwk-set+json`, §8.5.1).
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    public_json(
        state.provider.keys.jwks(),
        JWKS_MAX_AGE_SECS,
        "application/jwk-set+json",
    )
}

/// Public, cacheable, readable from any origin (README "The code flow", browser rules).
fn public_json(body: web::Bytes, max_age: i64, content_type: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, format!("public, max-age={max_age}")))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(body)
}
