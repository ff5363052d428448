//! The database side of the harness: one private PostgreSQL per test run (the
//! same code as `lanyard dev`, or `DATABASE_URL` when set), a migrated template
//! that already holds signing keys, a fresh or empty database per test, and a
//! cluster of a test's own for tests that stop the database.

use std::sync::Arc;

use lanyard::clock::SystemClock;
use lanyard::crypto::MasterKey;
use lanyard::pg_cluster::Cluster;
use lanyard::{keys, store};
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};
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
#[derive(Clone)]
pub struct TestDb {
    pub url: String,
}

/// A connection URL with another database name, keeping host and options.
pub fn database_url(admin_url: &str, database: &str) -> String {
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
        let pool = store::connect(&database_url(admin_url, &building), 2)
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
        url: database_url(&server.admin_url, &name),
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
    let pool = store::connect(&admin, 1).await.unwrap();
    sqlx::query("CREATE DATABASE lanyard").execute(&pool).await.unwrap();
    pool.close().await;
    let db = TestDb {
        url: database_url(&admin, "lanyard"),
    };
    let pool = store::connect(&db.url, 1).await.unwrap();
    store::migrate(&pool).await.unwrap();
    keys::ensure(&pool, &SystemClock, &master_key()).await.unwrap();
    pool.close().await;
    (OwnCluster(Arc::new(cluster)), db)
}

/// Counts the rows of a table (to show a refused command wrote nothing).
pub async fn count_rows(db: &TestDb, table: &str) -> i64 {
    let mut conn = PgConnection::connect(&db.url).await.expect("connect");
    let n = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(&mut conn)
        .await
        .expect("count rows");
    conn.close().await.ok();
    n
}
