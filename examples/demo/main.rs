//! The Lanyard demo: a relying party on http://localhost:8081 built with the
//! `openidconnect` crate, with its own API at http://localhost:8081/api and
//! a second API at http://localhost:8081/shipping.
//! Sign in with DPoP (RFC 9449: the grant is bound to the demo's key) → the
//! id_token's claims → exchange it (RFC 8693) for a DPoP-bound access token
//! for the API → call the API → try the exchange without the key, and the API
//! with the id_token (both refused) → the API calls the shipping API for the
//! user with a delegated token, and the shipping API shows `act`. With
//! `SHIPPING_MIN_ACR=mfa` the shipping API refuses a password sign-in; the
//! demo then signs in again with `acr_values` and Lanyard steps the session
//! up with a second factor (RFC 9470).
//!
//! ```sh
//! cargo run -- dev              # registers the `demo` client and the demo API
//! cargo run --example demo      # then open http://localhost:8081
//! ```
//! Settings: `LANYARD_ISSUER` (http://localhost:8080), `CLIENT_SECRET` (default:
//! read from `.lanyard/demo.secret`, which `lanyard dev` writes),
//! `API_CLIENT_SECRET` (the demo API's own client, `demo-api`; default: read
//! from `.lanyard/demo-api.secret`), `SHIPPING_MIN_ACR` (the level of sign-in
//! the shipping API needs; none by default).

// An example program, not the server: the injected clock and random source
// (clippy.toml) do not apply.
#![allow(clippy::disallowed_methods)]

#[path = "../resource_server/bearer.rs"]
mod bearer;
mod chain;
#[path = "../resource_server/dpop.rs"]
mod dpop;
mod dpop_key;

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AsyncHttpClient, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, HttpRequest as OidcRequest, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse,
};
use serde_json::{Map, Value, json};

use bearer::{Request, Validator};
use dpop_key::DpopKey;

const HOME: &str = "http://localhost:8081";
const API: &str = "http://localhost:8081/api";
const SHIPPING: &str = "http://localhost:8081/shipping";
const CLIENT_ID: &str = "demo";

type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// What the demo remembers of one browser.
#[derive(Default, Clone)]
struct Visit {
    pkce: Option<(String, String, String)>,
    id_token: Option<String>,
    access_token: Option<String>,
}

struct Demo {
    client: Client,
    secret: String,
    issuer: String,
    token_endpoint: String,
    http: openidconnect::reqwest::Client,
    api: Validator,
    visits: Mutex<HashMap<String, Visit>>,
    /// The relying party's DPoP key: its grant, and so its tokens, are bound
    /// to it. One key for the demo's every visitor, in memory only: after a
    /// restart the grants bound to the old key are of no use (sign in again).
    /// A real client keeps one key per user session, in storage it trusts.
    key: DpopKey,
    /// The demo API's side of the chain: its client's secret and DPoP key,
    /// and the shipping API's validator.
    chain: chain::Chain,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html><meta charset=utf-8><title>Lanyard demo</title>\
         <body style=\"font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.5\">\
         <p><a href=\"/\">Lanyard demo</a></p>{body}</body>"
    ))
}

fn pretty(v: &Value) -> String {
    escape(&serde_json::to_string_pretty(v).unwrap_or_default())
}

/// The decoded header and claims of a JWT (for showing, not trusting).
fn decode(jwt: &str) -> Value {
    let part = |i: usize| -> Value {
        jwt.split('.')
            .nth(i)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null)
    };
    json!({ "header": part(0), "claims": part(1) })
}

fn visit_id(req: &HttpRequest) -> Option<String> {
    req.cookie("demo_visit").map(|c| c.value().to_owned())
}

impl Demo {
    fn visit(&self, req: &HttpRequest) -> Visit {
        let visits = self.visits.lock().unwrap_or_else(|e| e.into_inner());
        visit_id(req)
            .and_then(|id| visits.get(&id).cloned())
            .unwrap_or_default()
    }

    fn save(&self, id: &str, visit: Visit) {
        self.visits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned(), visit);
    }
}

