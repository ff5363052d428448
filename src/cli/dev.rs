//! `lanyard dev`: Lanyard with demo data on a private PostgreSQL under `.lanyard/`.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Failure;
use crate::admin::{self, AdminError, apis::NewApiInput, clients::NewClientInput, users::NewUserInput};
use crate::app::{Application, prepare};
use crate::clock::SystemClock;
use crate::config::{Config, Sources};
use crate::crypto::{MasterKey, secret};
use crate::model::StandardClaims;
use crate::pg_cluster::{self, Cluster};
use crate::{paths, store};

/// Where `lanyard dev` keeps its cluster and master key.
const DEV_DIR: &str = ".lanyard";
/// The first-party client of `cargo run --example demo`.
pub const DEMO_CLIENT: &str = "demo";
/// The demo's API, served by the demo itself.
pub const DEMO_API: &str = "http://localhost:8081/api";
/// Where the demo client's secret is kept for the demo to read (mode 0600).
const DEMO_SECRET_FILE: &str = "demo.secret";
/// The second demo API, which the first calls for the user by delegation.
pub const DEMO_SHIPPING_API: &str = "http://localhost:8081/shipping";
/// The demo API's own client: its resource server, which delegates the
/// user's token to the shipping API (RFC 8693 §4.1).
pub const DEMO_API_CLIENT: &str = "demo-api";
/// Where that client's secret is kept for the demo to read (mode 0600).
const DEMO_API_SECRET_FILE: &str = "demo-api.secret";
/// The database `lanyard dev` uses (`store::create_dev_database_if_missing`).
const DATABASE: &str = "lanyard";

pub async fn run(mut sources: Sources, bind: Option<String>) -> Result<(), Failure> {
    if let Some(bind) = bind {
        sources.set_flag("LANYARD_BIND", bind);
    }
    let mut config = sources.resolve().map_err(Failure::setup)?;
    crate::telemetry::init(&config.log, config.log_format);
    if !sources.is_set("LANYARD_ISSUER") {
        // The issuer follows the port `dev` listens on.
        let issuer = format!("http://localhost:{}", config.bind.port());
        config.issuer = crate::config::Issuer::parse(&issuer).map_err(Failure::setup)?;
    }
    if !sources.is_set("LANYARD_ADMIN_REQUIRE_MFA") {
        // The demo admin signs in with a password.
        config.admin_require_mfa = false;
    }
    let dir = PathBuf::from(DEV_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Failure::refused(format!("cannot create {DEV_DIR}/: {e}")))?;
    // Traversable (so the server account reaches pg/), not listable; master.key is 0600.
    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711));
    if config.master_key.is_none() {
        config.master_key = Some(dev_master_key(&dir.join("master.key"))?);
    }
    if config.smtp_url.is_none() {
        // No mail server needed: each message lands in .lanyard/mail/, its link in the log.
        config.mail_dir = Some(dir.join("mail"));
    }

    let cluster = match config.database_url {
        Some(_) => None,
        None => {
            let cluster = start_cluster(&dir)?;
            config.database_url = Some(cluster.url(DATABASE));
            create_database(&cluster).await?;
            Some(cluster)
        }
    };
    let show_url = cluster.is_some();
    let result = serve(config, show_url).await;
    if let Some(Err(e)) = cluster.map(|c| c.stop()) {
        eprintln!("warning: stopping the private PostgreSQL: {e}");
    }
    result
}

async fn serve(config: Config, show_url: bool) -> Result<(), Failure> {
    let url = config.require_database_url().map_err(Failure::setup)?.to_owned();
    let pool = store::connect(&url, 2)
        .await
        .map_err(|e| Failure::refused(format!("cannot connect: {e}")))?;
    let unkeyed = store::migrate(&pool)
        .await
        .map_err(|e| Failure::refused(e.to_string()))?;
    store::warn_unkeyed(&unkeyed);
    let seeded = seed(&pool, &config.issuer).await?;
    if let Some(secret) = &seeded.api_client_secret {
        write_private(&Path::new(DEV_DIR).join(DEMO_API_SECRET_FILE), secret)?;
    }
    if let Some(secret) = &seeded.client_secret {
        write_private(&Path::new(DEV_DIR).join(DEMO_SECRET_FILE), secret)?;
    }
    pool.close().await;

    let state = prepare(config, Arc::new(SystemClock), 8).await?;
    let issuer = state.provider.config.issuer.clone();
    let mail = match state.provider.config.smtp_url {
        Some(_) => "sent through LANYARD_SMTP_URL".to_owned(),
        None => format!(
            "written to {DEV_DIR}/mail/ (its links — password reset, email verification, invitations — each printed in the log)"
        ),
    };
    // One worker per core this process may run on, as `serve` does.
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let app = Application::build(state, workers)?;
    print_banner(&issuer, show_url.then_some(url.as_str()), &seeded, &mail);
    app.run_until_stopped()
        .await
        .map_err(|e| Failure::refused(format!("server error: {e}")))
}

