//! A small API that trusts Lanyard's access tokens, knowing only the issuer URL
//! and its own audience. It validates every token offline (see `bearer.rs`).
//!
//! ```sh
//! cargo run -- dev                      # Lanyard, with the demo API http://localhost:8081/api
//! cargo run --example resource_server   # GET/POST http://127.0.0.1:8082/orders for that audience
//! ```
//! Settings: `LANYARD_ISSUER` (http://localhost:8080), `API_AUDIENCE`
//! (http://localhost:8081/api), `BIND` (127.0.0.1:8082), `JWKS_REFETCH_SECS` (30).

// An example program, not the server: the injected clock and random source
// (clippy.toml) do not apply.
#![allow(clippy::disallowed_methods)]

mod bearer;

use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;

use bearer::Validator;

async fn guarded(
    req: &HttpRequest,
    api: &Validator,
    scope: &str,
    answer: impl FnOnce(&serde_json::Map<String, serde_json::Value>) -> HttpResponse,
) -> HttpResponse {
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match api.check(authorization, scope).await {
        Ok(claims) => answer(&claims),
        Err(refusal) => refusal.response(),
    }
}

async fn list_orders(req: HttpRequest, api: web::Data<Validator>) -> HttpResponse {
    guarded(&req, &api, "read", |claims| {
        HttpResponse::Ok().json(json!({
            "orders": [{"id": 1, "item": "lanyard", "quantity": 2}],
            "caller": { "sub": claims.get("sub"), "client_id": claims.get("client_id"), "scope": claims.get("scope") },
        }))
    })
    .await
}

async fn create_order(req: HttpRequest, api: web::Data<Validator>) -> HttpResponse {
    guarded(&req, &api, "write", |claims| {
        HttpResponse::Created().json(json!({ "created": true, "by": claims.get("sub") }))
    })
    .await
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let issuer = std::env::var("LANYARD_ISSUER").unwrap_or_else(|_| "http://localhost:8080".into());
    let audience = std::env::var("API_AUDIENCE").unwrap_or_else(|_| "http://localhost:8081/api".into());
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8082".into());
    let validator = Validator::discover(&issuer, &audience)
        .await
        .map_err(std::io::Error::other)?;
    let api = web::Data::new(validator);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(api.clone())
            .route("/orders", web::get().to(list_orders))
            .route("/orders", web::post().to(create_order))
    })
    .workers(1)
    .bind(&bind)?;
    for addr in server.addrs() {
        println!("resource server for {audience} listening on {addr}");
    }
    server.run().await
}
