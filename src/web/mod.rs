//! HTTP: actix-web handlers. They parse the request, call one flow, render the result.

mod discovery;
mod headers;
mod health;
mod logging;

use std::sync::Arc;

use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{HttpResponse, middleware};
use sqlx::PgPool;

use crate::clock::Clock;
use crate::config::Config;
use crate::keys::KeyRing;
use crate::paths;

/// What every handler may reach.
pub struct AppState {
    pub config: Arc<Config>,
    pub pool: PgPool,
    pub keys: Arc<KeyRing>,
    pub clock: Arc<dyn Clock>,
    /// The discovery document, serialised once.
    pub discovery: Bytes,
}

/// Registers every route.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.route(paths::DISCOVERY, web::get().to(discovery::metadata))
        .route(
            paths::AUTHORIZATION_SERVER_METADATA,
            web::get().to(discovery::metadata),
        )
        .route(paths::JWKS, web::get().to(discovery::jwks))
        .route(paths::HEALTHZ, web::get().to(health::healthz))
        .route(paths::READYZ, web::get().to(health::readyz))
        .default_service(web::to(not_found));
}

/// The middleware every response passes through, outermost last.
pub fn security_headers() -> middleware::DefaultHeaders {
    headers::security_headers()
}

pub use logging::log_request;

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("Not found\n")
}
