//! The UserInfo endpoint (OIDC Core §5.3) and the access-token checks it
//! shares with other resource endpoints (RFC 9068 §4, RFC 6750).

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Provider;
use super::error::{ErrorCode, OAuthError};
use super::tokens;
use crate::model::OidcScope;
use crate::store::{grants, revoked_access_tokens, users};

fn invalid_token(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidToken, description)
}

/// The claims of a valid access token for `audience` (RFC 9068 §4): a
/// signature by one of our keys, `typ: at+jwt` (so an id_token never passes),
/// our `iss`, exactly this `aud`, not expired, not revoked: a token with a
/// grant is revoked with its grant, one without (client_credentials) through
/// the jti deny-list (RFC 7009 §2 as the README's "Revocation" applies it), so each
/// needs only its own check.
pub async fn verify_access_token(p: &Provider, token: &str, audience: &str) -> Result<Map<String, Value>, OAuthError> {
    let verified = p
        .keys
        .verify(token)
        .map_err(|e| invalid_token(&format!("the token does not verify: {e}")))?;
    if !verified.is_access_token() {
        return Err(invalid_token(
            "not an access token (typ is not at+jwt); an id_token is not an access token",
        ));
    }
    let claims = verified.claims;
    if claims.get("iss").and_then(Value::as_str) != Some(p.config.issuer.as_str()) {
        return Err(invalid_token("the token was not issued here"));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == audience,
        Some(Value::Array(list)) => list.len() == 1 && list[0].as_str() == Some(audience),
        _ => false,
    };
    if !aud_ok {
        return Err(invalid_token("the token is for another audience"));
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid_token("the token has no exp"))?;
    if exp <= p.now().timestamp() {
        return Err(invalid_token("the token has expired"));
    }
    if let Some(grant_id) = claims.get("grant_id").and_then(Value::as_str) {
        let id = Uuid::parse_str(grant_id).map_err(|_| invalid_token("malformed grant id"))?;
        let mut conn = p.pool.acquire().await?;
        let live = grants::find(&mut conn, id)
            .await?
            .is_some_and(|g| g.revoked_at.is_none());
        if !live {
            return Err(invalid_token("the token is revoked"));
        }
    } else if let Some(jti) = claims
        .get("jti")
        .and_then(Value::as_str)
        .and_then(|j| Uuid::parse_str(j).ok())
    {
        let mut conn = p.pool.acquire().await?;
        if revoked_access_tokens::is_revoked(&mut conn, jti).await? {
            return Err(invalid_token("the token is revoked"));
        }
    }
    Ok(claims)
}

/// `GET/POST /userinfo`: the user's claims for the token's scopes.
pub async fn userinfo(p: &Provider, token: &str) -> Result<Value, OAuthError> {
    let audience = tokens::userinfo_audience(p);
    let claims = verify_access_token(p, token, &audience).await?;
    let scopes: Vec<String> = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split(' ')
        .map(str::to_owned)
        .collect();
    if !scopes.iter().any(|s| s == OidcScope::Openid.as_str()) {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "UserInfo needs the openid scope",
        ));
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_token("the token has no sub"))?;
    let id = Uuid::parse_str(sub).map_err(|_| invalid_token("the token's sub is not a user"))?;
    let mut conn = p.pool.acquire().await?;
    let user = users::find(&mut conn, id)
        .await?
        .filter(|u| u.is_enabled())
        .ok_or_else(|| invalid_token("the user is disabled or gone"))?;
    let mut out = tokens::user_claims(&user, &scopes);
    out.insert("sub".into(), json!(sub));
    Ok(Value::Object(out))
}
