//! `lanyard user | client | api …`: thin wrappers over the admin flows.

use std::io::{BufRead, IsTerminal};

use clap::{Args, Subcommand};

use super::output::print;
use super::{Failure, JsonFlag, connect_migrated};
use crate::admin::{self, apis::NewApiInput, clients::NewClientInput, users::NewUserInput};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::model::{Address, StandardClaims};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from a terminal or with --password-stdin.
    Create(Box<UserCreate>),
}

#[derive(Debug, Args)]
pub struct UserCreate {
    /// Sign-in name (unique regardless of case).
    username: String,
    /// Read the password as one line from standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Give the user the admin role.
    #[arg(long)]
    admin: bool,
    #[arg(long, value_name = "E")]
    email: Option<String>,
    #[arg(long)]
    email_verified: bool,
    #[arg(long, value_name = "N")]
    name: Option<String>,
    #[arg(long, value_name = "G")]
    given_name: Option<String>,
    #[arg(long, value_name = "F")]
    family_name: Option<String>,
    #[arg(long, value_name = "M")]
    middle_name: Option<String>,
    #[arg(long, value_name = "N")]
    nickname: Option<String>,
    #[arg(long, value_name = "P")]
    preferred_username: Option<String>,
    #[arg(long, value_name = "URL")]
    profile: Option<String>,
    #[arg(long, value_name = "URL")]
    picture: Option<String>,
    #[arg(long, value_name = "URL")]
    website: Option<String>,
    #[arg(long, value_name = "G")]
    gender: Option<String>,
    /// YYYY-MM-DD.
    #[arg(long, value_name = "YYYY-MM-DD")]
    birthdate: Option<String>,
    /// Time zone, such as Europe/Paris.
    #[arg(long, value_name = "TZ")]
    zoneinfo: Option<String>,
    /// Language tag, such as en-US.
    #[arg(long, value_name = "L")]
    locale: Option<String>,
    /// E.164, such as +15551234567.
    #[arg(long, value_name = "P")]
    phone_number: Option<String>,
    #[arg(long)]
    phone_number_verified: bool,
    #[arg(long, value_name = "S")]
    address_formatted: Option<String>,
    #[arg(long, value_name = "S")]
    address_street_address: Option<String>,
    #[arg(long, value_name = "S")]
    address_locality: Option<String>,
    #[arg(long, value_name = "S")]
    address_region: Option<String>,
    #[arg(long, value_name = "S")]
    address_postal_code: Option<String>,
    #[arg(long, value_name = "S")]
    address_country: Option<String>,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; a confidential client's secret is printed this once.
    Create(ClientCreate),
    /// Let a client get scopes of an API.
    Allow(ClientAllow),
    /// Let CLIENT_ID exchange id_tokens issued to OTHER_CLIENT_ID.
    Trust(ClientTrust),
}

#[derive(Debug, Args)]
pub struct ClientCreate {
    client_id: String,
    /// Display name (default: the client id).
    #[arg(long, value_name = "N")]
    name: Option<String>,
    /// Exact redirect URI (repeatable); required with authorization_code.
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// Exact post-logout redirect URI (repeatable).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret; implies --auth-method none).
    #[arg(long)]
    public: bool,
    /// client_secret_basic (default), client_secret_post or none.
    #[arg(long, value_name = "METHOD")]
    auth_method: Option<String>,
    /// authorization_code, refresh_token, client_credentials or
    /// urn:ietf:params:oauth:grant-type:token-exchange (repeatable; default authorization_code and refresh_token).
    #[arg(long = "grant-type", value_name = "GRANT")]
    grant_types: Vec<String>,
    /// openid, profile, email, phone, address or offline_access (repeatable; default openid profile email).
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// First-party: the organisation vouches, no consent page.
    #[arg(long)]
    first_party: bool,
    /// RS256 (default), ES256 or EdDSA.
    #[arg(long, value_name = "ALG")]
    id_token_alg: Option<String>,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ClientAllow {
    client_id: String,
    audience: String,
    /// A scope of the API (repeatable; at least one).
    #[arg(long = "scope", value_name = "S", num_args = 1..)]
    scopes: Vec<String>,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ClientTrust {
    client_id: String,
    other_client_id: String,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Register an API by its audience (an absolute URI).
    Create(ApiCreate),
}

#[derive(Debug, Args)]
pub struct ApiCreate {
    audience: String,
    /// Display name (default: the audience).
    #[arg(long, value_name = "N")]
    name: Option<String>,
    /// NAME or NAME=DESCRIPTION (repeatable; at least one).
    #[arg(long = "scope", value_name = "NAME[=DESCRIPTION]", num_args = 1..)]
    scopes: Vec<String>,
    /// Access-token lifetime in seconds (default LANYARD_ACCESS_TOKEN_TTL).
    #[arg(long, value_name = "SECS")]
    access_token_ttl: Option<String>,
    /// ES256 (default), RS256 or EdDSA.
    #[arg(long, value_name = "ALG")]
    alg: Option<String>,
    /// A client that may introspect this API's tokens (repeatable).
    #[arg(long = "resource-server", value_name = "CLIENT_ID")]
    resource_servers: Vec<String>,
    #[command(flatten)]
    out: JsonFlag,
}

pub async fn user(cmd: UserCommand, config: &Config) -> Result<(), Failure> {
    let UserCommand::Create(args) = cmd;
    let args = *args;
    let password = read_password(args.password_stdin)?;
    let pool = connect_migrated(config).await?;
    let input = NewUserInput {
        username: args.username,
        password,
        is_admin: args.admin,
        claims: StandardClaims {
            name: args.name,
            given_name: args.given_name,
            family_name: args.family_name,
            middle_name: args.middle_name,
            nickname: args.nickname,
            preferred_username: args.preferred_username,
            profile: args.profile,
            picture: args.picture,
            website: args.website,
            email: args.email,
            email_verified: args.email_verified,
            gender: args.gender,
            birthdate: args.birthdate,
            zoneinfo: args.zoneinfo,
            locale: args.locale,
            phone_number: args.phone_number,
            phone_number_verified: args.phone_number_verified,
            address: Address {
                formatted: args.address_formatted,
                street_address: args.address_street_address,
                locality: args.address_locality,
                region: args.address_region,
                postal_code: args.address_postal_code,
                country: args.address_country,
            },
        },
    };
    let user = admin::users::create(&pool, &SystemClock, input)
        .await
        .map_err(Failure::refused)?;
    audit(
        &pool,
        "created a user",
        serde_json::json!({ "sub": user.sub, "username": user.username, "admin": user.admin }),
    )
    .await;
    print(args.out.json, &user, |u| {
        let role = if u.admin { " (admin)" } else { "" };
        format!("created user {}{role} with sub {}", u.username, u.sub)
    })
}

/// One line from stdin, or a no-echo prompt on a terminal.
fn read_password(from_stdin: bool) -> Result<String, Failure> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::refused(format!("cannot read the password: {e}")))?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_owned());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::refused(
            "no terminal to ask for the password: use --password-stdin",
        ));
    }
    let first = rpassword::prompt_password("Password: ")
        .map_err(|e| Failure::refused(format!("cannot read the password: {e}")))?;
    let again = rpassword::prompt_password("Repeat: ")
        .map_err(|e| Failure::refused(format!("cannot read the password: {e}")))?;
    if first != again {
        return Err(Failure::refused("the passwords differ"));
    }
    Ok(first)
}

