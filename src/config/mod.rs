//! Configuration: every setting, its default, and the precedence
//! flags > environment > `--config` TOML file > defaults.

mod cidr;
mod issuer;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::TimeDelta;

pub use crate::model::is_loopback_host;
pub use cidr::Cidr;
pub use issuer::Issuer;

use crate::crypto::MasterKey;
use crate::model::{PasswordPolicy, ProfileClaim};

/// One setting: its environment variable, its key in the TOML file, its default.
pub struct Setting {
    pub env: &'static str,
    pub toml: &'static str,
    pub default: Option<&'static str>,
    pub help: &'static str,
}

/// Every setting Lanyard reads. The README's configuration table mirrors it.
pub const SETTINGS: &[Setting] = &[
    Setting {
        env: "DATABASE_URL",
        toml: "database_url",
        default: None,
        help: "PostgreSQL URL; unset under `lanyard dev` (a private cluster is started)",
    },
    Setting {
        env: "LANYARD_ISSUER",
        toml: "issuer",
        default: Some("http://localhost:8080"),
        help: "issuer identifier: https (http only for loopback), host, optional port",
    },
    Setting {
        env: "LANYARD_BIND",
        toml: "bind",
        default: Some("127.0.0.1:8080"),
        help: "address and port to listen on",
    },
    Setting {
        env: "LANYARD_MASTER_KEY",
        toml: "master_key",
        default: None,
        help: "32 bytes, base64url: encrypts private signing keys at rest",
    },
    Setting {
        env: "LANYARD_ADMIN_REQUIRE_MFA",
        toml: "admin_require_mfa",
        default: Some("true"),
        help: "admin pages and user tokens for the admin API need a multi-factor or passkey sign-in (off under `lanyard dev` unless set)",
    },
    Setting {
        env: "LANYARD_TRUSTED_PROXIES",
        toml: "trusted_proxies",
        default: Some(""),
        help: "comma-separated CIDRs whose X-Forwarded-For is believed",
    },
    Setting {
        env: "LANYARD_AUDIT_RETENTION_DAYS",
        toml: "audit_retention_days",
        default: Some("90"),
        help: "days audit events are kept",
    },
    Setting {
        env: "LANYARD_AUDIT_BUFFER",
        toml: "audit_buffer",
        default: Some("10000"),
        help: "audit events held in memory while PostgreSQL is slow or down",
    },
    Setting {
        env: "LANYARD_KEY_ROTATION_DAYS",
        toml: "key_rotation_days",
        default: Some("30"),
        help: "days a signing key signs before the schedule promotes the next one",
    },
    Setting {
        env: "LANYARD_METRICS_BIND",
        toml: "metrics_bind",
        default: Some(""),
        help: "address and port for /metrics alone (empty: served on LANYARD_BIND)",
    },
    Setting {
        env: "LANYARD_SMTP_URL",
        toml: "smtp_url",
        default: Some(""),
        help: "SMTP server for mail (`smtps://user:pass@host:465`, `smtp://host:25?tls=required`); empty: mail is off (`lanyard dev` writes it under .lanyard/mail/)",
    },
    Setting {
        env: "LANYARD_MAIL_FROM",
        toml: "mail_from",
        default: Some("Lanyard <lanyard@localhost>"),
        help: "the sender of Lanyard's mail",
    },
    Setting {
        env: "LANYARD_SIGNUP",
        toml: "signup",
        default: Some("off"),
        help: "self-registration: `off`, `invite` (with an invitation only) or `open`",
    },
    Setting {
        env: "LANYARD_CLIENT_REGISTRATION",
        toml: "client_registration",
        default: Some("off"),
        help: "dynamic client registration at /register (RFC 7591): `off`, `token` (with an initial access token) or `open` (anyone, throttled per address)",
    },
    Setting {
        env: "LANYARD_REQUIRE_PAR",
        toml: "require_par",
        default: Some("false"),
        help: "every client must push its authorization requests (RFC 9126 §5 `require_pushed_authorization_requests`)",
    },
    Setting {
        env: "LANYARD_CLIENT_ID_METADATA_DOCUMENTS",
        toml: "client_id_metadata_documents",
        default: Some("off"),
        help: "Client ID Metadata Documents: `on` accepts an https URL as client_id and fetches the client's metadata from it; `off` (default)",
    },
    Setting {
        env: "LANYARD_CLIENT_ID_METADATA_DOCUMENTS_MAX",
        toml: "client_id_metadata_documents_max",
        default: Some("1000"),
        help: "the most metadata-document clients kept at once (1-1000000); at the cap only new client_id URLs are refused",
    },
    Setting {
        env: "LANYARD_CLIENT_ID_METADATA_DOCUMENT_HOSTS",
        toml: "client_id_metadata_document_hosts",
        default: Some(""),
        help: "a comma-separated list of the exact hosts a client_id URL may name; empty (default): any public host",
    },
    Setting {
        env: "LANYARD_PASSWORD_MIN_LENGTH",
        toml: "password_min_length",
        default: Some("15"),
        help: "the fewest characters of a password a person chooses (8-64; NIST SP 800-63B-4: 15 when it is the only factor)",
    },
    Setting {
        env: "LANYARD_LOG",
        toml: "log",
        default: Some("info"),
        help: "log filter (tracing EnvFilter syntax)",
    },
    Setting {
        env: "LANYARD_LOG_FORMAT",
        toml: "log_format",
        default: Some("text"),
        help: "`text` or `json`",
    },
    Setting {
        env: "LANYARD_AUTH_CODE_TTL",
        toml: "auth_code_ttl",
        default: Some("60"),
        help: "authorization code lifetime (s, at most 600)",
    },
    Setting {
        env: "LANYARD_ACCESS_TOKEN_TTL",
        toml: "access_token_ttl",
        default: Some("900"),
        help: "access token lifetime (s); an API may override",
    },
    Setting {
        env: "LANYARD_ID_TOKEN_TTL",
        toml: "id_token_ttl",
        default: Some("900"),
        help: "id_token lifetime (s)",
    },
    Setting {
        env: "LANYARD_REFRESH_TOKEN_TTL",
        toml: "refresh_token_ttl",
        default: Some("2592000"),
        help: "refresh token idle lifetime (s, sliding)",
    },
    Setting {
        env: "LANYARD_REFRESH_TOKEN_MAX_TTL",
        toml: "refresh_token_max_ttl",
        default: Some("7776000"),
        help: "refresh token absolute lifetime (s)",
    },
    Setting {
        env: "LANYARD_SESSION_IDLE_TTL",
        toml: "session_idle_ttl",
        default: Some("7200"),
        help: "sign-in session idle lifetime (s)",
    },
    Setting {
        env: "LANYARD_EXPIRED_RETENTION",
        toml: "expired_retention",
        default: Some("86400"),
        help: "how long housekeeping keeps expired codes, ended sessions, revoked grants and refresh tokens (s)",
    },
    Setting {
        env: "LANYARD_ACCOUNT_EDITABLE_CLAIMS",
        toml: "account_editable_claims",
        default: Some(DEFAULT_EDITABLE_CLAIMS),
        help: "comma-separated standard claims a person may edit on /account (`none`: none)",
    },
    Setting {
        env: "LANYARD_SESSION_TTL",
        toml: "session_ttl",
        default: Some("43200"),
        help: "sign-in session absolute lifetime (s)",
    },
];

