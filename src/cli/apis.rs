//! `lanyard api create | list | show | update | delete`: thin wrappers over
//! the admin flows, audited with `cli` as the actor.

use clap::{Args, Subcommand};

use super::admin::{audit, replaced_list};
use super::output::print;
use super::{Failure, JsonFlag, connect_migrated};
use crate::admin::{
    self,
    apis::{ApiDetail, ApiUpdate, ApiView, NewApiInput},
};
use crate::clock::SystemClock;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Register an API by its audience (an absolute URI).
    Create(ApiCreate),
    /// List the APIs with who may get what.
    List(ApiList),
    /// Show one API: its scopes, algorithm, lifetime, resource servers and allowances.
    Show(ApiRef),
    /// Change an API: only the flags given (a repeatable flag given replaces its list).
    Update(ApiUpdateArgs),
    /// Delete an API: no more tokens for it, its allowances go, its exchanges are revoked.
    Delete(ApiRef),
}

#[derive(Debug, Args)]
pub struct ApiList {
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ApiRef {
    audience: String,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ApiCreate {
    audience: String,
    #[command(flatten)]
    settings: ApiFlags,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ApiUpdateArgs {
    audience: String,
    #[command(flatten)]
    settings: ApiFlags,
    #[command(flatten)]
    out: JsonFlag,
}

/// An API's settings, the flags of `create` and `update`.
#[derive(Debug, Args)]
pub struct ApiFlags {
    /// Display name (default: the audience).
    #[arg(long, value_name = "N")]
    name: Option<String>,
    /// NAME or NAME=DESCRIPTION (repeatable; at least one at creation).
    #[arg(long = "scope", value_name = "NAME[=DESCRIPTION]", num_args = 1..)]
    scopes: Vec<String>,
    /// Access-token lifetime in seconds, or `default` (LANYARD_ACCESS_TOKEN_TTL).
    #[arg(long, value_name = "SECS")]
    access_token_ttl: Option<String>,
    /// ES256 (default), RS256 or EdDSA.
    #[arg(long, value_name = "ALG")]
    alg: Option<String>,
    /// A client that may introspect this API's tokens (repeatable).
    #[arg(long = "resource-server", value_name = "CLIENT_ID")]
    resource_servers: Vec<String>,
    /// Tokens for this API are issued only DPoP-bound (RFC 9449).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    require_dpop: Option<bool>,
    /// DPoP proofs for this API's tokens must carry a server nonce (RFC 9449 §8).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    dpop_nonce: Option<bool>,
    /// The level of sign-in a user's token needs (RFC 9470): password, mfa,
    /// phishing-resistant, or `none`.
    #[arg(long, value_name = "LEVEL")]
    min_acr: Option<String>,
}

impl ApiFlags {
    /// `--access-token-ttl`: not given (`None`), `default` (`Some(None)`:
    /// LANYARD_ACCESS_TOKEN_TTL), or seconds.
    fn ttl(&self) -> Result<Option<Option<i64>>, Failure> {
        self.access_token_ttl
            .as_deref()
            .map(|raw| match raw.trim() {
                "default" => Ok(None),
                secs => secs
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| format!("`{raw}` is not a whole number of seconds or `default`")),
            })
            .transpose()
            .map_err(|m| Failure::refused(format!("invalid access-token-ttl: {m}")))
    }

    /// These flags over the API as it is: what a flag names changes.
    fn apply_to(self, api: ApiView) -> Result<ApiUpdate, Failure> {
        let ttl = self.ttl()?.unwrap_or(api.access_token_ttl.map(i64::from));
        let scopes = match self.scopes.is_empty() {
            true => api
                .scopes
                .iter()
                .map(|s| format!("{}={}", s.name, s.description))
                .collect(),
            false => self.scopes,
        };
        Ok(ApiUpdate {
            name: Some(self.name.unwrap_or(api.name)),
            scopes,
            access_token_ttl: ttl,
            alg: Some(self.alg.unwrap_or(api.alg)),
            resource_servers: replaced_list(self.resource_servers, api.resource_servers),
            require_dpop: self.require_dpop.unwrap_or(api.require_dpop),
            dpop_nonce: self.dpop_nonce.unwrap_or(api.dpop_nonce),
            min_acr: match self.min_acr {
                Some(level) => level_or_none(level),
                None => api.min_acr,
            },
        })
    }
}

pub async fn run(cmd: ApiCommand, config: &Config) -> Result<(), Failure> {
    match cmd {
        ApiCommand::Create(a) => create(a, config).await,
        ApiCommand::List(a) => {
            let pool = connect_migrated(config).await?;
            let apis = admin::apis::list(&pool).await.map_err(Failure::refused)?;
            print(a.out.json, &apis, |list| {
                let lines: Vec<String> = list.iter().map(summary).collect();
                format!("{} API(s)\n{}", list.len(), lines.join("\n"))
            })
        }
        ApiCommand::Show(a) => {
            let pool = connect_migrated(config).await?;
            let api = admin::apis::get_by_audience(&pool, &a.audience)
                .await
                .map_err(Failure::refused)?;
            print(a.out.json, &api, |x| {
                serde_json::to_string_pretty(x).unwrap_or_default()
            })
        }
        ApiCommand::Update(a) => {
            let pool = connect_migrated(config).await?;
            let current = admin::apis::get_by_audience(&pool, &a.audience)
                .await
                .map_err(Failure::refused)?;
            let id = current.api.id;
            let change = a.settings.apply_to(current.api)?;
            let (before, after) = admin::apis::update(&pool, &SystemClock, &config.issuer, id, change)
                .await
                .map_err(Failure::refused)?;
            let details = serde_json::json!({ "api": id.to_string(), "before": before, "after": after });
            audit(&pool, "changed an API", details).await;
            print(a.out.json, &after, |x| format!("updated API {}", x.audience))
        }
        ApiCommand::Delete(a) => {
            let pool = connect_migrated(config).await?;
            let api = admin::apis::get_by_audience(&pool, &a.audience)
                .await
                .map_err(Failure::refused)?
                .api;
            admin::apis::delete(&pool, &SystemClock, &config.issuer, &api)
                .await
                .map_err(Failure::refused)?;
            audit(&pool, "deleted an API", serde_json::json!({ "api": api })).await;
            let done = serde_json::json!({ "audience": api.audience, "deleted": true });
            print(a.out.json, &done, |_| format!("deleted API {}", api.audience))
        }
    }
}

async fn create(a: ApiCreate, config: &Config) -> Result<(), Failure> {
    let ttl = a.settings.ttl()?.flatten();
    let pool = connect_migrated(config).await?;
    let s = a.settings;
    let input = NewApiInput {
        audience: a.audience,
        name: s.name,
        scopes: s.scopes,
        access_token_ttl: ttl,
        alg: s.alg,
        resource_servers: s.resource_servers,
        require_dpop: s.require_dpop.unwrap_or(false),
        dpop_nonce: s.dpop_nonce.unwrap_or(false),
        min_acr: s.min_acr.and_then(level_or_none),
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

/// `--min-acr`: a level, or `none` for no requirement.
fn level_or_none(raw: String) -> Option<String> {
    (raw.trim() != "none").then_some(raw)
}

/// One line per API: audience, name, scopes, algorithm.
fn summary(d: &ApiDetail) -> String {
    let scopes: Vec<&str> = d.api.scopes.iter().map(|s| s.name.as_str()).collect();
    format!(
        "{} ({}): {} [{}]",
        d.api.audience,
        d.api.name,
        scopes.join(" "),
        d.api.alg
    )
}
