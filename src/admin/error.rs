//! The one error of the administration flows: a refusal (a bad value, a name
//! taken, something missing, a key move refused) or a failure underneath.

use crate::crypto::CryptoError;
use crate::keys::KeyError;
use crate::model::FieldError;
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
    /// A refusal of the key lifecycle (too soon, no such key, not revocable),
    /// or its failure.
    #[error(transparent)]
    Keys(KeyError),
    #[error("the server has no master key")]
    NoMasterKey,
    /// Deleting or disabling an upstream would leave accounts no way in:
    /// refused unless forced.
    #[error("upstream `{id}` is the only way in for {accounts} account(s): repeat with force to go ahead")]
    LocksOut { id: String, accounts: i64 },
}

impl AdminError {
    /// A refusal a form shows beside its fields (a bad value, a name taken,
    /// something missing), not a failure.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            AdminError::Invalid(_) | AdminError::Conflict(_) | AdminError::NotFound(_) | AdminError::LocksOut { .. }
        )
    }

    /// Whether the database could not be reached: worth a retry.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, AdminError::Store(s) if s.is_unreachable())
    }

    /// Whether the database refused a value it cannot hold (bad input).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, AdminError::Store(s) if s.is_bad_input())
    }
}

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Db(e).into()
    }
}

impl From<KeyError> for AdminError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Store(s) => s.into(),
            KeyError::Db(e) => e.into(),
            other => AdminError::Keys(other),
        }
    }
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
