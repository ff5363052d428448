//! `lanyard upstream create | list | show | update | delete`: upstream
//! OpenID providers people may sign in through — thin wrappers over the
//! admin flows, audited with `cli` as the actor.

use clap::{Args, Subcommand};

use super::admin::{audit, read_password};
use super::output::print;
use super::{Failure, JsonFlag, connect_migrated};
use crate::admin::upstreams::{self, Ctx, UpstreamSettings, UpstreamView, change_details};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::protocol::DerivedKeys;

#[derive(Debug, Subcommand)]
pub enum UpstreamCommand {
    /// Connect an upstream OpenID provider; prints the redirect URI to register there.
    Create(UpstreamCreate),
    /// List the upstream providers.
    List(JsonOnly),
    /// Show one upstream provider (never its secret).
    Show(UpstreamRef),
    /// Change an upstream provider: only the flags given.
    Update(UpstreamUpdate),
    /// Delete an upstream provider and its links (the accounts stay; refused
    /// when it is the only way in for some accounts, unless `--force`).
    Delete(UpstreamDelete),
}

#[derive(Debug, Args)]
pub struct JsonOnly {
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct UpstreamRef {
    id: String,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct UpstreamDelete {
    #[command(flatten)]
    id: UpstreamRef,
    /// Delete it even when it is the only way in for some accounts.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct UpstreamCreate {
    /// A short id: 1 to 40 of a-z, 0-9 and - (it names the redirect URI).
    id: String,
    /// The upstream's issuer (https; http only on loopback).
    #[arg(long, value_name = "URL")]
    issuer: String,
    /// The client_id Lanyard has at the upstream.
    #[arg(long, value_name = "CID")]
    client_id: String,
    #[command(flatten)]
    settings: UpstreamFlags,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct UpstreamUpdate {
    id: String,
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    #[arg(long, value_name = "CID")]
    client_id: Option<String>,
    /// Enable or disable it (`--enabled=false`; refused when it is the only
    /// way in for some accounts, unless `--force`).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    enabled: Option<bool>,
    /// Disable it even when it is the only way in for some accounts.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    settings: UpstreamFlags,
    #[command(flatten)]
    out: JsonFlag,
}

/// The flags `create` and `update` share.
#[derive(Debug, Args)]
pub struct UpstreamFlags {
    /// Read the client secret from the first line of stdin (required on create).
    #[arg(long)]
    client_secret_stdin: bool,
    /// A scope to ask for (repeatable; default openid email profile; openid always).
    #[arg(long = "scope", value_name = "S")]
    scopes: Vec<String>,
    /// The name on the sign-in page's "Continue with NAME" (default: the id).
    #[arg(long, value_name = "TEXT")]
    name: Option<String>,
    /// Trust the upstream's email verification: its `email_verified` is
    /// copied (else addresses from it are stored unverified), and a person
    /// whose verified address an account here holds is offered to link it —
    /// made only once they sign in to that account with its own factors.
    /// `--link-by-verified-email=false` to undo.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    link_by_verified_email: Option<bool>,
    /// A standard claim copied onto the user (repeatable; default name
    /// given_name family_name email picture locale).
    #[arg(long = "claim", value_name = "CLAIM")]
    claims: Vec<String>,
    /// Copy the claims again at every sign-in (default: only when the account is made).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    refresh_claims: Option<bool>,
    /// Map an upstream acr value to a level: VALUE=password|mfa|phishing-resistant
    /// (repeatable; replaces the map; `--acr ""` empties it).
    #[arg(long = "acr", value_name = "VALUE=LEVEL")]
    acr: Vec<String>,
}

impl UpstreamFlags {
    fn settings(self) -> Result<UpstreamSettings, Failure> {
        let secret = match self.client_secret_stdin {
            true => Some(read_password(true)?),
            false => None,
        };
        let list = |v: Vec<String>| (!v.is_empty()).then_some(v);
        Ok(UpstreamSettings {
            name: self.name,
            client_secret: secret,
            scopes: list(self.scopes),
            link_by_verified_email: self.link_by_verified_email,
            claims: list(self.claims),
            refresh_claims: self.refresh_claims,
            acr: list(self.acr),
            ..UpstreamSettings::default()
        })
    }
}

fn human(v: &UpstreamView) -> String {
    let former = match v.former_issuer_links {
        0 => String::new(),
        n => format!("\n  {n} link(s) made at a former issuer no longer apply"),
    };
    format!(
        "{} ({}) issuer {} client_id {}{}\n  redirect URI: {}{former}",
        v.id,
        v.name,
        v.issuer,
        v.client_id,
        if v.enabled { "" } else { " [disabled]" },
        v.redirect_uri
    )
}

pub async fn run(cmd: UpstreamCommand, config: &Config) -> Result<(), Failure> {
    let pool = connect_migrated(config).await?;
    let master = config.require_master_key().map_err(Failure::setup)?;
    let seal = DerivedKeys::from_master(master).upstream_seal;
    let c = Ctx {
        pool: &pool,
        clock: &SystemClock,
        seal: &seal,
        issuer: &config.issuer,
    };
    let refused = |e: crate::admin::AdminError| Failure::refused(e);
    match cmd {
        UpstreamCommand::Create(a) => {
            if !a.settings.client_secret_stdin {
                return Err(Failure::refused(
                    "the client secret is required: use --client-secret-stdin",
                ));
            }
            let mut s = a.settings.settings()?;
            (s.issuer, s.client_id) = (Some(a.issuer), Some(a.client_id));
            let details = change_details(&a.id, &s);
            let created = upstreams::create(&c, &a.id, s).await.map_err(refused)?;
            audit(&pool, "created an upstream provider", details).await;
            print(a.out.json, &created, |v| {
                format!(
                    "{}\nRegister this redirect URI at the upstream: {}",
                    human(v),
                    v.redirect_uri
                )
            })
        }
        UpstreamCommand::List(a) => {
            let all = upstreams::list(&pool, &config.issuer).await.map_err(refused)?;
            print(a.out.json, &all, |all| {
                all.iter().map(human).collect::<Vec<_>>().join("\n")
            })
        }
        UpstreamCommand::Show(a) => {
            let v = upstreams::view(&c, &a.id).await.map_err(refused)?;
            print(a.out.json, &v, human)
        }
        UpstreamCommand::Update(a) => {
            let mut s = a.settings.settings()?;
            (s.issuer, s.client_id, s.enabled) = (a.issuer, a.client_id, a.enabled);
            s.force = a.force;
            let before = upstreams::view(&c, &a.id).await.map_err(refused)?;
            let asked = s.clone();
            let updated = upstreams::update(&c, &a.id, s).await.map_err(refused)?;
            let details = upstreams::before_after(&a.id, &asked, &before, &updated);
            audit(&pool, "changed an upstream provider", details).await;
            print(a.out.json, &updated, human)
        }
        UpstreamCommand::Delete(a) => {
            upstreams::delete(&pool, &a.id.id, a.force).await.map_err(refused)?;
            audit(
                &pool,
                "deleted an upstream provider",
                serde_json::json!({ "upstream": a.id.id, "force": a.force }),
            )
            .await;
            print(a.id.out.json, &serde_json::json!({ "deleted": a.id.id }), |_| {
                format!("deleted {}", a.id.id)
            })
        }
    }
}