async fn home(req: HttpRequest, demo: web::Data<Demo>) -> HttpResponse {
    let visit = demo.visit(&req);
    let Some(id_token) = visit.id_token else {
        return page("<h1>Lanyard demo</h1><p>A relying party and an API, both trusting Lanyard.</p><p><a href=\"/login\">Sign in</a></p>".into());
    };
    let mut body = format!(
        "<h1>Signed in</h1><p>The <b>id_token</b> proves who signed in. Its audience is this client (<code>{CLIENT_ID}</code>), so it is not for the API.</p><pre>{}</pre>\
         <p>The sign-in was bound to this demo's DPoP key (<code>dpop_jkt</code>, RFC 9449 §10), so the id_token names it in <code>cnf.jkt</code>: a copy is worth nothing without the key.</p>\
         <p><a href=\"/exchange\">Exchange it for an API token</a> (with a DPoP proof) · <a href=\"/exchange-without-key\">Exchange a copy of it without the key</a> · <a href=\"/call-with-id-token\">Try the API with the id_token</a> · <a href=\"/logout\">Sign out</a></p>",
        pretty(&decode(&id_token))
    );
    if let Some(access) = visit.access_token {
        body.push_str(&format!(
            "<h2>Access token for {API}</h2><p>One audience, <code>typ: at+jwt</code>, a <code>scope</code>, bound to the demo's key (<code>cnf.jkt</code>).</p><pre>{}</pre><p><a href=\"/call\">Call the API</a> (<code>Authorization: DPoP</code> with a proof) · <a href=\"/ship\">Ask the API to ship</a> (it calls the shipping API for you, with a delegated token)</p>",
            pretty(&decode(&access))
        ));
    }
    page(body)
}

/// `GET /login[?acr_values=…]`: the code flow, asking for a level of sign-in
/// when an API needs more than the user's (OIDC Core §3.1.2.1).
async fn login(demo: web::Data<Demo>, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = demo
        .client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        // RFC 9449 §10: the code, and the grant it becomes, are bound to this key.
        .add_extra_param("dpop_jkt", demo.key.thumbprint.clone())
        .set_pkce_challenge(challenge);
    let wanted = query
        .get("acr_values")
        .filter(|v| v.len() < 100 && v.chars().all(|c| c.is_ascii_graphic() || c == ' '));
    if let Some(levels) = wanted {
        request = request.add_extra_param("acr_values", levels.clone());
    }
    let (url, state, nonce) = request.url();
    let id = uuid::Uuid::new_v4().to_string();
    demo.save(
        &id,
        Visit {
            pkce: Some((
                state.secret().clone(),
                verifier.secret().clone(),
                nonce.secret().clone(),
            )),
            ..Default::default()
        },
    );
    HttpResponse::Found()
        .insert_header((header::LOCATION, url.to_string()))
        .cookie(
            actix_web::cookie::Cookie::build("demo_visit", id)
                .path("/")
                .http_only(true)
                .finish(),
        )
        .finish()
}

async fn callback(req: HttpRequest, demo: web::Data<Demo>, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let visit = demo.visit(&req);
    let (Some(id), Some((state, verifier, nonce))) = (visit_id(&req), visit.pkce) else {
        return page("<h1>No sign-in under way</h1><p><a href=\"/login\">Sign in</a></p>".into());
    };
    if query.get("state") != Some(&state) {
        return page("<h1>The state does not match</h1>".into());
    }
    let Some(code) = query.get("code") else {
        return page(format!(
            "<h1>Sign-in failed</h1><p>{}</p>",
            escape(query.get("error").map(String::as_str).unwrap_or("no code"))
        ));
    };
    // The code is redeemed with a DPoP proof of the key `dpop_jkt` named
    // (RFC 9449 §10): the openidconnect crate sends the request through this
    // HTTP client, which adds the proof.
    let proof = demo.key.proof("POST", &demo.token_endpoint, None);
    let with_proof = |mut request: OidcRequest| {
        if let Ok(value) = openidconnect::http::HeaderValue::from_str(&proof) {
            request.headers_mut().insert("DPoP", value);
        }
        demo.http.call(request)
    };
    let tokens = match demo.client.exchange_code(AuthorizationCode::new(code.clone())) {
        Ok(r) => r
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&with_proof)
            .await
            .map_err(|e| format!("{e:?}")),
        Err(e) => Err(e.to_string()),
    };
    let tokens = match tokens {
        Ok(t) => t,
        Err(e) => return page(format!("<h1>Code exchange failed</h1><pre>{}</pre>", escape(&e))),
    };
    let Some(id_token) = tokens.id_token() else {
        return page("<h1>No id_token</h1>".into());
    };
    if let Err(e) = id_token.claims(&demo.client.id_token_verifier(), &Nonce::new(nonce)) {
        return page(format!(
            "<h1>The id_token does not verify</h1><p>{}</p>",
            escape(&e.to_string())
        ));
    }
    demo.save(
        &id,
        Visit {
            id_token: Some(id_token.to_string()),
            ..Default::default()
        },
    );
    HttpResponse::Found().insert_header((header::LOCATION, "/")).finish()
}

