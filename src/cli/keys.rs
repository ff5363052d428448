//! `lanyard keys list | rotate | revoke`.

use clap::Subcommand;

use super::output::print;
use super::{Failure, JsonFlag, connect_migrated};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::keys::{self, KeyChange, KeyError};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys with their states and dates.
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Promote each `next` key now, retire the `active` one, publish a new `next`.
    /// Refused while a `next` key has been published for less than twice the
    /// JWKS cache lifetime (600 s), unless forced.
    Rotate {
        /// Rotate even if relying parties' cached JWKS may not know the next key yet.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Unpublish a compromised key at once (an active one is replaced).
    Revoke {
        /// A base64url thumbprint (RFC 7638): it may begin with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(serde::Serialize)]
struct Changes {
    changes: Vec<KeyChange>,
}

pub async fn run(cmd: KeysCommand, config: &Config) -> Result<(), Failure> {
    let pool = connect_migrated(config).await?;
    let failure = |e: KeyError| match e {
        KeyError::WrongMasterKey { .. } => Failure::setup(e),
        KeyError::TooSoon { .. } => Failure::refused(format!("{e} (rotate anyway with --force)")),
        other => Failure::refused(other),
    };
    let (json, changes) = match cmd {
        KeysCommand::List { out } => {
            let keys = keys::list(&pool).await.map_err(failure)?;
            return print(out.json, &keys, |keys| {
                let mut lines = vec![format!("{:<44} {:<6} {:<9} {}", "KID", "ALG", "STATE", "CREATED")];
                lines.extend(keys.iter().map(|k| {
                    format!(
                        "{:<44} {:<6} {:<9} {}",
                        k.kid,
                        k.alg,
                        k.state,
                        k.created_at.format("%Y-%m-%d %H:%M:%SZ")
                    )
                }));
                lines.join("\n")
            });
        }
        KeysCommand::Rotate { force, out } => {
            let master = config.require_master_key().map_err(Failure::setup)?;
            keys::verify_master_key(&pool, master).await.map_err(failure)?;
            (
                out.json,
                keys::rotate(&pool, &SystemClock, master, force)
                    .await
                    .map_err(failure)?,
            )
        }
        KeysCommand::Revoke { kid, out } => {
            let master = config.require_master_key().map_err(Failure::setup)?;
            keys::verify_master_key(&pool, master).await.map_err(failure)?;
            (
                out.json,
                keys::revoke(&pool, &SystemClock, master, &kid).await.map_err(failure)?,
            )
        }
    };
    super::admin::audit(
        &pool,
        "changed the signing keys",
        serde_json::json!({ "changes": changes }),
    )
    .await;
    print(json, &Changes { changes }, |c| {
        c.changes
            .iter()
            .map(|ch| match (ch.from, ch.to) {
                (None, Some(to)) => format!("{} {}: created ({to})", ch.alg, ch.kid),
                (Some(from), Some(to)) => format!("{} {}: {from} -> {to}", ch.alg, ch.kid),
                (Some(from), None) => format!("{} {}: deleted (was {from})", ch.alg, ch.kid),
                (None, None) => String::new(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    /// A kid is a base64url JWK thumbprint (RFC 7638 §3): one in 64 begins
    /// with `-`, and is still a kid, not a flag (a CI run revoked one).
    #[test]
    fn a_kid_that_begins_with_a_hyphen_is_a_kid() {
        let kid = "-GF5NgfEOEG7MDE9aeRrVfIjAhzvwaFQXk5TMsn23bM";
        let parsed = crate::cli::Cli::try_parse_from(["lanyard", "keys", "revoke", kid]);
        assert!(parsed.is_ok(), "{:?}", parsed.err().map(|e| e.to_string()));
        assert!(format!("{parsed:?}").contains(kid));
        for args in [["revoke", kid, "--json"], ["revoke", "--json", kid]] {
            let parsed = crate::cli::Cli::try_parse_from(["lanyard", "keys", args[0], args[1], args[2]]);
            let parsed = format!("{:?}", parsed.expect("parses"));
            assert!(
                parsed.contains(kid) && parsed.contains("json: true"),
                "{args:?}: {parsed}"
            );
        }
    }
}