/// The profile claims a person may edit on their account page by default.
pub const DEFAULT_EDITABLE_CLAIMS: &str = "name,given_name,family_name,nickname,picture,website,locale,zoneinfo";

/// The longest lifetime accepted for any setting: ten years.
const MAX_LIFETIME_SECS: i64 = 10 * 365 * 24 * 3600;
/// RFC 6749 §4.1.2 recommends a code lifetime of at most 10 minutes.
const MAX_AUTH_CODE_TTL_SECS: i64 = 600;

/// An invalid setting: printed as one line naming the setting and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            message: message.into(),
        }
    }
}

/// Who may register an account themselves (`LANYARD_SIGNUP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignupMode {
    /// Nobody: an administrator creates every account.
    Off,
    /// Only with an invitation (`lanyard user invite`, the admin page, the admin API).
    Invite,
    /// Anyone; invitations still work (for `--admin`).
    Open,
}

impl SignupMode {
    fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "off" => Ok(Self::Off),
            "invite" => Ok(Self::Invite),
            "open" => Ok(Self::Open),
            _ => Err(format!("`{raw}` is none of `off`, `invite`, `open`")),
        }
    }
}

/// Who may register a client themselves (`LANYARD_CLIENT_REGISTRATION`, RFC 7591 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientRegistration {
    /// Nobody: `/register` answers 404 and discovery does not name it.
    Off,
    /// With an initial access token (`lanyard client registration-token create`).
    Token,
    /// Anyone, throttled per client address.
    Open,
}

