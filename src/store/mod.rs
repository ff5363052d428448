//! Store: all SQL lives here, one module per table or aggregate (sqlx, PostgreSQL).

pub mod apis;
pub mod audit;
pub mod catalog;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod email_verifications;
pub mod grants;
pub mod housekeeping;
pub mod invitations;
pub mod login_throttle;
pub mod logout_outbox;
pub mod mail_outbox;
pub mod outbox;
pub mod par_requests;
pub mod passkeys;
pub mod password_resets;
pub mod refresh_tokens;
pub mod registration_tokens;
pub mod revoked_access_tokens;
pub mod second_factors;
pub mod sessions;
pub mod signing_keys;
pub mod token_counters;
pub mod upstream_flows;
pub mod upstreams;
pub mod used_jtis;
pub mod users;
pub mod webauthn_ceremonies;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, migrate::Migrator};

/// The schema, embedded from `migrations/`.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same unique key exists.
    #[error("{0} already exists")]
    Conflict(String),
    /// A stored value no longer parses (a bug or a hand-edited row).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the database could not be reached (down, restarting, out of
    /// connections) rather than refusing the statement: worth a retry.
    pub fn is_unreachable(&self) -> bool {
        match self {
            StoreError::Db(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed,
            ) => true,
            // SQLSTATE class 08 (connection exception) and 57P (the server is
            // shutting down or restarting: admin_shutdown, crash_shutdown, cannot_connect_now).
            StoreError::Db(sqlx::Error::Database(db)) => {
                db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P"))
            }
            _ => false,
        }
    }

    /// Whether the database refused a value it cannot hold (SQLSTATE class
    /// 22, data exception: a NUL in text, a number out of range): bad input,
    /// not a failure of Lanyard's.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, StoreError::Db(sqlx::Error::Database(db)) if db.code().is_some_and(|c| c.starts_with("22")))
    }

    /// Maps a unique-key violation to `Conflict(what)`, anything else to `Db`.
    pub(crate) fn conflict_as(what: impl FnOnce() -> String) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what()),
            _ => StoreError::Db(e),
        }
    }
}

/// Where the database stands against the migrations this binary carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    Current,
    /// Some migrations are not applied: run `lanyard migrate`.
    Behind {
        missing: usize,
    },
    /// The database has migrations this binary does not know: it is newer.
    Ahead,
}

/// Connects a pool. Short timeouts: a request never hangs on a dead database.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(options.application_name("lanyard"))
        .await
}

/// Applies the migrations, then the steps SQL cannot do (usernames' keys,
/// computed by Lanyard's own normalisation). Returns the usernames that fold
/// to another's key and were left without one (they cannot sign in).
pub async fn migrate(pool: &PgPool) -> Result<Vec<String>, StoreError> {
    MIGRATOR.run(pool).await?;
    users::backfill_username_keys(&mut *pool.acquire().await?).await
}

/// The warning for users a migration left without a username key.
pub fn warn_unkeyed(usernames: &[String]) {
    if !usernames.is_empty() {
        tracing::warn!(
            ?usernames,
            "these users' names fold (Unicode NFKC, lower case) to another user's; they cannot sign in until renamed"
        );
    }
}

pub async fn schema_state(pool: &PgPool) -> Result<SchemaState, sqlx::Error> {
    let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
        .fetch_one(pool)
        .await?;
    let applied: Vec<i64> = match exists {
        Some(_) => {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(pool)
                .await?
        }
        None => Vec::new(),
    };
    if applied.iter().any(|v| !MIGRATOR.version_exists(*v)) {
        return Ok(SchemaState::Ahead);
    }
    let missing = MIGRATOR.iter().filter(|m| !applied.contains(&m.version)).count();
    Ok(if missing == 0 {
        SchemaState::Current
    } else {
        SchemaState::Behind { missing }
    })
}

/// A read-only transaction that sees one snapshot of every table it reads
/// (REPEATABLE READ), for loading several tables consistently.
pub async fn begin_consistent_read(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Creates the database `lanyard` on the server `pool` is connected to,
/// unless it exists (`lanyard dev`'s private PostgreSQL).
pub async fn create_dev_database_if_missing(pool: &PgPool) -> Result<(), sqlx::Error> {
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'lanyard')")
        .fetch_one(pool)
        .await?;
    if !exists {
        sqlx::query("CREATE DATABASE lanyard").execute(pool).await?;
    }
    Ok(())
}

/// Whether the database answers (for `/readyz`).
pub async fn ping(pool: &PgPool) -> bool {
    sqlx::query("SELECT 1").execute(pool).await.is_ok()
}
