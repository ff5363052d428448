//! The test harness: one private PostgreSQL per test run (the same code as
//! `lanyard dev`, or `DATABASE_URL` when set), a fresh database per test cloned
//! from a migrated template that already holds signing keys, the real app on
//! port 0, and the real `lanyard` binary for CLI tests.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lanyard::app::{Application, prepare};
use lanyard::clock::{MockClock, SystemClock};
use lanyard::config::{Config, Issuer};
use lanyard::crypto::MasterKey;
use lanyard::pg_cluster::Cluster;
use lanyard::{keys, store};
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::OnceCell;

/// The master key every test database's signing keys are sealed with.
pub fn master_key() -> MasterKey {
    MasterKey::from_bytes([42; 32])
}

/// The PostgreSQL server of this test run.
pub struct Server {
    /// Keeps the private cluster (if any) for the whole run; its watchdog
    /// stops it and deletes its files when the test process ends.
    _cluster: Option<Cluster>,
    admin_url: String,
    template: String,
}

static SERVER: OnceCell<Server> = OnceCell::const_new();

/// A fresh database of its own for one test.
pub struct TestDb {
    pub url: String,
}

/// A connection URL with another database name, keeping host and options.
pub fn url_for(admin_url: &str, database: &str) -> String {
    let mut url = url::Url::parse(admin_url).expect("DATABASE_URL parses");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

pub async fn server() -> &'static Server {
    SERVER
        .get_or_init(|| async {
            let (cluster, admin_url) = match std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
                Some(url) => (None, url),
                None => {
                    let dir = std::env::temp_dir().join(format!("lanyard-test-{}", uuid::Uuid::new_v4().simple()));
                    let cluster = tokio::task::spawn_blocking(move || Cluster::start(&dir, false))
                        .await
                        .expect("cluster start joins")
                        .expect("a private PostgreSQL starts (are the server binaries installed?)");
                    let url = cluster.url("postgres");
                    (Some(cluster), url)
                }
            };
            let template = ensure_template(&admin_url).await;
            Server {
                _cluster: cluster,
                admin_url,
                template,
            }
        })
        .await
}

/// The migrated template with signing keys, named after the migrations so a
/// schema change makes a new one. Built once, under an advisory lock.
async fn ensure_template(admin_url: &str) -> String {
    let mut hasher = Sha256::new();
    for m in store::MIGRATOR.iter() {
        hasher.update(m.version.to_be_bytes());
        hasher.update(&m.checksum);
    }
    let digest = hasher.finalize();
    let name = format!(
        "lanyard_tpl_{:02x}{:02x}{:02x}{:02x}{:02x}",
        digest[0], digest[1], digest[2], digest[3], digest[4]
    );
    let mut admin = PgConnection::connect(admin_url)
        .await
        .expect("connect to the test server");
    sqlx::query("SELECT pg_advisory_lock(4242)")
        .execute(&mut admin)
        .await
        .expect("lock");
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .expect("query pg_database");
    if !exists {
        let building = format!("{name}_building");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {building}")))
            .execute(&mut admin)
            .await
            .expect("drop a half-built template");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {building}")))
            .execute(&mut admin)
            .await
            .expect("create the template");
        let pool = store::connect(&url_for(admin_url, &building), 2)
            .await
            .expect("connect to the template");
        store::migrate(&pool).await.expect("migrate the template");
        keys::ensure(&pool, &SystemClock, &master_key())
            .await
            .expect("seed signing keys");
        pool.close().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {building} RENAME TO {name}"
        )))
        .execute(&mut admin)
        .await
        .expect("publish the template");
    }
    sqlx::query("SELECT pg_advisory_unlock(4242)")
        .execute(&mut admin)
        .await
        .expect("unlock");
    admin.close().await.ok();
    name
}

async fn create_database(template: Option<&str>) -> TestDb {
    let server = server().await;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let sql = match template {
        Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
        None => format!("CREATE DATABASE {name}"),
    };
    let mut admin = PgConnection::connect(&server.admin_url)
        .await
        .expect("connect to the test server");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    admin.close().await.ok();
    TestDb {
        url: url_for(&server.admin_url, &name),
    }
}

/// A migrated database with signing keys (sealed with `master_key()`).
pub async fn fresh_db() -> TestDb {
    let template = server().await.template.clone();
    create_database(Some(&template)).await
}

/// A database with nothing in it: not migrated, no keys.
pub async fn empty_db() -> TestDb {
    create_database(None).await
}

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

pub async fn spawn_app() -> TestApp {
    spawn_app_on(fresh_db().await).await
}

/// The app with a configuration change (for example trusted proxies).
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_configured(fresh_db().await, tweak).await
}

