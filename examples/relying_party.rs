//! A relying party built on the `openidconnect` crate, run against `lanyard dev`:
//! sign in with the code flow (PKCE + nonce), verify the id_token, read UserInfo,
//! sign out. Nothing in it is special to Lanyard.
//!
//! ```sh
//! cargo run -- dev                                    # prints the demo-app secret on its first run
//! CLIENT_SECRET=… cargo run --example relying_party   # then open http://localhost:9090
//! ```

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::{App, HttpResponse, HttpServer, web};
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};

type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

struct Rp {
    client: Client,
    http: openidconnect::reqwest::Client,
    issuer: String,
    /// state → (PKCE verifier, nonce) of sign-ins under way.
    pending: Mutex<HashMap<String, (String, String)>>,
}

const HOME: &str = "http://localhost:9090/";

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn page(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html><title>Demo RP</title><body style=\"font-family:sans-serif;max-width:50rem;margin:2rem auto\">{body}</body>"
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn home() -> HttpResponse {
    page("<h1>Demo RP</h1><p><a href=\"/login\">Sign in with Lanyard</a></p>".into())
}

async fn login(rp: web::Data<Rp>) -> HttpResponse {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let mut pending = rp.pending.lock().unwrap_or_else(|e| e.into_inner());
    pending.insert(
        state.secret().clone(),
        (verifier.secret().clone(), nonce.secret().clone()),
    );
    HttpResponse::Found()
        .insert_header(("Location", url.to_string()))
        .finish()
}

async fn callback(rp: web::Data<Rp>, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    if let Some(error) = query.get("error") {
        return page(format!("<h1>Sign-in failed</h1><p>{}</p>", escape(error)));
    }
    let (Some(code), Some(state)) = (query.get("code"), query.get("state")) else {
        return page("<h1>No code in the callback</h1>".into());
    };
    let Some((verifier, nonce)) = rp.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(state) else {
        return page("<h1>Unknown state</h1>".into());
    };
    let exchange = match rp.client.exchange_code(AuthorizationCode::new(code.clone())) {
        Ok(request) => {
            request
                .set_pkce_verifier(PkceCodeVerifier::new(verifier))
                .request_async(&rp.http)
                .await
        }
        Err(e) => return page(format!("<h1>Client error</h1><p>{}</p>", escape(&e.to_string()))),
    };
    let tokens = match exchange {
        Ok(t) => t,
        Err(e) => {
            return page(format!(
                "<h1>Code exchange failed</h1><p>{}</p>",
                escape(&format!("{e:?}"))
            ));
        }
    };
    let Some(id_token) = tokens.id_token() else {
        return page("<h1>No id_token</h1>".into());
    };
    let claims = match id_token.claims(&rp.client.id_token_verifier(), &Nonce::new(nonce)) {
        Ok(c) => c.clone(),
        Err(e) => {
            return page(format!(
                "<h1>The id_token does not verify</h1><p>{}</p>",
                escape(&e.to_string())
            ));
        }
    };
    let userinfo: Result<CoreUserInfoClaims, _> = match rp
        .client
        .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
    {
        Ok(request) => request.request_async(&rp.http).await.map_err(|e| format!("{e:?}")),
        Err(e) => Err(e.to_string()),
    };
    let logout = {
        let mut url = url::Url::parse(&format!("{}/logout", rp.issuer)).unwrap_or_else(|_| unreachable!());
        url.query_pairs_mut()
            .append_pair("id_token_hint", &id_token.to_string())
            .append_pair("post_logout_redirect_uri", HOME)
            .append_pair("state", "signed-out");
        url.to_string()
    };
    page(format!(
        "<h1>Signed in</h1><p>sub <code>{}</code>, email {}</p><h2>UserInfo</h2><pre>{}</pre><p><a href=\"{}\">Sign out</a></p>",
        escape(claims.subject().as_str()),
        escape(claims.email().map(|e| e.as_str()).unwrap_or("(none)")),
        escape(&match userinfo {
            Ok(info) => serde_json::to_string_pretty(&info).unwrap_or_default(),
            Err(e) => e,
        }),
        escape(&logout),
    ))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let issuer = env("LANYARD_ISSUER", "http://localhost:8080");
    let secret = std::env::var("CLIENT_SECRET")
        .map_err(|_| std::io::Error::other("set CLIENT_SECRET (printed by `lanyard dev` on its first run)"))?;
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .map_err(std::io::Error::other)?;
    let issuer_url = IssuerUrl::new(issuer.clone()).map_err(std::io::Error::other)?;
    let metadata = CoreProviderMetadata::discover_async(issuer_url, &http)
        .await
        .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(env("CLIENT_ID", "demo-app")),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(RedirectUrl::new(format!("{HOME}callback")).map_err(std::io::Error::other)?);
    let rp = web::Data::new(Rp {
        client,
        http,
        issuer,
        pending: Mutex::new(HashMap::new()),
    });
    println!("Demo RP at {HOME}");
    HttpServer::new(move || {
        App::new()
            .app_data(rp.clone())
            .route("/", web::get().to(home))
            .route("/login", web::get().to(login))
            .route("/callback", web::get().to(callback))
    })
    .bind("127.0.0.1:9090")?
    .run()
    .await
}