/// Reuses `.lanyard/pg`, or — when the server's account cannot reach it (a
/// checkout under a root-only directory) — a directory under /var/tmp.
fn start_cluster(dir: &Path) -> Result<Cluster, Failure> {
    let abs = std::path::absolute(dir).map_err(Failure::refused)?;
    let mut pg_dir = abs.join("pg");
    if !pg_cluster::reachable_by_server(&pg_dir) {
        let tag = secret::sha256(&abs.display().to_string());
        pg_dir = PathBuf::from(format!(
            "/var/tmp/lanyard-dev-{:02x}{:02x}{:02x}{:02x}",
            tag[0], tag[1], tag[2], tag[3]
        ));
        eprintln!(
            "note: the postgres account cannot reach {}; keeping the private cluster in {}",
            abs.display(),
            pg_dir.display()
        );
    }
    eprintln!("starting a private PostgreSQL in {} …", pg_dir.display());
    Cluster::start(&pg_dir, true).map_err(Failure::refused)
}

async fn create_database(cluster: &Cluster) -> Result<(), Failure> {
    let pool = store::connect(&cluster.url("postgres"), 1)
        .await
        .map_err(|e| Failure::refused(format!("cannot connect to the private PostgreSQL: {e}")))?;
    store::create_dev_database_if_missing(&pool)
        .await
        .map_err(Failure::refused)?;
    pool.close().await;
    Ok(())
}

/// The master key kept in `.lanyard/master.key` (created once, mode 0600).
fn dev_master_key(path: &Path) -> Result<MasterKey, Failure> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return MasterKey::parse(&text).map_err(|m| Failure::setup(format!("{}: {m}", path.display())));
    }
    let key = MasterKey::from_bytes(crate::random::bytes());
    write_private(path, &key.encode())?;
    Ok(key)
}

