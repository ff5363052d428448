//! `/healthz` (the process is up) and `/readyz` (the database answers).

use actix_web::{HttpResponse, web};

use super::AppState;
use crate::store;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok\n")
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ready = tokio::time::timeout(std::time::Duration::from_secs(2), store::ping(&state.provider.pool))
        .await
        .unwrap_or(false);
    if ready {
        HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("ready\n")
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .content_type("text/plain; charset=utf-8")
            .body("database unreachable\n")
    }
}