pub async fn spawn_app_on(db: TestDb) -> TestApp {
    spawn_app_configured(db, |_| {}).await
}

/// The app on a given database, with a configuration change.
pub async fn spawn_app_on_with(db: TestDb, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_configured(db, tweak).await
}

async fn spawn_app_configured(db: TestDb, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let port = listener.local_addr().expect("local address").port();
    let address = format!("http://127.0.0.1:{port}");
    let mut config = Config::for_tests(db.url.clone(), master_key());
    config.issuer = Issuer::parse(&address).expect("loopback issuer");
    config.bind = listener.local_addr().expect("local address");
    tweak(&mut config);
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

/// A PostgreSQL cluster of a test's own, for tests that stop the database.
pub struct OwnCluster(Arc<Cluster>);

impl OwnCluster {
    pub async fn stop(&self) {
        let c = self.0.clone();
        tokio::task::spawn_blocking(move || c.stop()).await.unwrap().unwrap();
    }

    pub async fn start(&self) {
        let c = self.0.clone();
        tokio::task::spawn_blocking(move || c.start_server())
            .await
            .unwrap()
            .unwrap();
    }
}

impl Drop for OwnCluster {
    /// The cluster ends with its test.
    fn drop(&mut self) {
        let _ = self.0.stop();
    }
}

/// A cluster of the test's own with a migrated database that has keys.
pub async fn own_cluster() -> (OwnCluster, TestDb) {
    let dir = std::env::temp_dir().join(format!("lanyard-own-{}", uuid::Uuid::new_v4().simple()));
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(&dir, false))
        .await
        .unwrap()
        .unwrap();
    let admin = cluster.url("postgres");
    let pool = lanyard::store::connect(&admin, 1).await.unwrap();
    sqlx::query("CREATE DATABASE lanyard").execute(&pool).await.unwrap();
    pool.close().await;
    let db = TestDb {
        url: url_for(&admin, "lanyard"),
    };
    let pool = lanyard::store::connect(&db.url, 1).await.unwrap();
    lanyard::store::migrate(&pool).await.unwrap();
    lanyard::keys::ensure(&pool, &SystemClock, &master_key()).await.unwrap();
    pool.close().await;
    (OwnCluster(Arc::new(cluster)), db)
}

/// A fresh "browser": its own cookie jar, never follows redirects.
pub fn new_browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("reqwest client")
}

impl TestApp {
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

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get(path).await.json().await.expect("a JSON body")
    }
}

/// What one run of the `lanyard` binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The one JSON document `--json` prints.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is one JSON document ({e}): {self:?}"))
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }

    /// Refused: a non-zero exit and exactly one line on stderr that mentions `needle`.
    #[track_caller]
    pub fn assert_refused(&self, needle: &str) {
        assert_ne!(self.code, 0, "{self:?}");
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line on stderr: {self:?}");
        assert!(lines[0].contains(needle), "stderr mentions `{needle}`: {self:?}");
    }
}

/// A `lanyard` command with a clean environment (no inherited LANYARD_* or DATABASE_URL).
pub struct Lanyard {
    cmd: tokio::process::Command,
    stdin: Option<String>,
}

pub fn lanyard(args: &[&str]) -> Lanyard {
    let mut cmd = tokio::process::Command::new(binary());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LANYARD_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    Lanyard { cmd, stdin: None }
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lanyard"))
}

impl Lanyard {
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// DATABASE_URL and the test master key.
    pub fn db(self, db: &TestDb) -> Self {
        self.env("DATABASE_URL", &db.url)
            .env("LANYARD_MASTER_KEY", &master_key().encode())
    }

    /// Runs against a test database (DATABASE_URL and the test master key).
    pub async fn run_on(self, db: &TestDb) -> Run {
        self.db(db).run().await
    }

    pub fn stdin(mut self, input: &str) -> Self {
        self.stdin = Some(input.to_owned());
        self.cmd.stdin(Stdio::piped());
        self
    }

    pub fn command(self) -> tokio::process::Command {
        self.cmd
    }