/// Writes a secret to a file only its owner may read (0600).
fn write_private(path: &Path, secret: &str) -> Result<(), Failure> {
    let cannot = |e: std::io::Error| Failure::refused(format!("cannot write {}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(cannot)?;
    writeln!(file, "{secret}").map_err(cannot)
}

/// What the demo seed made this time (secrets only on the run that made them).
#[derive(Default)]
struct Seeded {
    admin_password: Option<String>,
    client_secret: Option<String>,
    /// The secret of `demo-api`, the demo API's resource-server client.
    api_client_secret: Option<String>,
    /// The secret of `admin-cli`, the service that may call the JSON admin API.
    automation_secret: Option<String>,
}

/// A service client allowed the `admin` scope of the JSON admin API.
const AUTOMATION_CLIENT: &str = "admin-cli";

/// The demo admin, client and API; each made once, kept on later runs.
async fn seed(pool: &sqlx::PgPool, issuer: &crate::config::Issuer) -> Result<Seeded, Failure> {
    let clock = SystemClock;
    let mut rng = crate::random::rng();
    let mut seeded = Seeded::default();
    let password = secret::random_token(&mut rng)[..20].to_owned();
    let admin = NewUserInput {
        username: "admin".into(),
        password: password.clone(),
        is_admin: true,
        claims: StandardClaims {
            name: Some("Demo Admin".into()),
            email: Some("admin@lanyard.test".into()),
            email_verified: true,
            ..Default::default()
        },
    };
    if created(admin::users::create(pool, &clock, admin).await)?.is_some() {
        seeded.admin_password = Some(password);
    }
    let client = NewClientInput {
        client_id: DEMO_CLIENT.into(),
        name: Some("Lanyard demo".into()),
        redirect_uris: vec!["http://localhost:8081/callback".into()],
        post_logout_redirect_uris: vec!["http://localhost:8081/".into()],
        grant_types: [
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ]
        .map(String::from)
        .to_vec(),
        scopes: ["openid", "profile", "email", "offline_access"]
            .map(String::from)
            .to_vec(),
        first_party: true,
        ..Default::default()
    };
    if let Some(c) = created(admin::clients::create(pool, &clock, &mut rng, client).await)? {
        seeded.client_secret = c.client_secret;
    }
    let api = NewApiInput {
        audience: DEMO_API.into(),
        name: Some("Demo API".into()),
        scopes: vec!["read=Read your demo orders".into(), "write=Place demo orders".into()],
        ..Default::default()
    };
    created(admin::apis::create(pool, &clock, api).await)?;
    admin::clients::allow(pool, &clock, DEMO_CLIENT, DEMO_API, &["read".into(), "write".into()])
        .await
        .map_err(Failure::refused)?;
    seeded.api_client_secret = seed_delegation(pool, &mut rng).await?;
    let admin_api = admin::apis::ensure_admin_api(pool, &clock, issuer)
        .await
        .map_err(Failure::refused)?;
    let automation = NewClientInput {
        client_id: AUTOMATION_CLIENT.into(),
        name: Some("Admin automation".into()),
        grant_types: vec!["client_credentials".into()],
        ..Default::default()
    };
    if let Some(c) = created(admin::clients::create(pool, &clock, &mut rng, automation).await)? {
        seeded.automation_secret = c.client_secret;
    }
    admin::clients::allow(
        pool,
        &clock,
        AUTOMATION_CLIENT,
        &admin_api,
        &[admin::apis::ADMIN_SCOPE.into()],
    )
    .await
    .map_err(Failure::refused)?;
    Ok(seeded)
}

/// The delegation chain of the demo: the demo API's own client `demo-api`
/// is its resource server and may get the shipping API's `ship` scope, so
/// it can call that API for the user (RFC 8693 §4.1). Returns the client's
/// secret when it was made now.
async fn seed_delegation(pool: &sqlx::PgPool, rng: &mut impl rand::CryptoRng) -> Result<Option<String>, Failure> {
    let clock = SystemClock;
    let api_client = NewClientInput {
        client_id: DEMO_API_CLIENT.into(),
        name: Some("Demo API (its resource server)".into()),
        grant_types: vec!["urn:ietf:params:oauth:grant-type:token-exchange".into()],
        scopes: vec!["openid".into()],
        ..Default::default()
    };
    let secret = created(admin::clients::create(pool, &clock, rng, api_client).await)?.and_then(|c| c.client_secret);
    let shipping = NewApiInput {
        audience: DEMO_SHIPPING_API.into(),
        name: Some("Demo shipping API".into()),
        scopes: vec!["ship=Ship your demo orders".into()],
        ..Default::default()
    };
    created(admin::apis::create(pool, &clock, shipping).await)?;
    let mut conn = pool.acquire().await.map_err(|e| Failure::refused(e.to_string()))?;
    let orders = store::apis::find_by_audience(&mut conn, DEMO_API)
        .await
        .map_err(Failure::refused)?
        .ok_or_else(|| Failure::refused("the demo API is missing"))?;
    store::apis::insert_resource_server(&mut conn, orders.id, DEMO_API_CLIENT)
        .await
        .map_err(Failure::refused)?;
    admin::clients::allow(pool, &clock, DEMO_API_CLIENT, DEMO_SHIPPING_API, &["ship".into()])
        .await
        .map_err(Failure::refused)?;
    Ok(secret)
}

/// `Some` for a new row, `None` when the demo row exists from an earlier run.
fn created<T>(result: Result<T, AdminError>) -> Result<Option<T>, Failure> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(AdminError::Conflict(_)) => Ok(None),
        Err(e) => Err(Failure::refused(format!("seeding demo data: {e}"))),
    }
}

fn print_banner(issuer: &crate::config::Issuer, database_url: Option<&str>, seeded: &Seeded, mail: &str) {
    let shown_before = "(shown on the first run; delete .lanyard/ to start over)";
    let database = match database_url {
        Some(url) => format!(
            "  other terminal: export DATABASE_URL='{url}'\n  (then `lanyard user create …`, `lanyard keys list`, …)\n\n"
        ),
        None => String::new(),
    };
    println!(
        "\nLanyard dev is running.\n\n  issuer      {issuer}\n  discovery   {}\n  jwks        {}\n  sign in     {}\n  account     {} (two-step sign-in, passkeys)\n  mail        {mail}\n\n  admin user      admin / {}\n  demo client     {DEMO_CLIENT} / {} (kept in .lanyard/{DEMO_SECRET_FILE})\n  demo API        {DEMO_API} (scopes: read write), which calls {DEMO_SHIPPING_API} for the user as {DEMO_API_CLIENT}\n  the demo        cargo run --example demo, then open http://localhost:8081 (SHIPPING_MIN_ACR=mfa: the step-up round trip)\n  admin API       {AUTOMATION_CLIENT} / {}: curl -u {AUTOMATION_CLIENT}:SECRET -d grant_type=client_credentials {} → Bearer for {}\n\n{database}Ctrl-C stops Lanyard and the private PostgreSQL.\n",
        issuer.url(paths::DISCOVERY),
        issuer.url(paths::JWKS),
        issuer.url(paths::SIGNIN),
        issuer.url(paths::ACCOUNT),
        seeded.admin_password.as_deref().unwrap_or(shown_before),
        seeded.client_secret.as_deref().unwrap_or(shown_before),
        seeded.automation_secret.as_deref().unwrap_or(shown_before),
        issuer.url(paths::TOKEN),
        issuer.url("/admin/api/v1/clients"),
    );
}