impl ClientRegistration {
    fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "off" => Ok(Self::Off),
            "token" => Ok(Self::Token),
            "open" => Ok(Self::Open),
            _ => Err(format!("`{raw}` is none of `off`, `token`, `open`")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Token and session lifetimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    pub auth_code: TimeDelta,
    pub access_token: TimeDelta,
    pub id_token: TimeDelta,
    pub refresh_token: TimeDelta,
    pub refresh_token_max: TimeDelta,
    pub session_idle: TimeDelta,
    pub session: TimeDelta,
    /// How long expired codes, ended sessions and revoked grants are kept
    /// (reuse detection, the admin page) before housekeeping deletes them.
    pub expired_retention: TimeDelta,
}

/// The resolved, valid configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: Option<String>,
    pub issuer: Issuer,
    pub bind: SocketAddr,
    pub master_key: Option<MasterKey>,
    pub trusted_proxies: Vec<Cidr>,
    /// Administrators must have signed in with more than a password.
    pub admin_require_mfa: bool,
    pub audit_retention_days: u32,
    /// How many audit events may wait in memory for the database.
    pub audit_buffer: usize,
    pub key_rotation_days: u32,
    /// Where /metrics is served on its own, if anywhere.
    pub metrics_bind: Option<SocketAddr>,
    pub log: String,
    pub log_format: LogFormat,
    pub lifetimes: Lifetimes,
    /// The profile claims a person may edit on `/account`, in the setting's order.
    pub account_editable_claims: Vec<ProfileClaim>,
    /// Where mail goes out (`LANYARD_SMTP_URL`), if anywhere.
    pub smtp_url: Option<SmtpUrl>,
    /// The sender of Lanyard's mail.
    pub mail_from: lettre::message::Mailbox,
    /// Without SMTP, a directory each message is written to (`lanyard dev`).
    pub mail_dir: Option<PathBuf>,
    /// Who may register an account (`LANYARD_SIGNUP`).
    pub signup: SignupMode,
    /// Who may register a client (`LANYARD_CLIENT_REGISTRATION`).
    pub client_registration: ClientRegistration,
    /// Every client must push its authorization requests (`LANYARD_REQUIRE_PAR`, RFC 9126 §5).
    pub require_par: bool,
    /// An https URL may be a client_id, its metadata fetched from it
    /// (`LANYARD_CLIENT_ID_METADATA_DOCUMENTS`, README "Client ID Metadata
    /// Documents").
    pub client_id_metadata_documents: bool,
    /// The most metadata-document clients kept at once
    /// (`LANYARD_CLIENT_ID_METADATA_DOCUMENTS_MAX`): past it a new URL is
    /// refused, a held one still refreshes.
    pub client_id_metadata_documents_max: i64,
    /// The hosts a client_id URL may name, exactly; empty: any public host
    /// (`LANYARD_CLIENT_ID_METADATA_DOCUMENT_HOSTS`).
    pub client_id_metadata_document_hosts: Vec<String>,
    /// Test-only, never a setting: a metadata document may also be served
    /// over `http` from a loopback IP literal (the test harness's own
    /// server), fetched without the public-address guard.
    pub metadata_documents_from_loopback: bool,
    /// The rules of a password a person chooses (`LANYARD_PASSWORD_MIN_LENGTH`).
    pub password_policy: PasswordPolicy,
    /// How often the mail worker looks for due messages (not a setting: tests shorten it).
    pub mail_every: std::time::Duration,
    /// How often the back-channel logout worker looks for due deliveries
    /// (not a setting: tests lengthen it and call the worker themselves).
    pub logout_every: std::time::Duration,
    /// How many logout deliveries may wait at most; past it the oldest are
    /// given up (not a setting: tests lower it).
    pub logout_queue_limit: u64,
}