/// RFC 8693 token exchange: the id_token for an access token to the API,
/// with a DPoP proof of the key the sign-in was bound to.
async fn exchange(req: HttpRequest, demo: web::Data<Demo>) -> HttpResponse {
    exchange_id_token(req, demo, true).await
}

/// What a thief who copied the id_token gets: no key, no token.
async fn exchange_without_key(req: HttpRequest, demo: web::Data<Demo>) -> HttpResponse {
    exchange_id_token(req, demo, false).await
}

async fn exchange_id_token(req: HttpRequest, demo: web::Data<Demo>, with_key: bool) -> HttpResponse {
    let mut visit = demo.visit(&req);
    let (Some(id), Some(id_token)) = (visit_id(&req), visit.id_token.clone()) else {
        return page("<h1>Sign in first</h1><p><a href=\"/login\">Sign in</a></p>".into());
    };
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", id_token.as_str()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"),
        ("resource", API),
        ("scope", "read write"),
    ];
    let mut request = demo
        .http
        .post(&demo.token_endpoint)
        .basic_auth(CLIENT_ID, Some(&demo.secret))
        .form(&form);
    if with_key {
        request = request.header("DPoP", demo.key.proof("POST", &demo.token_endpoint, None));
    }
    let res = request.send().await;
    let body: Value = match res {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(e) => {
            return page(format!(
                "<h1>Lanyard did not answer</h1><p>{}</p>",
                escape(&e.to_string())
            ));
        }
    };
    let Some(access) = body["access_token"].as_str() else {
        return page(format!(
            "<h1>The exchange was refused</h1><pre>{}</pre><p><a href=\"/\">Back</a></p>",
            pretty(&body)
        ));
    };
    visit.access_token = Some(access.to_owned());
    demo.save(&id, visit);
    HttpResponse::Found().insert_header((header::LOCATION, "/")).finish()
}

async fn call_api(demo: &Demo, token: Option<&str>, what: &str) -> HttpResponse {
    let Some(token) = token else {
        return page("<h1>No token yet</h1><p><a href=\"/\">Back</a></p>".into());
    };
    let url = format!("{API}/orders");
    // A bound token goes with a proof of its key and of the token (`ath`, RFC 9449 §7.1).
    let res = match decode(token)["claims"]["cnf"]["jkt"].is_string() {
        true => {
            demo.http
                .get(&url)
                .header("Authorization", format!("DPoP {token}"))
                .header("DPoP", demo.key.proof("GET", &url, Some(token)))
                .send()
                .await
        }
        false => demo.http.get(&url).bearer_auth(token).send().await,
    };
    match res {
        Ok(r) => {
            let status = r.status();
            let challenge = r
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = r.text().await.unwrap_or_default();
            page(format!(
                "<h1>The API with the {what}</h1><p>Status <b>{status}</b></p>{}<pre>{}</pre><p><a href=\"/\">Back</a></p>",
                if challenge.is_empty() {
                    String::new()
                } else {
                    format!("<p><code>WWW-Authenticate: {}</code></p>", escape(&challenge))
                },
                escape(&body)
            ))
        }
        Err(e) => page(format!(
            "<h1>The API did not answer</h1><p>{}</p>",
            escape(&e.to_string())
        )),
    }
}

