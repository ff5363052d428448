//! What the administration commands (`lanyard user | client | api | keys`)
//! share: their audit events, and reading a password.

use std::io::{BufRead, IsTerminal};

use super::Failure;
use crate::admin;
use crate::clock::SystemClock;

/// One line from stdin, or a no-echo prompt on a terminal.
pub(super) fn read_password(from_stdin: bool) -> Result<String, Failure> {
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

/// CLI changes are audit events too, with `cli` as the actor; a failure to
/// record is a warning on stderr, not a failed command.
pub(super) async fn audit(pool: &sqlx::PgPool, action: &str, details: serde_json::Value) {
    if let Err(e) = admin::record(pool, &SystemClock, "cli", action, details).await {
        eprintln!("warning: could not record the audit event: {e}");
    }
}

/// A repeatable flag of `update`: not given keeps `old`; given once with an
/// empty value (`--resource-server ""`) empties the list; else replaces it.
pub(super) fn replaced_list(new: Vec<String>, old: Vec<String>) -> Vec<String> {
    match new.as_slice() {
        [] => old,
        [only] if only.is_empty() => Vec::new(),
        _ => new,
    }
}
