//! Token revocation (RFC 7009): a refresh token, or an access token with a
//! grant, revokes that grant (its refresh family and access tokens, nothing
//! else); an access token without one goes on the jti deny-list until `exp`.

use chrono::DateTime;
use serde_json::Value;
use uuid::Uuid;

use super::Provider;
use super::client_auth::{self, Basic};
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use crate::crypto::secret;
use crate::model::Client;
use crate::store::{grants, refresh_tokens, revoked_access_tokens};

fn not_yours() -> OAuthError {
    OAuthError::new(ErrorCode::UnauthorizedClient, "the token was issued to another client")
}

/// Unknown or malformed tokens are answered like revoked ones (§2.2): Ok.
pub async fn revoke(p: &Provider, basic: &Basic, params: &Params) -> Result<(), OAuthError> {
    let client = client_auth::authenticate(p, basic, params)?;
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
    let Ok(verified) = p.keys.verify(token) else {
        return Ok(());
    };
    let is_access = verified.is_access_token();
    let claims = verified.claims;
    if !is_access || claims.get("iss").and_then(Value::as_str) != Some(p.config.issuer.as_str()) {
        return Ok(());
    }
    if claims.get("client_id").and_then(Value::as_str) != Some(client.client_id.as_str()) {
        return Err(not_yours());
    }
    let now = p.now();
    let mut conn = p.pool.acquire().await?;
    match claims
        .get("grant_id")
        .and_then(Value::as_str)
        .and_then(|g| Uuid::parse_str(g).ok())
    {
        Some(grant) => grants::revoke(&mut conn, grant, "access token revoked", now).await?,
        None => {
            let jti = claims
                .get("jti")
                .and_then(Value::as_str)
                .and_then(|j| Uuid::parse_str(j).ok());
            let exp = claims
                .get("exp")
                .and_then(Value::as_i64)
                .and_then(|e| DateTime::from_timestamp(e, 0));
            if let (Some(jti), Some(exp)) = (jti, exp)
                && exp > now
            {
                revoked_access_tokens::insert(&mut conn, jti, exp, now).await?;
            }
        }
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
