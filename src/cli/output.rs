//! Printing a command's result: one JSON document with `--json`, else a short summary.

use serde::Serialize;

use super::Failure;

pub fn print<T: Serialize>(json: bool, value: &T, human: impl FnOnce(&T) -> String) -> Result<(), Failure> {
    if json {
        let text = serde_json::to_string_pretty(value).map_err(Failure::refused)?;
        println!("{text}");
    } else {
        println!("{}", human(value));
    }
    Ok(())
}
