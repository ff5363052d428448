//! Upstream OpenID providers in the tests: a second Lanyard as the upstream
//! of the app under test (its own database, its own host name so that the
//! two keep their cookies apart), a small mock OP whose id_tokens a test
//! shapes, and a browser walking through both.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsHeader};
use lanyard::admin::upstreams::{Ctx, UpstreamSettings, UpstreamView};
use serde_json::{Value, json};

use super::app::TestApp;
use super::fixtures::PASSWORD;
use super::flow::{hidden_field, location};

/// Connects `a` to an upstream provider as `id` (through the admin flow).
pub async fn connect_upstream(
    a: &TestApp,
    id: &str,
    issuer: &str,
    client: (&str, &str),
    s: UpstreamSettings,
) -> UpstreamView {
    let settings = UpstreamSettings {
        issuer: Some(issuer.into()),
        client_id: Some(client.0.into()),
        client_secret: Some(client.1.into()),
        ..s
    };
    let ctx = Ctx {
        pool: &a.pool,
        clock: &a.clock,
        seal: &a.provider.upstream_seal,
        issuer: &a.config.issuer,
    };
    let view = lanyard::admin::upstreams::create(&ctx, id, settings)
        .await
        .expect("upstream created");
    a.settle().await;
    view
}

/// Registers A as a first-party client of a Lanyard on `b_pool`, with A's
/// redirect URI for upstream `id`; returns (client_id, secret).
pub async fn register_at(b_pool: &sqlx::PgPool, a_issuer: &str, id: &str) -> (String, String) {
    let input = lanyard::admin::clients::NewClientInput {
        client_id: "lanyard-a".into(),
        name: Some("Lanyard A".into()),
        redirect_uris: vec![format!("{a_issuer}/signin/upstream/{id}/callback")],
        grant_types: vec!["authorization_code".into()],
        scopes: vec!["openid".into(), "profile".into(), "email".into()],
        first_party: true,
        ..Default::default()
    };
    let clock = lanyard::clock::SystemClock;
    let created = lanyard::admin::clients::create(b_pool, &clock, &mut rand::rng(), input)
        .await
        .expect("client created at the upstream");
    (created.client_id, created.client_secret.expect("a secret"))
}

/// A (on 127.0.0.1) connected to a second Lanyard B (on localhost) as upstream `b`.
pub struct Federation {
    pub a: TestApp,
    pub b: TestApp,
}

pub async fn federation(s: UpstreamSettings) -> Federation {
    let a = TestApp::builder().spawn().await;
    let b = TestApp::builder().localhost().spawn().await;
    let (cid, secret) = register_at(&b.pool, &a.address, "b").await;
    b.settle().await;
    connect_upstream(&a, "b", &b.address, (&cid, &secret), s).await;
    Federation { a, b }
}

impl Federation {
    /// From an authorization URL at A: the sign-in page's "Continue with B",
    /// B's sign-in page as `username`, and back at A — the first response
    /// that is not a redirect within A or B (the redirect to the relying
    /// party, a link confirmation page, an error page).
    pub async fn sign_in_through_b(&self, authorize_url: &str, username: &str) -> reqwest::Response {
        let page = self.follow(authorize_url).await.text().await.unwrap();
        let href = upstream_href(&page).expect("a Continue with link on the sign-in page");
        let res = self.follow(&self.a.url(&href)).await;
        let html = res.text().await.unwrap();
        assert!(html.contains("action=\"/signin\""), "B's sign-in page: {html}");
        let b = self.b.with_browser(self.a.client.clone());
        let res = b.sign_in_on(&html, username, PASSWORD).await;
        let next = url::Url::parse(&b.address).unwrap().join(&location(&res)).unwrap();
        self.follow(next.as_str()).await
    }

    /// The same two providers seen through a new browser (its own cookies).
    pub fn in_new_browser(&self) -> Federation {
        let browser = super::app::new_browser();
        Federation {
            a: self.a.with_browser(browser.clone()),
            b: self.b.with_browser(browser),
        }
    }

    /// GETs `url` with A's browser and follows redirects within A and B.
    pub async fn follow(&self, url: &str) -> reqwest::Response {
        follow(&self.a.client, url).await
    }
}

/// GETs `url` and follows redirects while they stay on this machine.
pub async fn follow(browser: &reqwest::Client, url: &str) -> reqwest::Response {
    let mut url = url::Url::parse(url).unwrap();
    loop {
        let res = browser.get(url.as_str()).send().await.expect("request");
        if !matches!(res.status().as_u16(), 302 | 303) {
            return res;
        }
        let next = url.join(&location(&res)).unwrap();
        if !matches!(next.host_str(), Some("127.0.0.1" | "localhost")) {
            return res;
        }
        url = next;
    }
}

/// The first "Continue with" link of a sign-in page, unescaped.
pub fn upstream_href(html: &str) -> Option<String> {
    let start = html.find("href=\"/signin/upstream/")? + "href=\"".len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&").replace("&#x2F;", "/"))
}

