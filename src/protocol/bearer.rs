//! An access token presented as a bearer (RFC 6750) to one of Lanyard's own
//! APIs — UserInfo, the admin API: verified for that audience (RFC 9068 §4)
//! and not revoked.

use super::Provider;
use super::error::{ErrorCode, OAuthError};
use crate::model::claims::AccessTokenClaims;
use crate::model::lifecycle::GrantState;
use crate::store::{grants, revoked_access_tokens};

pub fn invalid_token(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidToken, description)
}

/// The claims of a valid access token for `audience`: a signature by one of
/// our keys, `typ: at+jwt` (so an id_token never passes), our `iss`, exactly
/// this `aud`, not expired (`KeyRing::verify_as`), and not revoked: a token
/// with a grant is revoked with its grant, one without (client_credentials)
/// through the jti deny-list (RFC 7009 §2 as the README's "Revocation"
/// applies it), so each needs only its own check.
pub async fn verify_access_token(p: &Provider, token: &str, audience: &str) -> Result<AccessTokenClaims, OAuthError> {
    let claims: AccessTokenClaims = p
        .keys
        .verify_as(token, &p.expect().audience(audience))
        .map_err(|e| invalid_token(&e.to_string()))?;
    // A key-bound token (RFC 9449 §6, RFC 7800) is honoured only with a
    // proof of possession, which Lanyard does not check yet: never as a bearer.
    if claims.cnf.is_some() {
        return Err(invalid_token("the token is bound to a key; a bearer cannot use it"));
    }
    if is_revoked(p, &claims).await? {
        return Err(invalid_token("the token is revoked"));
    }
    Ok(claims)
}

/// Whether the token's grant is revoked or gone, or — without a grant — its
/// `jti` is on the deny-list.
pub async fn is_revoked(p: &Provider, claims: &AccessTokenClaims) -> Result<bool, OAuthError> {
    let mut conn = p.pool.acquire().await?;
    Ok(match claims.grant_id {
        Some(id) => grants::find(&mut conn, id)
            .await?
            .is_none_or(|g| g.state() == GrantState::Revoked),
        None => revoked_access_tokens::is_revoked(&mut conn, claims.jti).await?,
    })
}
