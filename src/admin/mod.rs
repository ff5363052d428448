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
    Ok(FieldError::check(name, result)?)
}

/// Parses every value of a repeated field, refusing duplicates.
pub(crate) fn each<T: PartialEq>(
    name: &'static str,
    raws: &[String],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, AdminError> {
    Ok(FieldError::each(name, raws, parse)?)
}

/// An optional display name: blank counts as absent.
pub(crate) fn optional_name(raw: Option<String>) -> Result<Option<DisplayName>, AdminError> {
    Ok(DisplayName::optional(raw)?)
}