    pub async fn run(mut self) -> Run {
        let mut child = self.cmd.spawn().expect("the lanyard binary starts");
        if let (Some(input), Some(mut pipe)) = (self.stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes()).await.expect("write stdin");
        }
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("lanyard finishes within 60 s")
            .expect("lanyard output");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
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

/// Counts the rows of a table (to show a refused command wrote nothing).
pub async fn count(db: &TestDb, table: &str) -> i64 {
    let mut conn = PgConnection::connect(&db.url).await.expect("connect");
    let n = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(&mut conn)
        .await
        .expect("count rows");
    conn.close().await.ok();
    n
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts `lanyard serve` on port 0 and waits for its "listening" line.
pub async fn serve_until_listening(db: &TestDb) -> tokio::process::Child {
    serve_listening(lanyard(&["serve"]).db(db).env("LANYARD_BIND", "127.0.0.1:0"))
        .await
        .0
}

/// Starts a prepared `lanyard serve`; returns it with the address it listens on.
pub async fn serve_listening(cmd: Lanyard) -> (tokio::process::Child, String) {
    let mut cmd = cmd.command();
    let mut child = cmd.spawn().expect("lanyard serve starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let listening = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.split(' ').next().map(str::to_owned);
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let address = listening.expect("lanyard serve came up");
    // Keep draining stderr so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, address)
}

// ---- the code flow, driven like a browser ----

pub const PASSWORD: &str = "correct horse battery";

/// A user with a few claims; returns its `sub`.
pub async fn create_user(app: &TestApp, username: &str) -> uuid::Uuid {
    create_user_on(&app.pool, username).await
}

/// `create_user` on a database a test's own `lanyard serve` processes use.
pub async fn create_user_on(pool: &PgPool, username: &str) -> uuid::Uuid {
    let input = lanyard::admin::users::NewUserInput {
        username: username.into(),
        password: PASSWORD.into(),
        is_admin: false,
        claims: lanyard::model::StandardClaims {
            name: Some(format!("{username} Example")),
            given_name: Some(username.into()),
            email: Some(format!("{username}@example.com")),
            email_verified: true,
            phone_number: Some("+15551234567".into()),
            locale: Some("en-GB".into()),
            ..Default::default()
        },
    };
    lanyard::admin::users::create(pool, &SystemClock, input)
        .await
        .expect("user created")
        .sub
}

/// The sign-in form `authorize_url` leads to, filled in for `username`: what a
/// browser posts to `/signin` (for nodes running outside the test process).
pub async fn sign_in_form(
    browser: &reqwest::Client,
    authorize_url: &str,
    username: &str,
) -> Vec<(&'static str, String)> {
    let page = browser
        .get(authorize_url)
        .send()
        .await
        .expect("the sign-in page")
        .text()
        .await
        .expect("its HTML");
    vec![
        ("csrf", hidden(&page, "csrf").expect("a CSRF token")),
        ("request", hidden(&page, "request").expect("the authorization request")),
        ("username", username.into()),
        ("password", PASSWORD.into()),
    ]
}

/// A service: a confidential client with only the client_credentials grant.
pub async fn create_service(app: &TestApp, id: &str) -> TestClient {
    create_client(
        app,
        ClientSpec {
            id,
            grants: &["client_credentials"],
            ..Default::default()
        },
    )
    .await
}

/// A registered test client.
#[derive(Clone)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

/// The grants of a client that signs users in and exchanges their id_tokens.
pub const EXCHANGE_GRANTS: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:token-exchange",
];

pub struct ClientSpec<'a> {
    pub id: &'a str,
    pub public: bool,
    pub first_party: bool,
    pub scopes: &'a [&'a str],
    pub alg: &'a str,
    pub grants: &'a [&'a str],
}

impl Default for ClientSpec<'_> {
    fn default() -> Self {
        Self {
            id: "rp",
            public: false,
            first_party: true,
            scopes: &["openid", "profile", "email", "phone", "offline_access"],
            alg: "RS256",
            grants: &["authorization_code", "refresh_token"],
        }
    }
}

impl ClientSpec<'_> {
    /// The default first-party client, also allowed token exchange.
    pub fn exchanging() -> Self {
        Self {
            grants: EXCHANGE_GRANTS,
            ..Default::default()
        }
    }
}

/// A public client (a single-page app): no secret, PKCE.
pub async fn create_public_client(app: &TestApp, id: &str) -> TestClient {
    create_client(
        app,
        ClientSpec {
            id,
            public: true,
            ..Default::default()
        },
    )
    .await
}

pub async fn create_client(app: &TestApp, spec: ClientSpec<'_>) -> TestClient {
    let redirect_uri = format!("https://{}.example/callback?tenant=1", spec.id);
    let input = lanyard::admin::clients::NewClientInput {
        client_id: spec.id.into(),
        name: Some(format!("{} app", spec.id)),
        redirect_uris: vec![redirect_uri.clone(), "http://127.0.0.1/cb".into()],
        post_logout_redirect_uris: vec![format!("https://{}.example/bye", spec.id)],
        public: spec.public,
        grant_types: spec.grants.iter().map(|g| g.to_string()).collect(),
        scopes: spec.scopes.iter().map(|s| s.to_string()).collect(),
        first_party: spec.first_party,
        id_token_alg: Some(spec.alg.into()),
        ..Default::default()
    };
    let created = lanyard::admin::clients::create(&app.pool, &app.clock, &mut rand::rng(), input)
        .await
        .expect("client created");
    app.settle().await;
    TestClient {
        id: created.client_id,
        secret: created.client_secret,
        redirect_uri,
    }
}