async fn call(req: HttpRequest, demo: web::Data<Demo>) -> HttpResponse {
    call_api(&demo, demo.visit(&req).access_token.as_deref(), "access token").await
}

async fn call_with_id_token(req: HttpRequest, demo: web::Data<Demo>) -> HttpResponse {
    call_api(&demo, demo.visit(&req).id_token.as_deref(), "id_token").await
}

async fn logout(req: HttpRequest, demo: web::Data<Demo>) -> HttpResponse {
    let visit = demo.visit(&req);
    if let Some(id) = visit_id(&req) {
        demo.visits.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }
    let mut url =
        url::Url::parse(&format!("{}/logout", demo.issuer)).unwrap_or_else(|_| unreachable!("a valid issuer"));
    if let Some(id_token) = visit.id_token {
        url.query_pairs_mut().append_pair("id_token_hint", &id_token);
    }
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("post_logout_redirect_uri", &format!("{HOME}/"));
    HttpResponse::Found()
        .insert_header((header::LOCATION, url.to_string()))
        .finish()
}

/// A request's credentials checked by `api` for `scope`, as the example
/// resource server checks them.
async fn checked(api: &Validator, req: &HttpRequest, scope: &str) -> Result<Map<String, Value>, bearer::Refusal> {
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
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
    api.check(&request, scope).await
}

/// The demo's API: `GET /api/orders` needs an access token for it with `read`.
async fn orders(req: HttpRequest, demo: web::Data<Demo>) -> HttpResponse {
    match checked(&demo.api, &req, "read").await {
        Ok(claims) => HttpResponse::Ok().json(json!({ "orders": [{"id": 1, "item": "lanyard"}], "caller": claims.get("sub"), "scope": claims.get("scope") })),
        Err(refusal) => refusal.response(),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let issuer = std::env::var("LANYARD_ISSUER").unwrap_or_else(|_| "http://localhost:8080".into());
    let secret = std::env::var("CLIENT_SECRET")
        .or_else(|_| std::fs::read_to_string(".lanyard/demo.secret").map(|s| s.trim().to_owned()))
        .map_err(|_| {
            std::io::Error::other(
                "set CLIENT_SECRET, or run from the directory where `lanyard dev` wrote .lanyard/demo.secret",
            )
        })?;
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .map_err(std::io::Error::other)?;
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).map_err(std::io::Error::other)?, &http)
            .await
            .map_err(|e| std::io::Error::other(format!("discovery: {e:?}")))?;
    let token_endpoint = metadata
        .token_endpoint()
        .map(|u| u.to_string())
        .ok_or_else(|| std::io::Error::other("no token endpoint"))?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(CLIENT_ID.into()),
        Some(ClientSecret::new(secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(format!("{HOME}/callback")).map_err(std::io::Error::other)?);
    let api = Validator::discover(&issuer, API, HOME)
        .await
        .map_err(std::io::Error::other)?;
    let chain = chain::Chain::new(&issuer, HOME).await.map_err(std::io::Error::other)?;
    let demo = web::Data::new(Demo {
        client,
        secret,
        issuer,
        token_endpoint,
        http,
        api,
        visits: Mutex::new(HashMap::new()),
        key: DpopKey::generate().map_err(std::io::Error::other)?,
        chain,
    });
    println!("Lanyard demo at {HOME}");
    HttpServer::new(move || {
        App::new()
            .app_data(demo.clone())
            .route("/", web::get().to(home))
            .route("/login", web::get().to(login))
            .route("/callback", web::get().to(callback))
            .route("/exchange", web::get().to(exchange))
            .route("/exchange-without-key", web::get().to(exchange_without_key))
            .route("/ship", web::get().to(chain::ship))
            .route("/api/ship", web::get().to(chain::api_ship))
            .route("/shipping/shipments", web::get().to(chain::shipments))
            .route("/call", web::get().to(call))
            .route("/call-with-id-token", web::get().to(call_with_id_token))
            .route("/logout", web::get().to(logout))
            .route("/api/orders", web::get().to(orders))
    })
    .bind("127.0.0.1:8081")?
    .run()
    .await
}
