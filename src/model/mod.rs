//! The vocabulary every layer shares: parsed, always-valid values
//! (a value that exists is valid — "parse, don't validate").

mod audience;
mod client;
mod key_state;
mod redirect_uri;
mod scope;
mod user;

pub use audience::Audience;
pub use client::{AuthMethod, ClientId, GrantType};
pub use key_state::KeyState;
pub use redirect_uri::RedirectUri;
pub use scope::{OidcScope, ScopeToken};
pub use user::{Address, StandardClaims, Username};

/// A value refused, with the field (CLI flag or form field) it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}