/// The value of a hidden form field, HTML-unescaped.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(unescape(&html[start..end]))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .unwrap_or_else(|| panic!("a Location header on {}", res.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// A query parameter of an absolute URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// An authorization URL for a client, with PKCE S256.
pub struct AuthUrl {
    pub url: String,
    pub verifier: String,
    pub state: String,
    pub nonce: String,
}

pub fn pkce_pair() -> (String, String) {
    use base64::Engine as _;
    let verifier = lanyard::crypto::secret::random_token(&mut rand::rng());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub fn auth_url(app: &TestApp, client: &TestClient, scope: &str, extra: &[(&str, &str)]) -> AuthUrl {
    let (verifier, challenge) = pkce_pair();
    let state = "st&te=1 ~!".to_owned();
    let nonce = lanyard::crypto::secret::random_token(&mut rand::rng());
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.id)
        .append_pair("redirect_uri", &client.redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    AuthUrl {
        url: url.to_string(),
        verifier,
        state,
        nonce,
    }
}

impl TestApp {
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

    /// Submits the sign-in page `html` with these credentials.
    pub async fn sign_in_on(&self, html: &str, username: &str, password: &str) -> reqwest::Response {
        let csrf = hidden(html, "csrf").expect("a csrf field");
        let request = hidden(html, "request").unwrap_or_default();
        let return_to = hidden(html, "return_to").unwrap_or_default();
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
                let csrf = hidden(&html, "csrf").unwrap();
                let request = hidden(&html, "request").unwrap();
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
        let auth = auth_url(self, client, scope, &[]);
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
        let (code, auth) = self.code_for(client, scope, username).await;
        self.redeem(client, &code, &auth.verifier).await
    }

    /// Exchanges a code (it must succeed).
    pub async fn redeem(&self, client: &TestClient, code: &str, verifier: &str) -> serde_json::Value {
        let res = self.redeem_raw(client, code, verifier).await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    pub async fn redeem_raw(&self, client: &TestClient, code: &str, verifier: &str) -> reqwest::Response {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("code_verifier", verifier),
        ];
        self.token(client, &form).await
    }

    /// The same app seen through another browser (its own cookies).
    pub fn with_browser(&self, client: reqwest::Client) -> TestApp {
        TestApp {
            address: self.address.clone(),
            db: TestDb {
                url: self.db.url.clone(),
            },
            pool: self.pool.clone(),
            provider: self.provider.clone(),
            config: self.config.clone(),
            clock: self.clock.clone(),
            metrics_address: self.metrics_address,
            client,
        }
    }

    pub async fn userinfo(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/userinfo"))
            .bearer_auth(token)
            .send()
            .await
            .expect("userinfo")
    }
}

/// The claims of a JWT, unverified (tests check them after the app verified).
pub fn jwt_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

pub fn jwt_header(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let header = jwt.split('.').next().expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

/// The HTTP client the `openidconnect` crate uses (never follows redirects).
pub fn oidc_http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

// ---- APIs, services and token exchange ----

pub const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// An API with scopes (and optionally its algorithm and resource servers).
pub async fn create_api(app: &TestApp, audience: &str, scopes: &[&str], alg: Option<&str>, resource_servers: &[&str]) {
    let input = lanyard::admin::apis::NewApiInput {
        audience: audience.into(),
        name: None,
        scopes: scopes.iter().map(|s| format!("{s}=Lets the client {s}")).collect(),
        access_token_ttl: None,
        alg: alg.map(str::to_owned),
        resource_servers: resource_servers.iter().map(|s| s.to_string()).collect(),
    };
    lanyard::admin::apis::create(&app.pool, &app.clock, input)
        .await
        .expect("API created");
    app.settle().await;
}

/// Sets exactly which scopes of an API a client may get, as an admin does,
/// and puts it in force in the app.
pub async fn set_access(app: &TestApp, client: &str, audience: &str, scopes: &[&str]) {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    lanyard::admin::clients::set_access(&app.pool, &app.clock, client, audience, &scopes)
        .await
        .expect("access set");
    app.settle().await;
}

pub async fn allow(app: &TestApp, client: &str, audience: &str, scopes: &[&str]) {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    lanyard::admin::clients::allow(&app.pool, &app.clock, client, audience, &scopes)
        .await
        .expect("allowed");
    app.settle().await;
}

impl TestApp {
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
}

/// `(status, error code)` of an error response.
pub async fn error_of(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}
