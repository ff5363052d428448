//! Token revocation (RFC 7009): a refresh token, or an access token with a
//! grant, revokes that grant (its refresh family and access tokens, nothing
//! else); an access token without one goes on the jti deny-list until `exp`.

use chrono::DateTime;

use super::Provider;
use super::client_auth::{self, Basic};
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use crate::crypto::secret;
use crate::model::Client;
use crate::model::claims::AccessTokenClaims;
use crate::store::{grants, refresh_tokens, revoked_access_tokens};

fn not_yours() -> OAuthError {
    OAuthError::new(ErrorCode::UnauthorizedClient, "the token was issued to another client")
}

/// Unknown or malformed tokens are answered like revoked ones (§2.2): Ok.
pub async fn revoke(p: &Provider, basic: &Basic, params: &Params) -> Result<(), OAuthError> {
    let client = client_auth::authenticate(p, basic, params, crate::paths::REVOKE).await?;
    let token = params
        .one("token")?
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    match token.split('.').count() {
        3 => access_token(p, &client, token).await,
        _ => refresh_token(p, &client, token).await,
    }
}

async fn access_token(p: &Provider, client: &Client, token: &str) -> Result<(), OAuthError> {
    // The signature must be ours; expiry does not matter (revoking is then a no-op).
    let Ok(claims) = p.keys.verify_as::<AccessTokenClaims>(token, &p.expect().at_any_time()) else {
        return Ok(());
    };
    if claims.client_id != client.client_id {
        return Err(not_yours());
    }
    let now = p.now();
    let mut conn = p.pool.acquire().await?;
    match (claims.grant_id, DateTime::from_timestamp(claims.exp, 0)) {
        (Some(grant), _) => grants::revoke(&mut conn, grant, "access token revoked", now).await?,
        (None, Some(exp)) if exp > now => revoked_access_tokens::insert(&mut conn, claims.jti, exp, now).await?,
        (None, _) => {}
    }
    Ok(())
}

async fn refresh_token(p: &Provider, client: &Client, token: &str) -> Result<(), OAuthError> {
    let mut tx = p.pool.begin().await?;
    let Some(row) = refresh_tokens::find_for_update(&mut tx, &secret::sha256(token)).await? else {
        return Ok(());
    };
    let Some(grant) = grants::find(&mut tx, row.grant_id).await? else {
        return Ok(());
    };
    if grant.client_id != client.client_id {
        return Err(not_yours());
    }
    grants::revoke(&mut tx, grant.id, "refresh token revoked", p.now()).await?;
    tx.commit().await?;
    Ok(())
}
