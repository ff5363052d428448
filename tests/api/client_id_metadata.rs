//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document):
//! a URL as client_id, its document served by the test's own server on the
//! loopback (`Config::metadata_documents_from_loopback`, which only the
//! harness sets; the public-address guard itself is tested with it off).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::TimeDelta;
use serde_json::{Value, json};

use crate::support::*;

const REDIRECT: &str = "https://rp.example.test/cb";

/// What the server answers for a path: a status, a body, a
/// `Cache-Control`, and other headers (`Content-Type` is
/// `application/json` unless given).
type Served = HashMap<String, (u16, String, Option<String>, Vec<(String, String)>)>;

/// A client's web server: serves what the test put at each path, and
/// counts the requests for each.
#[derive(Clone)]
struct DocServer {
    base: String,
    served: Arc<Mutex<Served>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl DocServer {
    async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let server = DocServer {
            base,
            served: Arc::default(),
            hits: Arc::default(),
        };
        let shared = web::Data::new(server.clone());
        let http = HttpServer::new(move || {
            App::new().app_data(shared.clone()).default_service(web::to(
                |req: HttpRequest, s: web::Data<DocServer>| async move {
                    let path = req.path().to_owned();
                    *s.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                    match s.served.lock().unwrap().get(&path).cloned() {
                        Some((status, body, cache, headers)) => {
                            let mut res = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
                            res.content_type("application/json");
                            if let Some(cache) = cache {
                                res.insert_header(("Cache-Control", cache));
                            }
                            for header in headers {
                                res.insert_header(header);
                            }
                            res.body(body)
                        }
                        None => HttpResponse::NotFound().finish(),
                    }
                },
            ))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(http);
        server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn serve(&self, path: &str, status: u16, body: String, cache: Option<&str>) {
        self.served
            .lock()
            .unwrap()
            .insert(path.to_owned(), (status, body, cache.map(str::to_owned), Vec::new()));
    }

    /// Serves `body` at `path` with these headers (beside the default
    /// `Content-Type`, which a `Content-Type` here replaces).
    fn serve_with(&self, path: &str, status: u16, body: String, headers: &[(&str, &str)]) {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.served
            .lock()
            .unwrap()
            .insert(path.to_owned(), (status, body, None, headers));
    }

    /// Serves the document of a public client at `path` (changed by `change`).
    fn serve_document(&self, path: &str, change: impl FnOnce(&mut Value)) -> TestClient {
        let mut doc = document(&self.url(path));
        change(&mut doc);
        self.serve(path, 200, doc.to_string(), None);
        rp(&self.url(path))
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

/// A public client's metadata document at `url`.
fn document(url: &str) -> Value {
    json!({
        "client_id": url, "client_name": "Doc Tool", "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "token_endpoint_auth_method": "none", "scope": "openid profile email offline_access",
    })
}

fn rp(url: &str) -> TestClient {
    TestClient {
        id: url.to_owned(),
        secret: None,
        redirect_uri: REDIRECT.to_owned(),
    }
}

/// An app with the setting on that may fetch from the test's loopback server.
async fn app_on() -> TestApp {
    app_with(|_| {}).await
}

/// `/authorize` for `client`: 200 is the sign-in page (the client was
/// accepted); a refusal is Lanyard's error page, never a redirect.
async fn authorize_status(app: &TestApp, client: &TestClient) -> u16 {
    let res = app.visit(&auth_url(app, client, "openid email", &[]).url).await;
    let status = res.status().as_u16();
    if status != 200 {
        assert!(res.headers().get("location").is_none(), "a refusal is never a redirect");
    }
    status
}

/// A refused client at /authorize: the error page (400), no redirect, with `words`.
async fn assert_refused_page(app: &TestApp, client: &TestClient, words: &str) {
    let res = app.visit(&auth_url(app, client, "openid email", &[]).url).await;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none(), "never redirected");
    let html = res.text().await.unwrap();
    assert!(html.contains(words), "`{words}` in {html}");
}

/// POSTs a pushed authorization request as the public client `client`.
async fn push(app: &TestApp, client: &TestClient) -> reqwest::Response {
    let (_, challenge) = pkce_pair();
    let form = [
        ("client_id", client.id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    app.client.post(app.url("/par")).form(&form).send().await.unwrap()
}

#[tokio::test]
async fn metadata_documents_are_off_by_default() {
    let docs = DocServer::start().await;
    let client = docs.serve_document("/client.json", |_| {});
    let app = TestApp::builder()
        .config(|c| c.metadata_documents_from_loopback = true)
        .spawn()
        .await;
    assert_refused_page(&app, &client, "unknown client_id").await;
    assert_eq!(docs.hits("/client.json"), 0, "nothing is fetched");
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert!(discovery.get("client_id_metadata_document_supported").is_none());
    assert_eq!(
        error_of(push(&app, &client).await).await,
        (401, "invalid_client".to_owned())
    );
}

#[tokio::test]
async fn discovery_says_metadata_documents_are_supported_when_on() {
    let app = app_on().await;
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(discovery["client_id_metadata_document_supported"], json!(true));
}

#[tokio::test]
async fn a_public_client_described_by_its_document_completes_the_code_flow() {
    let docs = DocServer::start().await;
    let client = docs.serve_document("/client.json", |_| {});
    let app = app_on().await;
    create_user(&app, "alice").await;
    let crate_rp = crate_client(&app, &client).await;
    let (url, verifier, _state, _nonce) = crate_authorize(&crate_rp, &["email"]);
    let res = app.authorize(url.as_str(), "alice").await;
    let to = location(&res);
    assert!(to.starts_with(REDIRECT), "{to}");
    let code = query_param(&to, "code").unwrap_or_else(|| panic!("a code in {to}"));
    let tokens = crate_redeem(&crate_rp, code, verifier).await;
    use openidconnect::OAuth2TokenResponse;
    assert!(!tokens.access_token().secret().is_empty());
    let stored: (String, bool) = sqlx::query_as("SELECT registered_via, first_party FROM clients WHERE client_id = $1")
        .bind(&client.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, ("metadata_document".to_owned(), false));
}

#[tokio::test]
async fn a_document_client_refreshes_its_tokens_at_the_token_endpoint() {
    let docs = DocServer::start().await;
    let client = docs.serve_document("/client.json", |_| {});
    let app = app_on().await;
    create_user(&app, "alice").await;
    let auth = auth_url(&app, &client, "openid offline_access", &[]);
    let to = location(&app.authorize(&auth.url, "alice").await);
    let code = query_param(&to, "code").unwrap_or_else(|| panic!("a code in {to}"));
    let tokens = app.redeem(&client, &code, &auth.verifier).await;
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token");
    let res = app.refresh(&client, refresh, None).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_document_whose_client_id_is_not_its_url_is_refused() {
    let docs = DocServer::start().await;
    let good = docs.serve_document("/good.json", |_| {});
    let good_id = good.id.clone();
    let bad = docs.serve_document("/bad.json", move |d| d["client_id"] = json!(good_id));
    let app = app_on().await;
    assert_eq!(authorize_status(&app, &good).await, 200, "positive control");
    assert_eq!(push(&app, &good).await.status(), 201, "positive control at /par");
    assert_refused_page(&app, &bad, "its client_id is not its URL").await;
    assert_eq!(
        error_of(push(&app, &bad).await).await,
        (401, "invalid_client".to_owned())
    );
}

#[tokio::test]
async fn a_shared_secret_auth_method_or_a_client_secret_is_refused() {
    let docs = DocServer::start().await;
    let good = docs.serve_document("/good.json", |_| {});
    let basic = docs.serve_document("/basic.json", |d| {
        d["token_endpoint_auth_method"] = json!("client_secret_basic")
    });
    let post = docs.serve_document("/post.json", |d| {
        d["token_endpoint_auth_method"] = json!("client_secret_post")
    });
    let secret = docs.serve_document("/secret.json", |d| d["client_secret"] = json!("s3cret-s3cret"));
    let app = app_on().await;
    assert_eq!(authorize_status(&app, &good).await, 200, "positive control");
    for client in [&basic, &post] {
        assert_refused_page(&app, client, "shared secret").await;
    }
    assert_refused_page(&app, &secret, "client_secret").await;
    let res = app
        .client
        .post(app.url("/token"))
        .basic_auth(&secret.id, Some("s3cret-s3cret"))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await, (401, "invalid_client".to_owned()));
}

#[tokio::test]
async fn an_oversized_document_is_refused() {
    let docs = DocServer::start().await;
    let small = docs.serve_document("/small.json", |d| d["padding"] = json!("x".repeat(4000)));
    let large = docs.serve_document("/large.json", |d| d["padding"] = json!("x".repeat(6000)));
    let app = app_on().await;
    assert_eq!(authorize_status(&app, &small).await, 200, "positive control");
    assert_refused_page(&app, &large, "larger than").await;
}

#[tokio::test]
async fn a_document_that_is_not_json_or_not_there_is_refused() {
    let docs = DocServer::start().await;
    let good = docs.serve_document("/good.json", |_| {});
    docs.serve("/html.json", 200, "<html>hello</html>".to_owned(), None);
    let app = app_on().await;
    assert_eq!(authorize_status(&app, &good).await, 200, "positive control");
    assert_refused_page(&app, &rp(&docs.url("/html.json")), "not JSON").await;
    assert_refused_page(&app, &rp(&docs.url("/missing.json")), "404").await;
    // Nothing listens there: unreachable.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = rp(&format!("http://127.0.0.1:{port}/client.json"));
    assert_refused_page(&app, &unreachable, "could not be fetched").await;
    let res = app
        .token(&unreachable, &[("grant_type", "authorization_code"), ("code", "x")])
        .await;
    assert_eq!(error_of(res).await, (401, "invalid_client".to_owned()));
}

#[tokio::test]
async fn an_http_or_private_address_client_id_is_refused_and_never_fetched() {
    let docs = DocServer::start().await;
    let local = docs.serve_document("/client.json", |_| {});
    // The harness's loopback allowance off: the real rules.
    let app = TestApp::builder()
        .config(|c| c.client_id_metadata_documents = true)
        .spawn()
        .await;
    assert_refused_page(&app, &local, "it must be https").await;
    for id in [
        "https://10.0.0.1/client.json",
        "https://127.0.0.1/client.json",
        "https://localhost/client.json",
        "https://[::1]/client.json",
    ] {
        assert_refused_page(&app, &rp(id), "public host").await;
    }
    assert_refused_page(&app, &rp("https://app.example.test/a/../client.json"), "dot segments").await;
    assert_refused_page(&app, &rp("https://app.example.test/"), "no path").await;
    assert_eq!(docs.hits("/client.json"), 0, "nothing was fetched");
}

#[tokio::test]
async fn a_redirect_uri_not_in_the_document_is_refused_without_a_redirect() {
    let docs = DocServer::start().await;
    let client = docs.serve_document("/client.json", |_| {});
    let app = app_on().await;
    assert_eq!(authorize_status(&app, &client).await, 200, "positive control");
    let elsewhere = TestClient {
        redirect_uri: "https://attacker.example.test/cb".to_owned(),
        ..client
    };
    assert_refused_page(&app, &elsewhere, "redirect_uri is not registered").await;
}

#[tokio::test]
async fn a_document_is_cached_for_its_max_age_then_fetched_again() {
    let docs = DocServer::start().await;
    let client = rp(&docs.url("/client.json"));
    docs.serve(
        "/client.json",
        200,
        document(&client.id).to_string(),
        Some("public, max-age=600"),
    );
    let app = app_on().await;
    assert_eq!(authorize_status(&app, &client).await, 200);
    assert_eq!(authorize_status(&app, &client).await, 200);
    assert_eq!(
        docs.hits("/client.json"),
        1,
        "the second request used the cached document"
    );
    app.clock.advance(TimeDelta::seconds(601));
    assert_eq!(authorize_status(&app, &client).await, 200);
    assert_eq!(docs.hits("/client.json"), 2, "fetched again after its max-age");
}

#[tokio::test]
async fn a_changed_document_is_used_once_fetched_again() {
    let docs = DocServer::start().await;
    let client = docs.serve_document("/client.json", |_| {});
    let app = app_on().await;
    assert_eq!(authorize_status(&app, &client).await, 200);
    let other = "https://other.example.test/cb";
    let mut doc = document(&client.id);
    doc["redirect_uris"] = json!([other]);
    docs.serve("/client.json", 200, doc.to_string(), None);
    let moved = TestClient {
        redirect_uri: other.to_owned(),
        ..client.clone()
    };
    assert_eq!(authorize_status(&app, &moved).await, 400, "still the cached document");
    app.clock.advance(TimeDelta::seconds(3601));
    assert_eq!(
        authorize_status(&app, &moved).await,
        200,
        "the new document (an hour by default)"
    );
    assert_eq!(
        authorize_status(&app, &client).await,
        400,
        "the old redirect URI is gone"
    );
}

#[tokio::test]
async fn a_stale_document_serves_while_its_fetch_fails_then_is_refused() {
    let docs = DocServer::start().await;
    let client = docs.serve_document("/client.json", |_| {});
    let app = app_on().await;
    assert_eq!(authorize_status(&app, &client).await, 200);
    docs.serve("/client.json", 500, "oops".to_owned(), None);
    app.clock.advance(TimeDelta::seconds(3601));
    assert_eq!(
        authorize_status(&app, &client).await,
        200,
        "stale, but its fetch failed"
    );
    assert_eq!(docs.hits("/client.json"), 2);
    assert_eq!(authorize_status(&app, &client).await, 200);
    assert_eq!(
        docs.hits("/client.json"),
        2,
        "not fetched again within a minute of a failure"
    );
    app.clock.advance(TimeDelta::seconds(61));
    assert_eq!(authorize_status(&app, &client).await, 200);
    assert_eq!(docs.hits("/client.json"), 3, "fetched again after a minute");
    app.clock.advance(TimeDelta::hours(24));
    assert_eq!(authorize_status(&app, &client).await, 400, "more than a day stale");
}

#[tokio::test]
async fn the_consent_page_says_the_client_describes_itself() {
    let docs = DocServer::start().await;
    let client = docs.serve_document("/client.json", |_| {});
    let app = app_on().await;
    create_user(&app, "alice").await;
    let html = app
        .visit(&auth_url(&app, &client, "openid email", &[]).url)
        .await
        .text()
        .await
        .unwrap();
    let mut res = app.sign_in_on(&html, "alice", PASSWORD).await;
    while res.status().is_redirection() && location(&res).starts_with("/authorize") {
        res = app.visit(&location(&res)).await;
    }
    let html = res.text().await.unwrap();
    assert!(html.contains("action=\"/consent\""), "always asks consent: {html}");
    assert!(
        html.contains("This application describes itself; Lanyard has not verified it"),
        "{html}"
    );
    assert!(
        html.contains("comes from <strong>127.0.0.1</strong>"),
        "the client_id's host: {html}"
    );
    assert!(html.contains("rp.example.test"), "where the code goes: {html}");
    assert!(!html.contains("registered itself"), "{html}");
}

#[tokio::test]
async fn resolved_and_refused_documents_are_audited_and_counted() {
    let docs = DocServer::start().await;
    let good = docs.serve_document("/good.json", |_| {});
    let bad = docs.serve_document("/bad.json", |d| d["client_id"] = json!("https://x.example.test/c"));
    let app = app_on().await;
    assert_eq!(authorize_status(&app, &good).await, 200);
    assert_eq!(authorize_status(&app, &bad).await, 400);
    app.audit_written().await;
    let events: Vec<(String, String)> = sqlx::query_as(
        "SELECT client_id, outcome FROM audit_events WHERE kind = 'client_metadata_document' ORDER BY client_id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        events,
        vec![
            (bad.id.clone(), "refused".to_owned()),
            (good.id.clone(), "ok".to_owned())
        ]
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for outcome in ["resolved", "refused"] {
        let line = format!("lanyard_client_metadata_document_fetches_total{{outcome=\"{outcome}\"}} 1");
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
}

#[tokio::test]
async fn a_held_document_client_stops_when_the_setting_is_turned_off() {
    let docs = DocServer::start().await;
    let client = docs.serve_document("/client.json", |_| {});
    let app = app_on().await;
    assert_eq!(authorize_status(&app, &client).await, 200, "positive control");
    let off = TestApp::builder()
        .on(app.db.clone())
        .config(|c| c.metadata_documents_from_loopback = true)
        .spawn()
        .await;
    assert_refused_page(&off, &client, "unknown client_id").await;
    assert_eq!(
        error_of(push(&off, &client).await).await,
        (401, "invalid_client".to_owned())
    );
}

#[tokio::test]
async fn a_private_key_jwt_client_authenticates_with_the_keys_of_its_document() {
    use crate::private_key_jwt::{JWT_BEARER, Key, jwks};
    use lanyard::clock::Clock as _;
    let docs = DocServer::start().await;
    let key = Key::es256("k1");
    let keys = jwks(&[&key]);
    let client = docs.serve_document("/client.json", move |d| {
        d["token_endpoint_auth_method"] = json!("private_key_jwt");
        d["jwks"] = keys;
    });
    let app = app_on().await;
    let push_signed_by = |key: Key| {
        let app = &app;
        let id = client.id.clone();
        async move {
            let now = app.clock.now().timestamp();
            let assertion = key.sign(&json!({
                "iss": id, "sub": id, "aud": app.address, "exp": now + 60, "iat": now,
                "jti": uuid::Uuid::new_v4().to_string(),
            }));
            let (_, challenge) = pkce_pair();
            let form = [
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", assertion.as_str()),
                ("response_type", "code"),
                ("redirect_uri", REDIRECT),
                ("scope", "openid"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ];
            app.client.post(app.url("/par")).form(&form).send().await.unwrap()
        }
    };
    assert_eq!(push_signed_by(key).await.status(), 201);
    let (status, error) = error_of(push_signed_by(Key::es256("k1")).await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"), "another key");
}

/// An app with the setting on (loopback allowed) and `change` to its config.
async fn app_with(change: impl FnOnce(&mut lanyard::config::Config) + Send + 'static) -> TestApp {
    TestApp::builder()
        .config(|c| {
            c.client_id_metadata_documents = true;
            c.metadata_documents_from_loopback = true;
            change(c);
        })
        .spawn()
        .await
}

/// Draft §5.1 (a failed fetch aborts) and §5.2 (errors and invalid
/// documents are not cached): a 404, and a 200 whose
/// document no longer passes, stop a held client at once — no stale use.
#[tokio::test]
async fn a_definitive_refusal_stops_a_held_client_at_once() {
    let docs = DocServer::start().await;
    let gone = docs.serve_document("/gone.json", |_| {});
    let broken = docs.serve_document("/broken.json", |_| {});
    let flaky = docs.serve_document("/flaky.json", |_| {});
    let app = app_on().await;
    for client in [&gone, &broken, &flaky] {
        assert_eq!(authorize_status(&app, client).await, 200, "positive control");
    }
    docs.serve("/gone.json", 404, "{}".to_owned(), None);
    let mut doc = document(&broken.id);
    doc["client_id"] = json!("https://elsewhere.example.test/c.json");
    docs.serve("/broken.json", 200, doc.to_string(), None);
    docs.serve("/flaky.json", 503, "later".to_owned(), None);
    app.clock.advance(TimeDelta::seconds(3601));
    assert_refused_page(&app, &gone, "404").await;
    assert_refused_page(&app, &broken, "its client_id is not its URL").await;
    assert_eq!(authorize_status(&app, &flaky).await, 200, "a 5xx: stale serves");
    // Within the minute after a failure nothing is fetched, and still refused.
    assert_eq!(authorize_status(&app, &gone).await, 400);
    assert_eq!(authorize_status(&app, &broken).await, 400);
    assert_eq!(docs.hits("/gone.json"), 2);
}

/// Draft §4: the document is JSON, `application/json` (or a `+json`
/// type); anything else is refused.
#[tokio::test]
async fn a_document_not_served_as_json_is_refused() {
    let docs = DocServer::start().await;
    let app = app_on().await;
    for (path, ct, ok) in [
        ("/plain.json", "text/plain", false),
        ("/html.json", "text/html; charset=utf-8", false),
        ("/json.json", "application/json; charset=utf-8", true),
        ("/suffix.json", "application/client-metadata+json", true),
    ] {
        let client = rp(&docs.url(path));
        docs.serve_with(path, 200, document(&client.id).to_string(), &[("Content-Type", ct)]);
        match ok {
            true => assert_eq!(authorize_status(&app, &client).await, 200, "{ct}"),
            false => assert_refused_page(&app, &client, "content type").await,
        }
    }
}

/// A redirect is never followed (draft §5: MUST NOT follow redirects).
#[tokio::test]
async fn a_redirect_is_not_followed() {
    let docs = DocServer::start().await;
    let good = docs.serve_document("/good.json", |_| {});
    let moved = rp(&docs.url("/moved.json"));
    docs.serve_with("/moved.json", 302, String::new(), &[("Location", good.id.as_str())]);
    let app = app_on().await;
    assert_refused_page(&app, &moved, "302").await;
    assert_eq!(docs.hits("/good.json"), 0, "not followed");
}

/// The upsert touches only `metadata_document` rows: a client registered
/// another way under the same id is refused and left as it was.
#[tokio::test]
async fn the_upsert_never_overwrites_a_client_that_is_not_a_document() {
    let docs = DocServer::start().await;
    let client = docs.serve_document("/client.json", |_| {});
    let app = app_on().await;
    sqlx::query(
        "INSERT INTO clients (client_id, name, auth_method, redirect_uris, grant_types, scopes,
            created_at, updated_at, secret_changed_at, registered_via)
         VALUES ($1, 'Mine', 'none', '{https://mine.example.test/cb}', '{authorization_code}', '{openid}',
            now(), now(), now(), 'dynamic')",
    )
    .bind(&client.id)
    .execute(&app.pool)
    .await
    .unwrap();
    assert_refused_page(&app, &client, "belongs to another client").await;
    let row: (String, String, Vec<String>) =
        sqlx::query_as("SELECT name, registered_via, redirect_uris FROM clients WHERE client_id = $1")
            .bind(&client.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        row,
        (
            "Mine".to_owned(),
            "dynamic".to_owned(),
            vec!["https://mine.example.test/cb".to_owned()]
        )
    );
}

/// Remembered consent is for the client as the document described it: a
/// change of its redirect_uris forgets it, so whoever took the URL over
/// gets no code silently (`prompt=none`).
#[tokio::test]
async fn consent_is_forgotten_when_the_documents_redirect_uris_change() {
    let docs = DocServer::start().await;
    let same = docs.serve_document("/same.json", |_| {});
    let moved = docs.serve_document("/moved.json", |_| {});
    let app = app_on().await;
    create_user(&app, "alice").await;
    for client in [&same, &moved] {
        let to = location(&app.authorize(&auth_url(&app, client, "openid", &[]).url, "alice").await);
        assert!(query_param(&to, "code").is_some(), "{to}");
    }
    let mut doc = document(&moved.id);
    doc["redirect_uris"] = json!([REDIRECT, "https://new-owner.example.test/cb"]);
    docs.serve("/moved.json", 200, doc.to_string(), None);
    app.clock.advance(TimeDelta::seconds(3601));
    let silent = |client: &TestClient| auth_url(&app, client, "openid", &[("prompt", "none")]).url;
    let to = location(&app.visit(&silent(&same)).await);
    assert!(
        query_param(&to, "code").is_some(),
        "positive control: unchanged, consent kept: {to}"
    );
    let to = location(&app.visit(&silent(&moved)).await);
    assert_eq!(query_param(&to, "error").as_deref(), Some("consent_required"), "{to}");
}

/// First-time resolutions are counted per address (10 per sign-in throttle
/// window); past that a new URL gets 429, a held one still serves.
#[tokio::test]
async fn new_document_urls_are_throttled_per_address() {
    let docs = DocServer::start().await;
    let app = app_on().await;
    let clients: Vec<TestClient> = (0..12)
        .map(|n| docs.serve_document(&format!("/c{n}.json"), |_| {}))
        .collect();
    for client in &clients[..10] {
        assert_eq!(authorize_status(&app, client).await, 200);
    }
    let res = app.visit(&auth_url(&app, &clients[10], "openid", &[]).url).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    assert_eq!(docs.hits("/c10.json"), 0, "not fetched");
    assert_eq!(
        authorize_status(&app, &clients[0]).await,
        200,
        "a held one still serves"
    );
    let res = push(&app, &clients[11]).await;
    assert!(res.headers().get("retry-after").is_some());
    assert_eq!(error_of(res).await, (429, "slow_down".to_owned()));
}

/// `LANYARD_CLIENT_ID_METADATA_DOCUMENTS_MAX`: at the cap a new URL is
/// refused (and counted), a held one still refreshes.
#[tokio::test]
async fn at_the_cap_only_new_document_urls_are_refused() {
    let docs = DocServer::start().await;
    let a = docs.serve_document("/a.json", |_| {});
    let b = docs.serve_document("/b.json", |_| {});
    let c = docs.serve_document("/c.json", |_| {});
    let app = app_with(|c| c.client_id_metadata_documents_max = 2).await;
    assert_eq!(authorize_status(&app, &a).await, 200);
    assert_eq!(authorize_status(&app, &b).await, 200);
    assert_refused_page(&app, &c, "too many").await;
    app.clock.advance(TimeDelta::seconds(3601));
    assert_eq!(authorize_status(&app, &a).await, 200, "a held one refreshes");
    assert_eq!(docs.hits("/a.json"), 2);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let line = "lanyard_client_metadata_document_fetches_total{outcome=\"capped\"} 1";
    assert!(metrics.contains(line), "{line} in {metrics}");
}

/// /token, /revoke and /introspect never fetch the document of a URL that
/// is not a client yet (only /authorize and /par create one).
#[tokio::test]
async fn token_revoke_and_introspect_never_fetch_an_unknown_document() {
    use crate::private_key_jwt::{JWT_BEARER, Key, jwks};
    use lanyard::clock::Clock as _;
    let docs = DocServer::start().await;
    let key = Key::es256("k1");
    let keys = jwks(&[&key]);
    let public = docs.serve_document("/public.json", |_| {});
    let signed = docs.serve_document("/signed.json", move |d| {
        d["token_endpoint_auth_method"] = json!("private_key_jwt");
        d["jwks"] = keys;
    });
    let app = app_on().await;
    let res = app
        .token(&public, &[("grant_type", "authorization_code"), ("code", "x")])
        .await;
    assert_eq!(error_of(res).await, (401, "invalid_client".to_owned()));
    for path in ["/revoke", "/introspect"] {
        let form = [("client_id", public.id.as_str()), ("token", "x")];
        let res = app.client.post(app.url(path)).form(&form).send().await.unwrap();
        assert_eq!(res.status(), 401, "{path}");
    }
    let now = app.clock.now().timestamp();
    let assertion = key.sign(&json!({
        "iss": signed.id, "sub": signed.id, "aud": app.address, "exp": now + 60, "iat": now,
        "jti": uuid::Uuid::new_v4().to_string(),
    }));
    let form = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion.as_str()),
    ];
    let res = app.client.post(app.url("/token")).form(&form).send().await.unwrap();
    assert_eq!(error_of(res).await, (401, "invalid_client".to_owned()));
    assert_eq!(
        (docs.hits("/public.json"), docs.hits("/signed.json")),
        (0, 0),
        "nothing fetched"
    );
    assert_eq!(
        authorize_status(&app, &public).await,
        200,
        "positive control: /authorize creates"
    );
}

/// `LANYARD_CLIENT_ID_METADATA_DOCUMENT_HOSTS`: only the listed hosts.
#[tokio::test]
async fn only_the_listed_hosts_may_serve_documents() {
    let docs = DocServer::start().await;
    let client = docs.serve_document("/client.json", |_| {});
    let listed = app_with(|c| c.client_id_metadata_document_hosts = vec!["127.0.0.1".to_owned()]).await;
    assert_eq!(authorize_status(&listed, &client).await, 200, "positive control");
    let other = app_with(|c| c.client_id_metadata_document_hosts = vec!["tools.example.test".to_owned()]).await;
    assert_refused_page(&other, &client, "not among the hosts").await;
    assert_eq!(docs.hits("/client.json"), 1, "never fetched for the second app");
}

/// Housekeeping deletes a document client not fetched for a week that
/// nothing references (its URL may come back through /authorize).
#[tokio::test]
async fn unused_document_clients_are_deleted_after_a_week() {
    use lanyard::maintenance::{Housekeeping, housekeep};
    let docs = DocServer::start().await;
    let used = docs.serve_document("/used.json", |_| {});
    let unused = docs.serve_document("/unused.json", |_| {});
    let app = app_on().await;
    create_user(&app, "alice").await;
    let to = location(&app.authorize(&auth_url(&app, &used, "openid", &[]).url, "alice").await);
    assert!(query_param(&to, "code").is_some(), "{to}");
    assert_eq!(authorize_status(&app, &unused).await, 200);
    let exists = |id: String| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM clients WHERE client_id = $1)")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    app.clock.advance(TimeDelta::days(6));
    housekeep(&app.provider, &Housekeeping::default()).await.unwrap();
    assert!(exists(unused.id.clone()).await, "not yet a week");
    app.clock.advance(TimeDelta::days(2));
    let pruned = loop {
        if let Some(p) = housekeep(&app.provider, &Housekeeping::default()).await.unwrap() {
            break p;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(pruned.get("clients"), Some(&1));
    assert!(!exists(unused.id.clone()).await, "unused for a week");
    assert!(exists(used.id.clone()).await, "alice's consent references it");
}
