//! The command line: `lanyard serve | dev | migrate | user | client | api | keys | upstream`.

mod admin;
mod apis;
mod clients;
mod dev;
mod keys;
mod output;
mod serve;
mod upstreams;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::app::StartError;
use crate::config::{Config, Sources};
use crate::store::{self, SchemaState};

#[derive(Debug, Parser)]
#[command(
    name = "lanyard",
    version,
    about = "An OpenID Connect provider and OAuth 2.0 authorization server"
)]
pub struct Cli {
    /// TOML file with settings (flags > environment > this file > defaults).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve Lanyard (needs DATABASE_URL and LANYARD_MASTER_KEY, and a migrated database).
    Serve,
    /// Run Lanyard with demo data on a private PostgreSQL under .lanyard/.
    Dev {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
    },
    /// Apply the database migrations.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Manage clients (relying parties and services).
    #[command(subcommand)]
    Client(clients::ClientCommand),
    /// Manage APIs (resource servers) and their scopes.
    #[command(subcommand)]
    Api(apis::ApiCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Manage upstream OpenID providers people may sign in through.
    #[command(subcommand)]
    Upstream(upstreams::UpstreamCommand),
}

/// `--json`: stdout is exactly one JSON document.
#[derive(Debug, Clone, Copy, Args)]
struct JsonFlag {
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

/// A command's failure: one line on stderr and an exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl Failure {
    /// Refused input or a runtime problem (exit 1).
    pub fn refused(message: impl std::fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            code: 1,
        }
    }

    /// Configuration or setup the operator must fix (exit 2).
    pub fn setup(message: impl std::fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            code: 2,
        }
    }
}

impl From<StartError> for Failure {
    fn from(e: StartError) -> Self {
        Self {
            code: e.exit_code() as u8,
            message: e.to_string(),
        }
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line: clap's first, with a pointer to --help.
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("error: invalid arguments");
            eprintln!("{first} (see --help)");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let mut sources = Sources::gather(cli.config.as_deref(), std::env::vars()).map_err(Failure::setup)?;
    for warning in &sources.warnings {
        eprintln!("{warning}");
    }
    match cli.command {
        Command::Dev { bind } => dev::run(sources, bind).await,
        command => {
            let config = sources.resolve().map_err(Failure::setup)?;
            crate::telemetry::init(&config.log, config.log_format);
            sources.warnings.clear();
            match command {
                Command::Serve => serve::run(config).await,
                Command::Migrate => migrate(&config).await,
                Command::User(cmd) => users::run(cmd, &config).await,
                Command::Client(cmd) => clients::run(cmd, &config).await,
                Command::Api(cmd) => apis::run(cmd, &config).await,
                Command::Keys(cmd) => keys::run(cmd, &config).await,
                Command::Upstream(cmd) => upstreams::run(cmd, &config).await,
                Command::Dev { .. } => unreachable!("handled above"),
            }
        }
    }
}

async fn migrate(config: &Config) -> Result<(), Failure> {
    let pool = connect(config).await?;
    let before = store::schema_state(&pool).await.map_err(Failure::refused)?;
    let unkeyed = store::migrate(&pool)
        .await
        .map_err(|e| Failure::refused(e.to_string()))?;
    store::warn_unkeyed(&unkeyed);
    match before {
        SchemaState::Behind { missing } => println!("applied {missing} migration(s)"),
        _ => println!("the database is up to date"),
    }
    Ok(())
}

/// A small pool for a one-shot command.
async fn connect(config: &Config) -> Result<sqlx::PgPool, Failure> {
    let url = config.require_database_url().map_err(Failure::setup)?;
    store::connect(url, 2)
        .await
        .map_err(|e| Failure::refused(format!("DATABASE_URL: cannot connect ({e})")))
}

/// A pool for an admin command, on a migrated database.
async fn connect_migrated(config: &Config) -> Result<sqlx::PgPool, Failure> {
    let pool = connect(config).await?;
    match store::schema_state(&pool).await.map_err(Failure::refused)? {
        SchemaState::Current => Ok(pool),
        SchemaState::Behind { .. } => Err(Failure::setup("the database is not migrated: run `lanyard migrate`")),
        SchemaState::Ahead => Err(Failure::setup(
            "the database schema is newer than this lanyard: upgrade lanyard",
        )),
    }
}
