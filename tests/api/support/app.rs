//! The app under test: `TestApp` (the real app on port 0 with its own database,
//! its clock and a browser-like client), the one builder that starts it, and
//! every HTTP helper on it — the code flow's steps, /token, exchange, userinfo.

use std::net::TcpListener;
use std::sync::Arc;

use chrono::Utc;
use lanyard::app::{Application, prepare};
use lanyard::clock::MockClock;
use lanyard::config::{Config, Issuer};
use sqlx::PgPool;

use super::db::{TestDb, fresh_db, master_key};
use super::fixtures::{EXCHANGE, ID_TOKEN_TYPE, PASSWORD, TestClient};
use super::flow::{AuthUrl, auth_url, hidden_field, location, query_param};

/// The real app on a free port, with its own database.
pub struct TestApp {
    pub address: String,
    pub db: TestDb,
    pub pool: PgPool,
    /// The app's provider: its in-memory catalog (tests that change clients or
    /// APIs behind the app's back call `settle` rather than wait for the
    /// NOTIFY) and its audit buffer (`audit_written`).
    pub provider: lanyard::protocol::Provider,
    pub config: Config,
    /// The app's clock: tests move it to expire things.
    pub clock: MockClock,
    /// Where `/metrics` is served when `LANYARD_METRICS_BIND` is set.
    pub metrics_address: Option<std::net::SocketAddr>,
    /// Keeps cookies, never follows redirects.
    pub client: reqwest::Client,
}

/// The default app on a fresh database: `TestApp::builder().spawn()`.
pub async fn spawn_app() -> TestApp {
    TestApp::builder().spawn().await
}

/// A change to the app's configuration, applied before it starts.
type ConfigChange = Box<dyn FnOnce(&mut Config) + Send>;

/// How a test wants its app: which database, which configuration changes.
/// `TestApp::builder().on(db).config(|c| …).spawn().await`
#[must_use = "an app starts only with `.spawn().await`"]
pub struct TestAppBuilder {
    db: Option<TestDb>,
    changes: Vec<ConfigChange>,
    /// The issuer's host: `127.0.0.1`, or `localhost` for passkeys.
    host: &'static str,
}

impl TestAppBuilder {
    /// On this database (by default a fresh one cloned from the template).
    pub fn on(mut self, db: TestDb) -> Self {
        self.db = Some(db);
        self
    }

    /// Changes the configuration (for example trusted proxies or lifetimes);
    /// several changes apply in order.
    pub fn config(mut self, change: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.changes.push(Box::new(change));
        self
    }

    /// The issuer `http://localhost:PORT` (still bound to 127.0.0.1):
    /// WebAuthn needs a domain name as its relying party id, never an IP
    /// address, so passkeys are on only with this.
    pub fn localhost(mut self) -> Self {
        self.host = "localhost";
        self
    }

    /// Starts the app on a free port and returns once it is serving.
    pub async fn spawn(self) -> TestApp {
        let db = match self.db {
            Some(db) => db,
            None => fresh_db().await,
        };
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let port = listener.local_addr().expect("local address").port();
        let address = format!("http://{}:{port}", self.host);
        let mut config = Config::for_tests(db.url.clone(), master_key());
        config.issuer = Issuer::parse(&address).expect("loopback issuer");
        config.bind = listener.local_addr().expect("local address");
        for change in self.changes {
            change(&mut config);
        }
        let clock = MockClock::new(Utc::now());
        let state = prepare(config.clone(), Arc::new(clock.clone()), 4)
            .await
            .expect("the app prepares");
        let pool = state.provider.pool.clone();
        let provider = state.provider.clone();
        let app = Application::build_on(state, listener, 1).expect("the app builds");
        let metrics_address = app.metrics_address();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address,
            db,
            pool,
            provider,
            config,
            clock,
            metrics_address,
            client: new_browser(),
        }
    }
}

/// A fresh "browser": its own cookie jar, never follows redirects.
pub fn new_browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("reqwest client")
}

/// The HTTP client the `openidconnect` crate uses (never follows redirects).
pub fn oidc_http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// GETs a URL and parses its JSON body.
pub async fn fetch_json(url: &str) -> serde_json::Value {
    reqwest::get(url)
        .await
        .expect("request")
        .json()
        .await
        .expect("a JSON body")
}