/// Submits the link offer page with `decision` (`signin` or `new`).
pub async fn answer_link(a: &TestApp, html: &str, decision: &str) -> reqwest::Response {
    let csrf = hidden_field(html, "csrf").expect("a csrf field");
    let token = hidden_field(html, "token").expect("the pending link");
    a.submit(
        "/signin/upstream-link",
        &[("csrf", &csrf), ("token", &token), ("decision", decision)],
    )
    .await
}

/// A small OpenID provider: discovery, a JWK Set and a token endpoint that
/// answers with whatever id_token the test put in (`will_answer`).
pub struct MockOp {
    pub issuer: String,
    /// Its signing keys (kid, private key), the first one first.
    keys: Arc<Mutex<Vec<(String, Jwk, Jwk)>>>,
    next: Arc<Mutex<String>>,
}

struct Shared {
    metadata: Value,
    keys: Arc<Mutex<Vec<(String, Jwk, Jwk)>>>,
    next: Arc<Mutex<String>>,
}

impl Shared {
    fn jwks(&self) -> Value {
        let keys = self.keys.lock().unwrap();
        let public: Vec<Value> = keys.iter().map(|(kid, _, public)| public_jwk(kid, public)).collect();
        json!({ "keys": public })
    }
}

fn public_jwk(kid: &str, public: &Jwk) -> Value {
    let mut public = public.clone();
    public.set_key_id(kid);
    public.set_algorithm("ES256");
    public.set_key_use("sig");
    Value::from(public.as_ref().clone())
}

/// A new ES256 key: (private, public).
fn new_key() -> (Jwk, Jwk) {
    let pair = ES256.generate_key_pair().unwrap();
    (pair.to_jwk_private_key(), pair.to_jwk_public_key())
}

pub const MOCK_CLIENT: (&str, &str) = ("lanyard", "a-mock-secret-of-more-than-32-bytes");

pub async fn mock_op() -> MockOp {
    mock_op_with(|_| {}).await
}

/// A mock OP whose discovery document `change` edits first.
pub async fn mock_op_with(change: impl FnOnce(&mut Value)) -> MockOp {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let (private, public) = new_key();
    let keys = Arc::new(Mutex::new(vec![("k1".to_owned(), private, public)]));
    let next = Arc::new(Mutex::new(String::new()));
    let mut metadata = json!({
            "issuer": issuer, "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"), "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "authorization_response_iss_parameter_supported": true,
    });
    change(&mut metadata);
    let shared = web::Data::new(Shared {
        metadata,
        keys: keys.clone(),
        next: next.clone(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .route(
                "/.well-known/openid-configuration",
                web::get().to(|s: web::Data<Shared>| async move { HttpResponse::Ok().json(&s.metadata) }),
            )
            .route(
                "/jwks",
                web::get().to(|s: web::Data<Shared>| async move { HttpResponse::Ok().json(s.jwks()) }),
            )
            .route(
                "/token",
                web::post().to(|s: web::Data<Shared>| async move {
                    let id_token = s.next.lock().unwrap().clone();
                    HttpResponse::Ok()
                        .json(json!({ "access_token": "at", "token_type": "Bearer", "id_token": id_token }))
                }),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    MockOp { issuer, keys, next }
}

impl MockOp {
    /// Signs `claims` with the key named `kid` (or, for a `kid` it does not
    /// publish, its first key), the header naming `kid`.
    pub fn sign(&self, claims: &Value, kid: &str) -> String {
        let keys = self.keys.lock().unwrap();
        let private = keys.iter().find(|(k, ..)| k == kid).unwrap_or(&keys[0]).1.clone();
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        header.set_key_id(kid);
        let signer = ES256.signer_from_jwk(&private).unwrap();
        josekit::jws::serialize_compact(claims.to_string().as_bytes(), &header, &signer).unwrap()
    }

    /// `claims` as an unsecured JWT (`alg: none`, RFC 7519 §6): no signature.
    pub fn unsigned(&self, claims: &Value) -> String {
        use base64::Engine as _;
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.", b64(&json!({ "alg": "none", "typ": "JWT" })), b64(claims))
    }

    /// Publishes a new key named `kid` (a rotation at the provider).
    pub fn publish_key(&self, kid: &str) {
        let (private, public) = new_key();
        self.keys.lock().unwrap().push((kid.to_owned(), private, public));
    }

    /// The id_token the token endpoint answers with next.
    pub fn will_answer(&self, id_token: String) {
        *self.next.lock().unwrap() = id_token;
    }

    /// Claims that pass every rule, for `nonce`, at `now` (seconds).
    pub fn good_claims(&self, nonce: &str, now: i64) -> Value {
        json!({
            "iss": self.issuer, "sub": "mock-user-1", "aud": MOCK_CLIENT.0, "exp": now + 300, "iat": now,
            "nonce": nonce, "email": "mock@example.com", "email_verified": true, "name": "Mock Person",
        })
    }
}
