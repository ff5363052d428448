//! `lanyard client create | list | show | update | delete | allow | trust`:
//! thin wrappers over the admin flows, audited with `cli` as the actor.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::admin::{audit, replaced_list};
use super::output::print;
use super::{Failure, JsonFlag, connect_migrated};
use crate::admin::{
    self,
    clients::{ClientUpdate, ClientView, NewClientInput},
};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::model::AuthMethod;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; a confidential client's secret is printed this once.
    Create(ClientCreate),
    /// List the clients.
    List(JsonOnly),
    /// Show one client: its settings, API allowances and trusts (never its secret).
    Show(ClientRef),
    /// Change a client: only the flags given (a repeatable flag given replaces its list).
    Update(ClientUpdateArgs),
    /// Delete a client and everything issued to it.
    Delete(ClientRef),
    /// Let a client get scopes of an API.
    Allow(ClientAllow),
    /// Let CLIENT_ID exchange id_tokens issued to OTHER_CLIENT_ID.
    Trust(ClientTrust),
    /// A new secret, printed this once; with --grace the current one keeps
    /// working that many seconds more (at most 30 days).
    RotateSecret(ClientRotate),
    /// Initial access tokens for dynamic client registration (RFC 7591 §3,
    /// `LANYARD_CLIENT_REGISTRATION=token`).
    #[command(subcommand)]
    RegistrationToken(RegistrationTokenCommand),
    /// A registered client's registration access token (RFC 7592): rotate
    /// it (the new one printed this once) or revoke it.
    #[command(subcommand)]
    RegistrationAccessToken(RegistrationAccessTokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum RegistrationAccessTokenCommand {
    /// A new token for CLIENT_ID, printed this once; the old one stops working.
    Rotate(ClientRef),
    /// The client can no longer read, change or delete its registration.
    Revoke(ClientRef),
}

#[derive(Debug, Args)]
pub struct ClientRotate {
    client_id: String,
    /// Seconds the current secret stays valid beside the new one (default 0: none).
    #[arg(long, value_name = "SECONDS")]
    grace: Option<String>,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum RegistrationTokenCommand {
    /// Make an initial access token; it is printed this once (Lanyard keeps only its SHA-256).
    Create(TokenCreate),
    /// List the tokens still usable (never their values).
    List(JsonOnly),
    /// Revoke a token by its id.
    Revoke(TokenRef),
}

#[derive(Debug, Args)]
pub struct TokenCreate {
    /// Seconds until it expires (default: a day).
    #[arg(long)]
    expires_in: Option<i64>,
    /// How many clients it may register (default 1).
    #[arg(long, default_value_t = 1)]
    uses: i32,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct TokenRef {
    id: String,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct JsonOnly {
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ClientRef {
    client_id: String,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ClientCreate {
    client_id: String,
    /// A public client (no secret; implies --auth-method none).
    #[arg(long)]
    public: bool,
    #[command(flatten)]
    settings: ClientFlags,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ClientUpdateArgs {
    client_id: String,
    #[command(flatten)]
    settings: ClientFlags,
    #[command(flatten)]
    out: JsonFlag,
}

/// A client's settings, the flags of `create` and `update`.
#[derive(Debug, Args)]
pub struct ClientFlags {
    /// Display name (default: the client id).
    #[arg(long, value_name = "N")]
    name: Option<String>,
    /// Exact redirect URI (repeatable); required with authorization_code.
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// Exact post-logout redirect URI (repeatable).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// client_secret_basic (default), client_secret_post, private_key_jwt
    /// (default with --jwks-file or --jwks-uri) or none.
    #[arg(long, value_name = "METHOD")]
    auth_method: Option<String>,
    /// private_key_jwt: a file holding the client's JWK Set of public keys.
    #[arg(long, value_name = "PATH", conflicts_with = "jwks_uri")]
    jwks_file: Option<PathBuf>,
    /// private_key_jwt: where the client publishes its JWK Set (https; http only on loopback).
    #[arg(long, value_name = "URL")]
    jwks_uri: Option<String>,
    /// authorization_code, refresh_token, client_credentials or
    /// urn:ietf:params:oauth:grant-type:token-exchange (repeatable; default authorization_code and refresh_token).
    #[arg(long = "grant-type", value_name = "GRANT")]
    grant_types: Vec<String>,
    /// openid, profile, email, phone, address or offline_access (repeatable; default openid profile email).
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// First-party: the organisation vouches, no consent page (`--first-party=false` to undo).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    first_party: Option<bool>,
    /// RS256 (default), ES256 or EdDSA.
    #[arg(long, value_name = "ALG")]
    id_token_alg: Option<String>,
    /// Every token request must carry a DPoP proof (RFC 9449 §5.2 `dpop_bound_access_tokens`).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    dpop_bound: Option<bool>,
    /// Its DPoP proofs must carry a server nonce (RFC 9449 §8).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    dpop_nonce: Option<bool>,
    /// Where it receives logout tokens when a session it got tokens in ends
    /// (Back-Channel Logout §2.2; https, http only on loopback; "" removes it).
    #[arg(long, value_name = "URL")]
    backchannel_logout_uri: Option<String>,
    /// Its logout tokens must carry `sid` (Back-Channel Logout §2.2; Lanyard's always do).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    backchannel_logout_session_required: Option<bool>,
    /// Its authorization requests must be pushed (RFC 9126 §6 `require_pushed_authorization_requests`).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    require_par: Option<bool>,
}

impl ClientFlags {
    /// The JWK Set of `--jwks-file`, read and parsed as JSON.
    fn jwks(&self) -> Result<Option<serde_json::Value>, Failure> {
        let Some(path) = &self.jwks_file else { return Ok(None) };
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::refused(format!("jwks-file: cannot read {}: {e}", path.display())))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Failure::refused(format!("jwks-file: {} is not JSON: {e}", path.display())))
    }

    /// These flags over the client as it is: what a flag names changes
    /// (keys not named stay, if the client stays private_key_jwt).
    fn apply_to(self, c: ClientView) -> Result<ClientUpdate, Failure> {
        let jwks = self.jwks()?;
        let or = replaced_list;
        Ok(ClientUpdate {
            name: Some(self.name.unwrap_or(c.name)),
            redirect_uris: or(self.redirect_uris, c.redirect_uris),
            post_logout_redirect_uris: or(self.post_logout_redirect_uris, c.post_logout_redirect_uris),
            // New keys without a method mean private_key_jwt, as at create.
            auth_method: Some(match self.auth_method {
                Some(method) => method,
                None if jwks.is_some() || self.jwks_uri.is_some() => AuthMethod::PrivateKeyJwt.as_str().to_owned(),
                None => c.auth_method,
            }),
            grant_types: or(self.grant_types, c.grant_types),
            scopes: or(self.scopes, c.scopes),
            first_party: self.first_party.unwrap_or(c.first_party),
            id_token_alg: Some(self.id_token_alg.unwrap_or(c.id_token_alg)),
            dpop_bound: self.dpop_bound.unwrap_or(c.dpop_bound_access_tokens),
            dpop_nonce: self.dpop_nonce.unwrap_or(c.dpop_nonce),
            jwks,
            jwks_uri: self.jwks_uri,
            backchannel_logout_uri: self.backchannel_logout_uri.or(c.backchannel_logout_uri),
            backchannel_logout_session_required: self
                .backchannel_logout_session_required
                .unwrap_or(c.backchannel_logout_session_required),
            require_par: self.require_par.unwrap_or(c.require_pushed_authorization_requests),
        })
    }
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

pub async fn run(cmd: ClientCommand, config: &Config) -> Result<(), Failure> {
    let pool = connect_migrated(config).await?;
    match cmd {
        ClientCommand::Create(a) => create(&pool, config, a).await,
        ClientCommand::List(a) => {
            let clients = admin::clients::search(&pool, "", 10_000, 0)
                .await
                .map_err(Failure::refused)?;
            print(a.out.json, &clients, |list| {
                let lines: Vec<String> = list
                    .iter()
                    .map(|c| serde_json::to_string(c).unwrap_or_default())
                    .collect();
                format!("{} client(s)\n{}", list.len(), lines.join("\n"))
            })
        }
        ClientCommand::Show(a) => {
            let client = admin::clients::view(&pool, &SystemClock, &a.client_id)
                .await
                .map_err(Failure::refused)?;
            print(a.out.json, &client, |c| {
                serde_json::to_string_pretty(c).unwrap_or_default()
            })
        }
        ClientCommand::Update(a) => {
            let current = admin::clients::view(&pool, &SystemClock, &a.client_id)
                .await
                .map_err(Failure::refused)?;
            admin::clients::check_logout_uri_for(&config.issuer, a.settings.backchannel_logout_uri.as_deref())
                .map_err(Failure::refused)?;
            let change = a.settings.apply_to(current)?;
            let mut rng = crate::random::rng();
            let updated = admin::clients::update(&pool, &SystemClock, &mut rng, &a.client_id, change)
                .await
                .map_err(Failure::refused)?;
            audit(
                &pool,
                "changed a client",
                admin::clients::change_details(&a.client_id, &updated),
            )
            .await;
            let client = admin::clients::view(&pool, &SystemClock, &a.client_id)
                .await
                .map_err(Failure::refused)?;
            let mut shown = serde_json::to_value(&client).map_err(Failure::refused)?;
            // A client moved to a secret method got a secret: shown this once.
            if let (Some(secret), Some(fields)) = (&updated.client_secret, shown.as_object_mut()) {
                fields.insert("client_secret".into(), serde_json::json!(secret));
            }
            print(a.out.json, &shown, |_| match &updated.client_secret {
                Some(secret) => format!(
                    "updated client {}\nclient_secret: {secret}\n(shown this once: Lanyard keeps only its SHA-256)",
                    client.client_id
                ),
                None => format!("updated client {}", client.client_id),
            })
        }
        ClientCommand::Delete(a) => {
            admin::clients::delete(&pool, &a.client_id)
                .await
                .map_err(Failure::refused)?;
            audit(
                &pool,
                "deleted a client",
                serde_json::json!({ "client_id": a.client_id }),
            )
            .await;
            let done = serde_json::json!({ "client_id": a.client_id, "deleted": true });
            print(a.out.json, &done, |_| format!("deleted client {}", a.client_id))
        }
        ClientCommand::Allow(a) => allow(&pool, a).await,
        ClientCommand::Trust(a) => trust(&pool, a).await,
        ClientCommand::RotateSecret(a) => rotate_secret(&pool, a).await,
        ClientCommand::RegistrationToken(c) => registration_token(&pool, c).await,
        ClientCommand::RegistrationAccessToken(c) => registration_access_token(&pool, c).await,
    }
}

async fn registration_access_token(pool: &sqlx::PgPool, c: RegistrationAccessTokenCommand) -> Result<(), Failure> {
    use crate::admin::registration;
    match c {
        RegistrationAccessTokenCommand::Rotate(a) => {
            let mut rng = crate::random::rng();
            let rotated = registration::rotate_access_token(pool, &SystemClock, &mut rng, &a.client_id)
                .await
                .map_err(Failure::refused)?;
            let details = serde_json::json!({ "client_id": rotated.client_id });
            audit(pool, "rotated a registration access token", details).await;
            print(a.out.json, &rotated, |r| {
                format!(
                    "registration_access_token: {}\n(shown this once: Lanyard keeps only its SHA-256; the old one no longer works)",
                    r.registration_access_token
                )
            })
        }
        RegistrationAccessTokenCommand::Revoke(a) => {
            registration::revoke_access_token(pool, &SystemClock, &a.client_id)
                .await
                .map_err(Failure::refused)?;
            let done = serde_json::json!({ "client_id": a.client_id, "revoked": true });
            audit(pool, "revoked a registration access token", done.clone()).await;
            print(a.out.json, &done, |_| {
                format!("revoked the registration access token of client {}", a.client_id)
            })
        }
    }
}

async fn registration_token(pool: &sqlx::PgPool, c: RegistrationTokenCommand) -> Result<(), Failure> {
    use crate::admin::registration;
    match c {
        RegistrationTokenCommand::Create(a) => {
            let lifetime = a.expires_in.map(chrono::TimeDelta::seconds);
            let mut rng = crate::random::rng();
            let made = registration::create_token(pool, &SystemClock, &mut rng, lifetime, a.uses)
                .await
                .map_err(Failure::refused)?;
            let details = serde_json::json!({ "id": made.id, "uses": made.uses, "expires_at": made.expires_at });
            audit(pool, "made an initial access token", details).await;
            print(a.out.json, &made, |t| {
                format!(
                    "initial_access_token: {}\nexpires at {} after {} registration(s)\n(shown this once: Lanyard keeps only its SHA-256)",
                    t.initial_access_token, t.expires_at, t.uses
                )
            })
        }
        RegistrationTokenCommand::List(a) => {
            let tokens = registration::list_tokens(pool, &SystemClock)
                .await
                .map_err(Failure::refused)?;
            print(a.out.json, &tokens, |ts| {
                ts.iter()
                    .map(|t| format!("{}  {} use(s) left  expires {}", t.id, t.uses_left, t.expires_at))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        RegistrationTokenCommand::Revoke(a) => {
            registration::revoke_token(pool, &SystemClock, &a.id)
                .await
                .map_err(Failure::refused)?;
            let done = serde_json::json!({ "id": a.id, "revoked": true });
            audit(pool, "revoked an initial access token", done.clone()).await;
            print(a.out.json, &done, |_| format!("revoked initial access token {}", a.id))
        }
    }
}

async fn rotate_secret(pool: &sqlx::PgPool, a: ClientRotate) -> Result<(), Failure> {
    let grace = admin::clients::secret_grace(a.grace.as_deref()).map_err(Failure::refused)?;
    let mut rng = crate::random::rng();
    let rotated = admin::clients::rotate_secret_with_grace(pool, &SystemClock, &mut rng, &a.client_id, grace)
        .await
        .map_err(Failure::refused)?;
    audit(
        pool,
        "rotated a client secret",
        admin::clients::rotation_details(&rotated),
    )
    .await;
    print(a.out.json, &rotated, |r| {
        let previous = match r.previous_secret_valid_until {
            Some(until) => format!("the previous secret works until {}", until.to_rfc3339()),
            None => "the previous secret no longer works".to_owned(),
        };
        format!(
            "rotated the secret of client {}\nclient_secret: {}\n(shown this once: Lanyard keeps only its SHA-256)\n{previous}",
            r.client_id, r.client_secret
        )
    })
}

async fn create(pool: &sqlx::PgPool, config: &Config, a: ClientCreate) -> Result<(), Failure> {
    let s = a.settings;
    admin::clients::check_logout_uri_for(&config.issuer, s.backchannel_logout_uri.as_deref())
        .map_err(Failure::refused)?;
    let jwks = s.jwks()?;
    let input = NewClientInput {
        client_id: a.client_id,
        name: s.name,
        redirect_uris: s.redirect_uris,
        post_logout_redirect_uris: s.post_logout_redirect_uris,
        public: a.public,
        auth_method: s.auth_method,
        grant_types: s.grant_types,
        scopes: s.scopes,
        first_party: s.first_party.unwrap_or(false),
        id_token_alg: s.id_token_alg,
        dpop_bound: s.dpop_bound.unwrap_or(false),
        dpop_nonce: s.dpop_nonce.unwrap_or(false),
        jwks,
        jwks_uri: s.jwks_uri,
        backchannel_logout_uri: s.backchannel_logout_uri,
        backchannel_logout_session_required: s.backchannel_logout_session_required.unwrap_or(false),
        require_par: s.require_par.unwrap_or(false),
    };
    let created = admin::clients::create(pool, &SystemClock, &mut crate::random::rng(), input)
        .await
        .map_err(Failure::refused)?;
    audit(
        pool,
        "created a client",
        serde_json::json!({ "client_id": created.client_id }),
    )
    .await;
    print(a.out.json, &created, |c| match &c.client_secret {
        Some(secret) => format!(
            "created client {}\nclient_secret: {secret}\n(shown this once: Lanyard keeps only its SHA-256)",
            c.client_id
        ),
        None if c.auth_method == "private_key_jwt" => format!(
            "created client {} (private_key_jwt: it signs with its own keys, no secret)",
            c.client_id
        ),
        None => format!("created public client {}", c.client_id),
    })
}

async fn allow(pool: &sqlx::PgPool, a: ClientAllow) -> Result<(), Failure> {
    let allowance = admin::clients::allow(pool, &SystemClock, &a.client_id, &a.audience, &a.scopes)
        .await
        .map_err(Failure::refused)?;
    audit(
        pool,
        "changed a client's API access",
        serde_json::to_value(&allowance).unwrap_or_default(),
    )
    .await;
    print(a.out.json, &allowance, |x| {
        format!("{} may get {} of {}", x.client_id, x.scopes.join(" "), x.audience)
    })
}

async fn trust(pool: &sqlx::PgPool, a: ClientTrust) -> Result<(), Failure> {
    let trust = admin::clients::trust(pool, &SystemClock, &a.client_id, &a.other_client_id)
        .await
        .map_err(Failure::refused)?;
    audit(
        pool,
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