pub async fn client(cmd: ClientCommand, config: &Config) -> Result<(), Failure> {
    let pool = connect_migrated(config).await?;
    match cmd {
        ClientCommand::Create(a) => {
            let input = NewClientInput {
                client_id: a.client_id,
                name: a.name,
                redirect_uris: a.redirect_uris,
                post_logout_redirect_uris: a.post_logout_redirect_uris,
                public: a.public,
                auth_method: a.auth_method,
                grant_types: a.grant_types,
                scopes: a.scopes,
                first_party: a.first_party,
                id_token_alg: a.id_token_alg,
            };
            let created = admin::clients::create(&pool, &SystemClock, &mut crate::random::rng(), input)
                .await
                .map_err(Failure::refused)?;
            audit(
                &pool,
                "created a client",
                serde_json::json!({ "client_id": created.client_id }),
            )
            .await;
            print(a.out.json, &created, |c| match &c.client_secret {
                Some(secret) => format!(
                    "created client {}\nclient_secret: {secret}\n(shown this once: Lanyard keeps only its SHA-256)",
                    c.client_id
                ),
                None => format!("created public client {}", c.client_id),
            })
        }
        ClientCommand::Allow(a) => {
            let allowance = admin::clients::allow(&pool, &SystemClock, &a.client_id, &a.audience, &a.scopes)
                .await
                .map_err(Failure::refused)?;
            audit(
                &pool,
                "changed a client's API access",
                serde_json::to_value(&allowance).unwrap_or_default(),
            )
            .await;
            print(a.out.json, &allowance, |x| {
                format!("{} may get {} of {}", x.client_id, x.scopes.join(" "), x.audience)
            })
        }
        ClientCommand::Trust(a) => {
            let trust = admin::clients::trust(&pool, &SystemClock, &a.client_id, &a.other_client_id)
                .await
                .map_err(Failure::refused)?;
            audit(
                &pool,
                "let a client exchange another's id_tokens",
                serde_json::to_value(&trust).unwrap_or_default(),
            )
            .await;
            print(a.out.json, &trust, |t| {
                let already = if t.added { "" } else { " (already allowed)" };
                format!(
                    "{} may exchange id_tokens issued to {}{already}",
                    t.client_id, t.trusted_client_id
                )
            })
        }
    }
}

pub async fn api(cmd: ApiCommand, config: &Config) -> Result<(), Failure> {
    let ApiCommand::Create(a) = cmd;
    let ttl = a
        .access_token_ttl
        .as_deref()
        .map(|raw| {
            raw.trim()
                .parse::<i64>()
                .map_err(|_| format!("`{raw}` is not a whole number of seconds"))
        })
        .transpose()
        .map_err(|m| Failure::refused(format!("invalid access-token-ttl: {m}")))?;
    let pool = connect_migrated(config).await?;
    let input = NewApiInput {
        audience: a.audience,
        name: a.name,
        scopes: a.scopes,
        access_token_ttl: ttl,
        alg: a.alg,
        resource_servers: a.resource_servers,
    };
    let api = admin::apis::create(&pool, &SystemClock, input)
        .await
        .map_err(Failure::refused)?;
    audit(&pool, "created an API", serde_json::json!({ "api": api })).await;
    print(a.out.json, &api, |x| {
        let scopes: Vec<&str> = x.scopes.iter().map(|s| s.name.as_str()).collect();
        format!(
            "created API {} ({}) with scopes {}, tokens signed {}",
            x.audience,
            x.name,
            scopes.join(" "),
            x.alg
        )
    })
}

/// CLI changes are audit events too, with `cli` as the actor; a failure to
/// record is a warning on stderr, not a failed command.
pub(super) async fn audit(pool: &sqlx::PgPool, action: &str, details: serde_json::Value) {
    if let Err(e) = admin::record(pool, &SystemClock, "cli", action, details).await {
        eprintln!("warning: could not record the audit event: {e}");
    }
}
