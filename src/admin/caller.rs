//! Who may call the JSON admin API, decided at every request: a Lanyard
//! access token for `{issuer}/admin` with scope `admin`, issued through a
//! client that still holds that allowance, under its current secret; behind
//! it either that client itself (client_credentials) or a user who is an
//! enabled administrator now. A token outlives none of these.

use uuid::Uuid;

use super::apis::ADMIN_SCOPE;
use crate::model::AuthLevel;
use crate::protocol::Provider;
use crate::protocol::bearer::{Presented, verify_access_token};
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::mint;
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
    /// No valid admin-API token: 401 `invalid_token`.
    #[error("{0}")]
    Unauthenticated(String),
    /// A DPoP-bound token without a valid proof for this request: 401
    /// `invalid_dpop_proof` (RFC 9449 §7.1).
    #[error("{0}")]
    BadProof(String),
    /// A valid token whose holder may not administer: 403.
    #[error("{0}")]
    Forbidden(String),
    /// A user's token from a sign-in below what administrators need
    /// (`LANYARD_ADMIN_REQUIRE_MFA`): 401 `insufficient_user_authentication`
    /// (RFC 9470 §3).
    #[error("{0}")]
    WeakSignIn(String),
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

/// Admits the holder of the token presented (a bearer's, or a DPoP-bound
/// one with its proof for this request), or says why not.
pub async fn admit(p: &Provider, presented: &Presented) -> Result<Caller, CallerError> {
    let audience = p.config.issuer.url(crate::paths::ADMIN);
    let claims = verify_access_token(p, presented, &audience)
        .await
        .map_err(|e| match e.code {
            ErrorCode::InvalidToken => CallerError::Unauthenticated(e.description),
            ErrorCode::InvalidDpopProof => CallerError::BadProof(e.description),
            _ => CallerError::Unavailable(e),
        })?;
    if !claims.has_scope(ADMIN_SCOPE) {
        return Err(CallerError::Forbidden("the token lacks the `admin` scope".into()));
    }
    let mut conn = p.pool.acquire().await?;
    // Whoever holds it, the token came through a client that must still
    // exist and hold the admin allowance, and was issued under its current
    // secret.
    let client_id = claims.client_id.as_str();
    // A token whose client is gone or lost the allowance is revoked, as one
    // issued before the secret changed (RFC 6750 §3.1 `invalid_token`).
    let Some(secret_changed) = clients::secret_changed_if_allowed(&mut conn, client_id, &audience, ADMIN_SCOPE).await?
    else {
        return Err(CallerError::Unauthenticated(
            "the token's client no longer exists or no longer holds the admin API".into(),
        ));
    };
    if mint::issued_at(claims.jti).is_none_or(|t| t.timestamp_millis() < secret_changed.timestamp_millis()) {
        return Err(CallerError::Unauthenticated(
            "the token was issued before its client's secret changed".into(),
        ));
    }
    if claims.grant_id.is_none() {
        // A service's own token (client_credentials): `sub` is the client.
        return match claims.sub == client_id {
            true => Ok(Caller::Service {
                client_id: client_id.to_owned(),
            }),
            false => Err(CallerError::Forbidden("the token names no service".into())),
        };
    }
    // A user is behind it: an administrator, enabled, now.
    let user = match claims.user_id() {
        Some(sub) => users::find(&mut conn, sub).await?,
        None => None,
    };
    let Some(u) = user.filter(|u| u.is_admin && u.is_enabled()) else {
        return Err(CallerError::Forbidden(
            "the token's user is not an enabled administrator".into(),
        ));
    };
    signed_in_strongly_enough(p, claims.acr.as_deref())?;
    Ok(Caller::User {
        sub: u.id,
        username: u.username,
    })
}

/// `LANYARD_ADMIN_REQUIRE_MFA`: an administrator's token comes from a
/// multi-factor or passkey sign-in. (Asked of administrators only: a
/// stronger sign-in would not make anyone else one.)
fn signed_in_strongly_enough(p: &Provider, acr: Option<&str>) -> Result<(), CallerError> {
    let level = acr.and_then(|a| a.parse::<AuthLevel>().ok());
    match p.config.admin_require_mfa && level.is_none_or(|l| l < AuthLevel::MultiFactor) {
        true => Err(CallerError::WeakSignIn(
            "administrators must sign in with a second factor or a passkey".into(),
        )),
        false => Ok(()),
    }
}
