//! A small API that trusts Lanyard's access tokens, knowing only the issuer URL
//! and its own audience. It validates every token offline (see `bearer.rs`),
//! bearer tokens and DPoP-bound ones with their proofs (see `dpop.rs`).
//!
//! ```sh
//! cargo run -- dev                      # Lanyard, with the demo API http://localhost:8081/api
//! cargo run --example resource_server   # GET/POST http://127.0.0.1:8082/orders for that audience
//! ```
//! Settings: `LANYARD_ISSUER` (http://localhost:8080), `API_AUDIENCE`
//! (http://localhost:8081/api), `BIND` (127.0.0.1:8082), `PUBLIC_URL` (the
//! URL clients call, which their DPoP proofs name; default `http://` and the
//! address bound), `JWKS_REFETCH_SECS` (30), `MIN_ACR` (the level of sign-in
//! a user's token needs: password, mfa or phishing-resistant; none by default).

// An example program, not the server: the injected clock and random source
// (clippy.toml) do not apply.
#![allow(clippy::disallowed_methods)]

mod bearer;
mod dpop;

use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;

use bearer::{Request, Validator};

async fn guarded(
    req: &HttpRequest,
    api: &Validator,
    scope: &str,
    answer: impl FnOnce(&serde_json::Map<String, serde_json::Value>) -> HttpResponse,
) -> HttpResponse {
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    // A field that is not visible ASCII stays, as an invalid proof.
    let dpop: Vec<&str> = req
        .headers()
        .get_all("dpop")
        .map(|v| v.to_str().unwrap_or_default())
        .collect();
    let request = Request {
        authorization,
        dpop: &dpop,
        method: req.method().as_str(),
        path: req.path(),
    };
    match api.check(&request, scope).await {
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
    let listener = std::net::TcpListener::bind(&bind)?;
    let addr = listener.local_addr()?;
    let public_url = std::env::var("PUBLIC_URL").unwrap_or_else(|_| format!("http://{addr}"));
    let validator = Validator::discover(&issuer, &audience, &public_url)
        .await
        .and_then(|v| v.requiring(std::env::var("MIN_ACR").ok().as_deref()))
        .map_err(std::io::Error::other)?;
    let api = web::Data::new(validator);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(api.clone())
            .route("/orders", web::get().to(list_orders))
            .route("/orders", web::post().to(create_order))
    })
    .workers(1)
    .listen(listener)?;
    println!("resource server for {audience} at {public_url} listening on {addr}");
    server.run().await
}
