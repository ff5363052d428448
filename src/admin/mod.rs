//! Administration flows: the one service layer the CLI (and later the admin
//! pages and API) call, so each rule of what may be created is written once.

pub mod apis;
pub mod caller;
pub mod clients;
pub mod users;

use crate::crypto::CryptoError;
use crate::model::{DisplayName, FieldError};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("invalid {}: {}", .0.field, .0.message)]
    Invalid(FieldError),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(StoreError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => AdminError::Conflict(what),
            other => AdminError::Store(other),
        }
    }
}

impl From<FieldError> for AdminError {
    fn from(e: FieldError) -> Self {
        AdminError::Invalid(e)
    }
}

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

/// An admin change as an audit event: who did what, with its details.
pub async fn record(
    pool: &sqlx::PgPool,
    clock: &dyn crate::clock::Clock,
    actor: &str,
    action: &str,
    details: serde_json::Value,
) -> Result<(), AdminError> {
    let event = crate::store::audit::NewEvent {
        kind: "admin",
        outcome: "ok",
        actor: Some(actor),
        client_id: details.get("client_id").and_then(|v| v.as_str()),
        user_id: None,
        ip: None,
        reason: Some(action),
        details: details.clone(),
    };
    let mut conn = pool.acquire().await?;
    crate::store::audit::insert(&mut conn, &event, clock.now()).await?;
    Ok(())
}