/// `(status, error code)` of an error response.
pub async fn error_of(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

impl TestApp {
    /// The builder: `TestApp::builder().on(db).config(|c| …).spawn().await`.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            db: None,
            changes: Vec::new(),
            host: "127.0.0.1",
        }
    }

    /// The same app seen through another browser (its own cookies).
    pub fn with_browser(&self, client: reqwest::Client) -> TestApp {
        TestApp {
            address: self.address.clone(),
            db: self.db.clone(),
            pool: self.pool.clone(),
            provider: self.provider.clone(),
            config: self.config.clone(),
            clock: self.clock.clone(),
            metrics_address: self.metrics_address,
            client,
        }
    }

    /// A second node behind the same issuer, on the same database (and the
    /// same master key): no shared state but what PostgreSQL holds.
    pub async fn second_node(&self) -> TestApp {
        let issuer = self.config.issuer.clone();
        TestApp::builder()
            .on(self.db.clone())
            .config(move |c| c.issuer = issuer)
            .spawn()
            .await
    }

    // ---- the app's state ----

    /// Puts catalog changes made directly in the database in force in the app now.
    pub async fn settle(&self) {
        self.provider
            .catalog
            .reload(&self.pool)
            .await
            .expect("the catalog reloads");
    }

    /// Writes the audit events the app has buffered, so SQL sees them.
    pub async fn audit_written(&self) {
        self.provider
            .audit
            .write(&self.pool)
            .await
            .expect("buffered audit events written");
    }

    // ---- plain HTTP ----

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get(path).await.json().await.expect("a JSON body")
    }

    /// GETs a URL (absolute, or a path of the app) with the app's browser.
    pub async fn visit(&self, url: &str) -> reqwest::Response {
        let url = if url.starts_with('/') {
            self.url(url)
        } else {
            url.to_owned()
        };
        self.client.get(url).send().await.expect("request")
    }

    /// Posts a form with the app's browser.
    pub async fn submit(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("request")
    }

    /// POSTs to an endpoint with a client's Basic credentials.
    pub async fn post_as(&self, client: &TestClient, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .basic_auth(&client.id, client.secret.as_deref())
            .form(form)
            .send()
            .await
            .expect("request")
    }

    pub async fn userinfo(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/userinfo"))
            .bearer_auth(token)
            .send()
            .await
            .expect("userinfo")
    }

    // ---- the code flow, driven like a browser ----

    /// Submits the sign-in page `html` with these credentials.
    pub async fn sign_in_on(&self, html: &str, username: &str, password: &str) -> reqwest::Response {
        let csrf = hidden_field(html, "csrf").expect("a csrf field");
        let request = hidden_field(html, "request").unwrap_or_default();
        let return_to = hidden_field(html, "return_to").unwrap_or_default();
        let form = [
            ("csrf", csrf.as_str()),
            ("request", &request),
            ("return_to", &return_to),
            ("username", username),
            ("password", password),
        ];
        self.submit("/signin", &form).await
    }

    /// Opens the authorization URL, signs in if asked, allows consent if asked,
    /// and returns the response that leaves Lanyard (the redirect to the client).
    pub async fn authorize(&self, url: &str, username: &str) -> reqwest::Response {
        let mut res = self.visit(url).await;
        for _ in 0..4 {
            if res.status() != 200 {
                let to = res
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                if (res.status() == 303 || res.status() == 302) && to.starts_with("/authorize") {
                    res = self.visit(&to).await;
                    continue;
                }
                return res;
            }
            let html = res.text().await.unwrap();
            res = if html.contains("action=\"/signin\"") {
                self.sign_in_on(&html, username, PASSWORD).await
            } else if html.contains("action=\"/consent\"") {
                let csrf = hidden_field(&html, "csrf").unwrap();
                let request = hidden_field(&html, "request").unwrap();
                self.submit(
                    "/consent",
                    &[("csrf", &csrf), ("request", &request), ("decision", "allow")],
                )
                .await
            } else {
                panic!("unexpected page: {html}");
            };
        }
        res
    }

    /// The code the authorization response carries, after checking `state` and `iss`.
    pub async fn code_for(&self, client: &TestClient, scope: &str, username: &str) -> (String, AuthUrl) {
        self.code_for_with(client, scope, username, &[]).await
    }

    /// `code_for`, the request carrying `extra` parameters.
    pub async fn code_for_with(
        &self,
        client: &TestClient,
        scope: &str,
        username: &str,
        extra: &[(&str, &str)],
    ) -> (String, AuthUrl) {
        let auth = auth_url(self, client, scope, extra);
        let res = self.authorize(&auth.url, username).await;
        let to = location(&res);
        assert!(
            to.starts_with(&format!("https://{}.example/callback?tenant=1&", client.id)),
            "{to}"
        );
        assert_eq!(query_param(&to, "state").as_deref(), Some(auth.state.as_str()));
        assert_eq!(query_param(&to, "iss").as_deref(), Some(self.address.as_str()));
        (query_param(&to, "code").expect("a code"), auth)
    }

    // ---- the token endpoint ----

    /// POST /token with client_secret_basic (or the public client's id).
    pub async fn token(&self, client: &TestClient, form: &[(&str, &str)]) -> reqwest::Response {
        let mut req = self.client.post(self.url("/token"));
        let mut form: Vec<(&str, &str)> = form.to_vec();
        match &client.secret {
            Some(secret) => req = req.basic_auth(&client.id, Some(secret)),
            None => form.push(("client_id", &client.id)),
        }
        req.form(&form).send().await.expect("token request")
    }

    /// The whole flow to a token response (JSON).
    pub async fn tokens(&self, client: &TestClient, scope: &str, username: &str) -> serde_json::Value {
        self.tokens_with(client, scope, username, &[]).await
    }

    /// `tokens`, the authorization request carrying `extra` parameters.
    pub async fn tokens_with(
        &self,
        client: &TestClient,
        scope: &str,
        username: &str,
        extra: &[(&str, &str)],
    ) -> serde_json::Value {
        let (code, auth) = self.code_for_with(client, scope, username, extra).await;
        self.redeem(client, &code, &auth.verifier).await
    }

    /// Redeems a code; it must succeed.
    pub async fn redeem(&self, client: &TestClient, code: &str, verifier: &str) -> serde_json::Value {
        let res = self.try_redeem(client, code, verifier).await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// Redeems a code with the client's own redirect URI, whatever the answer.
    pub async fn try_redeem(&self, client: &TestClient, code: &str, verifier: &str) -> reqwest::Response {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("code_verifier", verifier),
        ];
        self.token(client, &form).await
    }

    /// A refresh-token request (optionally narrowing the scope), whatever the answer.
    pub async fn refresh(&self, client: &TestClient, refresh_token: &str, scope: Option<&str>) -> reqwest::Response {
        let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        self.token(client, &form).await
    }

    // ---- positive controls: the request without the defect succeeds ----

    /// The positive control of a code-grant refusal: a code got and redeemed
    /// the ordinary way by this client succeeds, so a refusal that follows is
    /// the rule's, not a broken flow or a misconfigured client.
    pub async fn assert_redeemable(&self, client: &TestClient, scope: &str, username: &str) -> serde_json::Value {
        let (code, auth) = self.code_for(client, scope, username).await;
        let res = self.try_redeem(client, &code, &auth.verifier).await;
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        assert_eq!(
            status, 200,
            "positive control: {} redeems a code of its own: {body}",
            client.id
        );
        body
    }

    /// The positive control of a refresh refusal: this refresh token works
    /// now. Returns the answer, whose rotated `refresh_token` the negative
    /// assertion then uses.
    pub async fn assert_refreshes(&self, client: &TestClient, refresh_token: &str) -> serde_json::Value {
        let res = self.refresh(client, refresh_token, None).await;
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        assert_eq!(status, 200, "positive control: the refresh token works: {body}");
        body
    }

    /// The positive control of an exchange refusal: this exchange succeeds.
    pub async fn assert_exchanges(
        &self,
        client: &TestClient,
        id_token: &str,
        extra: &[(&str, &str)],
    ) -> serde_json::Value {
        let res = self.exchange(client, id_token, extra).await;
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        assert_eq!(status, 200, "positive control: the exchange {extra:?} succeeds: {body}");
        body
    }

    /// A token-exchange request with the id_token as subject, plus `extra`.
    pub async fn exchange(&self, client: &TestClient, id_token: &str, extra: &[(&str, &str)]) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", EXCHANGE),
            ("subject_token", id_token),
            ("subject_token_type", ID_TOKEN_TYPE),
        ];
        form.extend_from_slice(extra);
        self.token(client, &form).await
    }
}
