//! A person's own account (README "Your account"): what the account page
//! shows, and the changes a signed-in person makes to their own account —
//! each for them alone, each audited with them as the actor. The web layer
//! checks the form's CSRF token and a recent sign-in
//! (`session::RECENT_SIGN_IN`) before it calls a change here.

pub mod apps;
pub mod email;
pub mod password;
pub mod profile;
pub mod sessions;
pub mod two_step;
pub mod upstreams;

use serde::Serialize;
use serde_json::Value;

use super::Provider;
use super::error::OAuthError;
use super::factors::Enrolled;
use super::session::CurrentSession;
use super::signin::SignInError;
use crate::model::FieldError;
use crate::store::audit::NewEvent;
use crate::store::second_factors::FactorSummary;

/// Why a change to an account was not made.
#[derive(Debug)]
pub enum AccountError {
    /// A value refused: the form is shown again with the message.
    Invalid(FieldError),
    /// The current password is wrong (and the guess was counted).
    WrongPassword,
    /// The password could not be checked now: throttled, another check in
    /// flight, or every hashing thread busy (the sign-in page's answers).
    PasswordCheck(SignInError),
    /// Not the person's: a session or an application they do not have.
    NotFound(&'static str),
    /// A change to a second factor from a session that has not proved it:
    /// the second step first.
    SecondStepFirst,
    Internal(OAuthError),
}

impl From<OAuthError> for AccountError {
    fn from(e: OAuthError) -> Self {
        AccountError::Internal(e)
    }
}

impl From<crate::store::StoreError> for AccountError {
    fn from(e: crate::store::StoreError) -> Self {
        AccountError::Internal(e.into())
    }
}

impl From<sqlx::Error> for AccountError {
    fn from(e: sqlx::Error) -> Self {
        AccountError::Internal(e.into())
    }
}

impl From<crate::crypto::CryptoError> for AccountError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        AccountError::Internal(e.into())
    }
}

impl AccountError {
    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        AccountError::Invalid(FieldError::new(field, message))
    }
}

/// The signed-in person changing their own account, from an address.
pub struct Person<'a> {
    pub provider: &'a Provider,
    pub session: &'a CurrentSession,
    pub ip: Option<&'a str>,
}

impl Person<'_> {
    /// Records a change the person made (outcome `ok`).
    pub fn record(&self, action: &str) {
        self.audit("ok", action, None, Value::Null);
    }

    /// Records a change (or a refused attempt) in the audit log: kind
    /// `account`, the person as actor. A full audit buffer is a warning: the
    /// change is committed already.
    fn audit(&self, outcome: &str, action: &str, client_id: Option<&str>, details: Value) {
        let event = NewEvent {
            kind: "account",
            outcome,
            actor: Some(&self.session.user.username),
            client_id,
            user_id: Some(self.session.user.id),
            ip: self.ip,
            reason: Some(action),
            details,
        };
        if let Err(e) = self.provider.audit(&event) {
            tracing::warn!(error = %e, action, "could not audit an account change");
        }
    }
}

/// Everything the account page shows, built in one place. Each area is
/// one field; a new area (sign-in methods) is one more.
#[derive(Debug, Serialize)]
pub struct Overview {
    pub username: String,
    pub profile: Vec<profile::ProfileField>,
    pub sessions: Vec<sessions::SessionView>,
    pub apps: Vec<apps::AppView>,
    /// Sign-in methods (two-step sign-in and passkeys): the page's
    /// "Two-step sign-in and passkeys" section reads it.
    pub factors: FactorsView,
    /// The email address and the one waiting for verification.
    pub email: email::EmailView,
    /// Whether the person has a password (one from an upstream may not: they
    /// set one without a current password).
    pub has_password: bool,
    /// Their links to upstream providers.
    pub upstreams: Vec<upstreams::LinkView>,
    /// The enabled upstreams the person can connect ("Connect NAME").
    pub connectable: Vec<upstreams::Connectable>,
}

/// A person's second factors as the page shows them.
#[derive(Debug, Serialize)]
pub struct FactorsView {
    /// An authenticator app (TOTP) is set up.
    pub totp: bool,
    pub totp_since: Option<String>,
    pub totp_last_used: Option<String>,
    /// "10 unused recovery codes", "1 unused recovery code".
    pub recovery_codes: String,
    pub passkeys: i64,
    /// "2 passkeys", "1 passkey".
    pub passkeys_said: String,
    /// Passkeys work at this issuer (not at an IP address).
    pub passkeys_on: bool,
}

impl From<FactorSummary> for FactorsView {
    fn from(s: FactorSummary) -> Self {
        let plural = |n: i64| if n == 1 { "" } else { "s" };
        Self {
            totp: s.totp,
            totp_since: s.totp_created_at.map(when),
            totp_last_used: s.totp_last_used_at.map(when),
            recovery_codes: format!(
                "{} unused recovery code{}",
                s.recovery_codes_left,
                plural(s.recovery_codes_left)
            ),
            passkeys: s.passkeys,
            passkeys_said: format!("{} passkey{}", s.passkeys, plural(s.passkeys)),
            passkeys_on: true,
        }
    }
}

/// What the account page shows the person of `session`.
pub async fn overview(p: &Provider, session: &CurrentSession) -> Result<Overview, OAuthError> {
    Ok(Overview {
        username: session.user.username.clone(),
        profile: profile::fields(p, &session.user.claims()),
        sessions: sessions::list(p, session).await?,
        apps: apps::list(p, session.user.id).await?,
        has_password: session.user.password_hash.is_some(),
        upstreams: upstreams::list(p, session.user.id).await?,
        connectable: upstreams::connectable(p, session.user.id).await?,
        factors: FactorsView {
            passkeys_on: p.webauthn.is_ok(),
            ..Enrolled::of(p, session.user.id).await?.summary.into()
        },
        email: email::view(p, &session.user).await?,
    })
}

/// How the page writes a time: to the minute, in UTC.
fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}
