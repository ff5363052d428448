//! The test harness: one private PostgreSQL per test run (the same code as
//! `lanyard dev`, or `DATABASE_URL` when set), a fresh database per test cloned
//! from a migrated template that already holds signing keys, the real app on
//! port 0, and the real `lanyard` binary for CLI tests.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use lanyard::app::{Application, prepare};
use lanyard::clock::SystemClock;
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
    pub config: Config,
    /// Keeps cookies, never follows redirects.
    pub client: reqwest::Client,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_on(fresh_db().await).await
}

pub async fn spawn_app_on(db: TestDb) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let port = listener.local_addr().expect("local address").port();
    let address = format!("http://127.0.0.1:{port}");
    let mut config = Config::for_tests(db.url.clone(), master_key());
    config.issuer = Issuer::parse(&address).expect("loopback issuer");
    config.bind = listener.local_addr().expect("local address");
    let state = prepare(config.clone(), Arc::new(SystemClock), 4)
        .await
        .expect("the app prepares");
    let pool = state.provider.pool.clone();
    let app = Application::build_on(state, listener, 1).expect("the app builds");
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("reqwest client");
    TestApp {
        address,
        db,
        pool,
        config,
        client,
    }
}

impl TestApp {
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