/// An SMTP URL: it may hold a password, so `Debug` never shows it.
#[derive(Clone)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    /// Checks the URL as the mail transport will read it.
    pub fn parse(raw: &str) -> Result<Option<Self>, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(raw)
            .map_err(|_| "not an SMTP URL (`smtps://user:pass@host:465` or `smtp://host:25`)".to_owned())?;
        Ok(Some(Self(raw.to_owned())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpUrl(…)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Flag,
    Env,
    File(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("flag"),
            Source::Env => f.write_str("environment"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Raw values gathered from the sources, before they are checked.
#[derive(Debug, Default)]
pub struct Sources {
    values: BTreeMap<&'static str, (String, Source)>,
    /// Lines to print on stderr (unknown `LANYARD_*` variables).
    pub warnings: Vec<String>,
}

impl Sources {
    /// Reads the TOML file (if any), then the environment over it.
    pub fn gather(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut sources = Self::default();
        if let Some(path) = file {
            sources.read_file(path)?;
        }
        for (name, value) in env {
            match SETTINGS.iter().find(|s| s.env == name) {
                // An empty variable counts as unset.
                Some(_) if value.is_empty() => {}
                Some(s) => {
                    sources.values.insert(s.env, (value, Source::Env));
                }
                None if name.starts_with("LANYARD_") => sources
                    .warnings
                    .push(format!("warning: unknown setting {name} is ignored")),
                None => {}
            }
        }
        Ok(sources)
    }

    fn read_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let setting = format!("--config {}", path.display());
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&setting, format!("cannot read the file ({e})")))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::new(&setting, format!("not valid TOML: {}", e.message())))?;
        for (key, value) in table {
            let s = SETTINGS
                .iter()
                .find(|s| s.toml == key)
                .ok_or_else(|| ConfigError::new(&setting, format!("unknown setting `{key}`")))?;
            let raw = match value {
                toml::Value::String(v) => v,
                toml::Value::Integer(v) => v.to_string(),
                toml::Value::Array(items) => items
                    .into_iter()
                    .map(|item| match item {
                        toml::Value::String(v) => Ok(v),
                        _ => Err(ConfigError::new(&setting, format!("`{key}` must be a list of strings"))),
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .join(","),
                _ => {
                    return Err(ConfigError::new(
                        &setting,
                        format!("`{key}` must be a string or an integer"),
                    ));
                }
            };
            self.values.insert(s.env, (raw, Source::File(path.to_owned())));
        }
        Ok(())
    }

    /// A command-line flag: it wins over every other source.
    pub fn set_flag(&mut self, env: &'static str, value: String) {
        self.values.insert(env, (value, Source::Flag));
    }

    /// Whether a source (not the default) gives this setting.
    pub fn is_set(&self, env: &str) -> bool {
        self.values.contains_key(env)
    }

    fn get(&self, env: &'static str) -> Option<&str> {
        self.values
            .get(env)
            .map(|(v, _)| v.as_str())
            .or_else(|| SETTINGS.iter().find(|s| s.env == env).and_then(|s| s.default))
    }

    fn parsed<T>(&self, env: &'static str, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, ConfigError> {
        let raw = self.get(env).unwrap_or_default();
        parse(raw).map_err(|message| match self.values.get(env) {
            Some((_, Source::File(p))) => ConfigError::new(env, format!("{message} (from {})", p.display())),
            _ => ConfigError::new(env, message),
        })
    }

    /// Checks every value and builds the configuration.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        Ok(Config {
            database_url: self.values.get("DATABASE_URL").map(|(v, _)| v.clone()),
            issuer: self.parsed("LANYARD_ISSUER", Issuer::parse)?,
            bind: self.parsed("LANYARD_BIND", |raw| socket_address(raw, "127.0.0.1:8080"))?,
            master_key: match self.values.contains_key("LANYARD_MASTER_KEY") {
                true => Some(self.parsed("LANYARD_MASTER_KEY", MasterKey::parse)?),
                false => None,
            },
            trusted_proxies: self.parsed("LANYARD_TRUSTED_PROXIES", |raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(Cidr::parse)
                    .collect()
            })?,
            admin_require_mfa: self.parsed("LANYARD_ADMIN_REQUIRE_MFA", boolean)?,
            audit_retention_days: self.parsed("LANYARD_AUDIT_RETENTION_DAYS", |raw| whole(raw, 1..=36500, "days"))?,
            audit_buffer: self.parsed("LANYARD_AUDIT_BUFFER", |raw| whole(raw, 1..=10_000_000, "events"))?,
            key_rotation_days: self.parsed("LANYARD_KEY_ROTATION_DAYS", |raw| whole(raw, 1..=3650, "days"))?,
            metrics_bind: self.parsed("LANYARD_METRICS_BIND", |raw| match raw.trim() {
                "" => Ok(None),
                addr => socket_address(addr, "127.0.0.1:9090").map(Some),
            })?,
            log: self.parsed("LANYARD_LOG", |raw| {
                tracing_subscriber::EnvFilter::builder()
                    .parse(raw)
                    .map(|_| raw.to_owned())
                    .map_err(|e| format!("`{raw}` is not a log filter ({e})"))
            })?,
            log_format: self.parsed("LANYARD_LOG_FORMAT", |raw| match raw {
                "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                _ => Err(format!("`{raw}` is neither `text` nor `json`")),
            })?,
            lifetimes: self.lifetimes()?,
            account_editable_claims: self.parsed("LANYARD_ACCOUNT_EDITABLE_CLAIMS", editable_claims)?,
            smtp_url: self.parsed("LANYARD_SMTP_URL", SmtpUrl::parse)?,
            mail_from: self.parsed("LANYARD_MAIL_FROM", |raw| {
                raw.trim()
                    .parse()
                    .map_err(|_| format!("`{raw}` is not a mailbox (`Name <user@host>` or `user@host`)"))
            })?,
            signup: self.parsed("LANYARD_SIGNUP", SignupMode::parse)?,
            client_registration: self.parsed("LANYARD_CLIENT_REGISTRATION", ClientRegistration::parse)?,
            require_par: self.parsed("LANYARD_REQUIRE_PAR", boolean)?,
            client_id_metadata_documents: self.parsed("LANYARD_CLIENT_ID_METADATA_DOCUMENTS", on_off)?,
            client_id_metadata_documents_max: self.parsed("LANYARD_CLIENT_ID_METADATA_DOCUMENTS_MAX", |raw| {
                whole(raw, 1..=1_000_000, "clients")
            })?,
            client_id_metadata_document_hosts: self.parsed("LANYARD_CLIENT_ID_METADATA_DOCUMENT_HOSTS", hosts)?,
            metadata_documents_from_loopback: false,
            password_policy: PasswordPolicy {
                min_chars: self.parsed("LANYARD_PASSWORD_MIN_LENGTH", |raw| {
                    whole(raw, crate::model::password_rules::MIN_CHARS_RANGE, "characters")
                })?,
            },
            mail_dir: None,
            mail_every: std::time::Duration::from_secs(5),
            logout_every: std::time::Duration::from_secs(2),
            logout_queue_limit: 100_000,
        })
    }

    /// The `LANYARD_*_TTL` settings, each a whole number of seconds within
    /// its bound; a refresh token's idle lifetime within its absolute one,
    /// and a session's likewise.
    fn lifetimes(&self) -> Result<Lifetimes, ConfigError> {
        let lifetime = |env: &'static str, max: i64| {
            self.parsed(env, |raw| {
                let secs: i64 = raw
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{raw}` is not a whole number of seconds"))?;
                if !(1..=max).contains(&secs) {
                    return Err(format!("{secs} is outside 1..={max} seconds"));
                }
                Ok(TimeDelta::seconds(secs))
            })
        };
        let lifetimes = Lifetimes {
            auth_code: lifetime("LANYARD_AUTH_CODE_TTL", MAX_AUTH_CODE_TTL_SECS)?,
            access_token: lifetime("LANYARD_ACCESS_TOKEN_TTL", MAX_LIFETIME_SECS)?,
            id_token: lifetime("LANYARD_ID_TOKEN_TTL", MAX_LIFETIME_SECS)?,
            refresh_token: lifetime("LANYARD_REFRESH_TOKEN_TTL", MAX_LIFETIME_SECS)?,
            refresh_token_max: lifetime("LANYARD_REFRESH_TOKEN_MAX_TTL", MAX_LIFETIME_SECS)?,
            session_idle: lifetime("LANYARD_SESSION_IDLE_TTL", MAX_LIFETIME_SECS)?,
            session: lifetime("LANYARD_SESSION_TTL", MAX_LIFETIME_SECS)?,
            expired_retention: lifetime("LANYARD_EXPIRED_RETENTION", MAX_LIFETIME_SECS)?,
        };
        if lifetimes.refresh_token > lifetimes.refresh_token_max {
            return Err(ConfigError::new(
                "LANYARD_REFRESH_TOKEN_TTL",
                "must not be longer than LANYARD_REFRESH_TOKEN_MAX_TTL",
            ));
        }
        if lifetimes.session_idle > lifetimes.session {
            return Err(ConfigError::new(
                "LANYARD_SESSION_IDLE_TTL",
                "must not be longer than LANYARD_SESSION_TTL",
            ));
        }
        Ok(lifetimes)
    }
}

impl Config {
    /// The defaults alone, with a database URL and master key (for tests).
    pub fn for_tests(database_url: String, master_key: MasterKey) -> Self {
        let mut config = Sources::default()
            .resolve()
            .unwrap_or_else(|e| unreachable!("defaults are valid: {e}"));
        config.database_url = Some(database_url);
        config.master_key = Some(master_key);
        // The tests of administrators' second factor turn it on; the others
        // sign admins in with a password.
        config.admin_require_mfa = false;
        config
    }

    /// The database URL, or the error `serve` and the admin commands stop with.
    pub fn require_database_url(&self) -> Result<&str, ConfigError> {
        self.database_url.as_deref().ok_or_else(|| {
            ConfigError::new(
                "DATABASE_URL",
                "not set; point it at PostgreSQL 13+ (or use `lanyard dev`)",
            )
        })
    }

    /// The master key, or the error `serve` stops with.
    pub fn require_master_key(&self) -> Result<&MasterKey, ConfigError> {
        self.master_key.as_ref().ok_or_else(|| {
            ConfigError::new(
                "LANYARD_MASTER_KEY",
                "not set; it encrypts the private signing keys (32 random bytes, base64url: `head -c32 /dev/urandom | basenc --base64url | tr -d =`)",
            )
        })
    }
}

/// A comma-separated list of claims a person may edit, each once.
fn editable_claims(raw: &str) -> Result<Vec<ProfileClaim>, String> {
    let mut claims = Vec::new();
    if raw.trim() == "none" {
        return Ok(claims);
    }
    for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let claim = ProfileClaim::parse(name)?;
        if claims.contains(&claim) {
            return Err(format!("`{name}` is listed twice"));
        }
        claims.push(claim);
    }
    Ok(claims)
}

/// An IP address and port; `example` shows the form in the error.
fn socket_address(raw: &str, example: &str) -> Result<std::net::SocketAddr, String> {
    raw.parse()
        .map_err(|_| format!("`{raw}` is not an IP address and port, such as {example}"))
}

/// `on` or `off` — and every spelling `boolean` accepts, as the other
/// boolean settings do.
fn on_off(raw: &str) -> Result<bool, String> {
    boolean(raw).map_err(|_| format!("`{raw}` is neither `on` nor `off`"))
}

/// A comma-separated list of host names (lowercase, as a URL's host is
/// written), each without scheme, port or path.
fn hosts(raw: &str) -> Result<Vec<String>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| match url::Host::parse(h) {
            Ok(host) if host.to_string() == h => Ok(h.to_owned()),
            _ => Err(format!(
                "`{h}` is not a host name as a URL writes it (lowercase, no port or path)"
            )),
        })
        .collect()
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
fn boolean(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("must be true or false".to_owned()),
    }
}

/// A whole number of `unit`s within `range`.
fn whole<T>(raw: &str, range: std::ops::RangeInclusive<T>, unit: &str) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    raw.trim()
        .parse::<T>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            format!(
                "`{raw}` is not a whole number of {unit} in {}..={}",
                range.start(),
                range.end()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn resolve(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Sources::gather(None, env(pairs))?.resolve()
    }

    #[test]
    fn defaults_match_the_design() {
        let c = resolve(&[]).unwrap();
        assert_eq!(c.issuer.as_str(), "http://localhost:8080");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.audit_retention_days, 90);
        assert_eq!(c.audit_buffer, 10_000);
        assert_eq!(c.key_rotation_days, 30);
        assert_eq!(c.metrics_bind, None);
        assert_eq!(c.lifetimes.auth_code, TimeDelta::seconds(60));
        assert_eq!(c.lifetimes.access_token, TimeDelta::seconds(900));
        assert_eq!(c.lifetimes.id_token, TimeDelta::seconds(900));
        assert_eq!(c.lifetimes.refresh_token, TimeDelta::seconds(2_592_000));
        assert_eq!(c.lifetimes.refresh_token_max, TimeDelta::seconds(7_776_000));
        assert_eq!(c.lifetimes.session_idle, TimeDelta::seconds(7200));
        assert_eq!(c.lifetimes.session, TimeDelta::seconds(43200));
        assert!(c.master_key.is_none() && c.database_url.is_none() && c.trusted_proxies.is_empty());
        assert_eq!(c.log_format, LogFormat::Text);
        let editable: Vec<_> = c.account_editable_claims.iter().map(|c| c.as_str()).collect();
        assert_eq!(editable.join(","), DEFAULT_EDITABLE_CLAIMS);
        assert_eq!(c.signup, SignupMode::Off);
        assert_eq!(c.password_policy.min_chars, 15);
        assert!(!c.client_id_metadata_documents && !c.metadata_documents_from_loopback);
        assert_eq!(c.client_id_metadata_documents_max, 1000);
        assert!(c.client_id_metadata_document_hosts.is_empty());
    }

    #[test]
    fn flags_beat_environment_which_beats_the_file() {
        let dir = std::env::temp_dir().join(format!("lanyard-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("lanyard.toml");
        std::fs::write(
            &file,
            "bind = \"127.0.0.1:7000\"\nissuer = \"https://file.example\"\nid_token_ttl = 300\ntrusted_proxies = [\"10.0.0.0/8\"]\n",
        )
        .unwrap();
        let mut sources = Sources::gather(
            Some(&file),
            env(&[
                ("LANYARD_BIND", "127.0.0.1:7001"),
                ("LANYARD_ISSUER", "https://env.example"),
            ]),
        )
        .unwrap();
        sources.set_flag("LANYARD_BIND", "127.0.0.1:7002".into());
        let c = sources.resolve().unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:7002");
        assert_eq!(c.issuer.as_str(), "https://env.example");
        assert_eq!(c.lifetimes.id_token, TimeDelta::seconds(300));
        assert_eq!(c.trusted_proxies.len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn invalid_values_name_the_setting() {
        for (name, value) in [
            ("LANYARD_ISSUER", "https://x.example/"),
            ("LANYARD_BIND", "localhost"),
            ("LANYARD_MASTER_KEY", "short"),
            ("LANYARD_TRUSTED_PROXIES", "10.0.0.0/99"),
            ("LANYARD_AUDIT_RETENTION_DAYS", "0"),
            ("LANYARD_AUDIT_BUFFER", "0"),
            ("LANYARD_KEY_ROTATION_DAYS", "0"),
            ("LANYARD_METRICS_BIND", "9090"),
            ("LANYARD_LOG_FORMAT", "xml"),
            ("LANYARD_AUTH_CODE_TTL", "601"),
            ("LANYARD_ACCESS_TOKEN_TTL", "0"),
            ("LANYARD_ID_TOKEN_TTL", "1.5"),
            ("LANYARD_SESSION_TTL", "-3"),
            ("LANYARD_ACCOUNT_EDITABLE_CLAIMS", "name,sub"),
            ("LANYARD_ACCOUNT_EDITABLE_CLAIMS", "email_verified"),
            ("LANYARD_ACCOUNT_EDITABLE_CLAIMS", "name,shoe_size"),
            ("LANYARD_ACCOUNT_EDITABLE_CLAIMS", "name,name"),
            ("LANYARD_SIGNUP", "yes"),
            ("LANYARD_CLIENT_ID_METADATA_DOCUMENTS", "maybe"),
            ("LANYARD_PASSWORD_MIN_LENGTH", "7"),
            ("LANYARD_PASSWORD_MIN_LENGTH", "65"),
        ] {
            let err = resolve(&[(name, value)]).unwrap_err();
            assert_eq!(err.setting, name, "{value}");
        }
    }

    #[test]
    fn idle_lifetimes_may_not_exceed_absolute_ones() {
        let err = resolve(&[("LANYARD_SESSION_IDLE_TTL", "50000")]).unwrap_err();
        assert_eq!(err.setting, "LANYARD_SESSION_IDLE_TTL");
        let err = resolve(&[("LANYARD_REFRESH_TOKEN_TTL", "8000000")]).unwrap_err();
        assert_eq!(err.setting, "LANYARD_REFRESH_TOKEN_TTL");
    }

    #[test]
    fn unknown_lanyard_variables_only_warn() {
        let s = Sources::gather(None, env(&[("LANYARD_NOPE", "1"), ("HOME", "/root")])).unwrap();
        assert_eq!(
            s.warnings,
            vec!["warning: unknown setting LANYARD_NOPE is ignored".to_owned()]
        );
        assert!(s.resolve().is_ok());
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let c = resolve(&[("LANYARD_BIND", ""), ("DATABASE_URL", "")]).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert!(c.database_url.is_none());
    }

    #[test]
    fn metadata_document_settings_parse() {
        for (raw, on) in [("on", true), ("true", true), ("1", true), ("off", false), ("no", false)] {
            let c = resolve(&[("LANYARD_CLIENT_ID_METADATA_DOCUMENTS", raw)]).unwrap();
            assert_eq!(c.client_id_metadata_documents, on, "{raw}");
        }
        let c = resolve(&[
            ("LANYARD_CLIENT_ID_METADATA_DOCUMENTS_MAX", "50"),
            (
                "LANYARD_CLIENT_ID_METADATA_DOCUMENT_HOSTS",
                "app.example.com, tools.example.org",
            ),
        ])
        .unwrap();
        assert_eq!(c.client_id_metadata_documents_max, 50);
        assert_eq!(
            c.client_id_metadata_document_hosts,
            ["app.example.com", "tools.example.org"]
        );
        for (name, value) in [
            ("LANYARD_CLIENT_ID_METADATA_DOCUMENTS", "maybe"),
            ("LANYARD_CLIENT_ID_METADATA_DOCUMENTS_MAX", "0"),
            ("LANYARD_CLIENT_ID_METADATA_DOCUMENT_HOSTS", "https://app.example.com"),
            ("LANYARD_CLIENT_ID_METADATA_DOCUMENT_HOSTS", "App.Example.com"),
            ("LANYARD_CLIENT_ID_METADATA_DOCUMENT_HOSTS", "app.example.com:443"),
        ] {
            assert_eq!(resolve(&[(name, value)]).unwrap_err().setting, name, "{value}");
        }
    }
}
