//! Administration flows: the one service layer the CLI, the admin pages and
//! the admin API call, so each rule of what may be created is written once.
//! The `…_by` flows take an [`Actor`] and record their own audit event.

mod actor;
pub mod apis;
pub mod audit;
pub mod caller;
pub mod clients;
pub mod dashboard;
mod error;
pub mod invitations;
pub mod keys;
pub mod registration;
pub mod upstreams;
pub mod users;

pub use actor::{Actor, record};
pub use error::AdminError;

use crate::model::{DisplayName, FieldError};

/// Parses one value, naming the field it came from on failure.
pub(crate) fn field<T>(name: &'static str, result: Result<T, String>) -> Result<T, AdminError> {
    result.map_err(|m| AdminError::Invalid(FieldError::new(name, m)))
}

/// Parses every value of a repeated field, refusing duplicates.
pub(crate) fn each<T: PartialEq>(
    name: &'static str,
    raws: &[String],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, AdminError> {
    let mut out: Vec<T> = Vec::with_capacity(raws.len());
    for raw in raws {
        let value = field(name, parse(raw))?;
        if out.contains(&value) {
            return Err(AdminError::Invalid(FieldError::new(
                name,
                format!("`{raw}` is given twice"),
            )));
        }
        out.push(value);
    }
    Ok(out)
}

/// An optional display name: blank counts as absent.
pub(crate) fn optional_name(raw: Option<String>) -> Result<Option<DisplayName>, AdminError> {
    raw.filter(|n| !n.trim().is_empty())
        .map(|n| field("name", DisplayName::parse(&n)))
        .transpose()
}
