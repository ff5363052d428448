//! Who may call the JSON admin API, decided at every request: a Lanyard
//! access token for `{issuer}/admin` with scope `admin`, and behind it either
//! a service (client_credentials) that still holds that allowance with the
//! secret the token was issued under, or a user who is an enabled
//! administrator now. A token outlives none of these.

use uuid::Uuid;

use super::apis::ADMIN_SCOPE;
use crate::protocol::Provider;
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::tokens;
use crate::protocol::userinfo::verify_access_token;
use crate::store::{clients, users};

/// An admitted caller of the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A service's own token (client_credentials).
    Service { client_id: String },
    /// A user's token, through a code flow or an exchange.
    User { sub: Uuid, username: String },
}

impl Caller {
    /// How the audit log names the caller.
    pub fn actor(&self) -> String {
        match self {
            Caller::Service { client_id } => format!("api:{client_id}"),
            Caller::User { username, .. } => format!("api:{username}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    /// No valid admin-API token: 401.
    #[error("{0}")]
    Unauthenticated(String),
    /// A valid token whose holder may not administer: 403.
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Unavailable(OAuthError),
}

impl From<crate::store::StoreError> for CallerError {
    fn from(e: crate::store::StoreError) -> Self {
        CallerError::Unavailable(e.into())
    }
}

impl From<sqlx::Error> for CallerError {
    fn from(e: sqlx::Error) -> Self {
        CallerError::Unavailable(e.into())
    }
}

/// Admits the holder of `token`, or says why not.
pub async fn admit(p: &Provider, token: &str) -> Result<Caller, CallerError> {
    let audience = p.config.issuer.url(crate::paths::ADMIN);
    let claims = verify_access_token(p, token, &audience)
        .await
        .map_err(|e| match e.code {
            ErrorCode::InvalidToken => CallerError::Unauthenticated(e.description),
            _ => CallerError::Unavailable(e),
        })?;
    let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).unwrap_or_default();
    if !text("scope").split(' ').any(|s| s == ADMIN_SCOPE) {
        return Err(CallerError::Forbidden("the token lacks the `admin` scope".into()));
    }
    let mut conn = p.pool.acquire().await?;
    if claims.contains_key("grant_id") {
        // A user is behind it: an administrator, enabled, now.
        let user = match Uuid::parse_str(text("sub")) {
            Ok(sub) => users::find(&mut conn, sub).await?,
            Err(_) => None,
        };
        return match user {
            Some(u) if u.is_admin && u.is_enabled() => Ok(Caller::User {
                sub: u.id,
                username: u.username,
            }),
            _ => Err(CallerError::Forbidden(
                "the token's user is not an enabled administrator".into(),
            )),
        };
    }
    // A service's own token: it still holds the allowance, and the token was
    // issued under its current secret.
    let client_id = text("client_id");
    if client_id.is_empty() || client_id != text("sub") {
        return Err(CallerError::Forbidden("the token names no service".into()));
    }
    let Some(secret_changed) = clients::secret_changed_if_allowed(&mut conn, client_id, &audience, ADMIN_SCOPE).await?
    else {
        return Err(CallerError::Forbidden(
            "the client no longer exists or no longer holds the admin API".into(),
        ));
    };
    match tokens::issued_at(text("jti")) {
        Some(issued) if issued.timestamp_millis() >= secret_changed.timestamp_millis() => Ok(Caller::Service {
            client_id: client_id.to_owned(),
        }),
        _ => Err(CallerError::Unauthenticated(
            "the token was issued before the client's secret changed".into(),
        )),
    }
}
