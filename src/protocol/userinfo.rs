//! The UserInfo endpoint (OIDC Core §5.3), a protected resource taking
//! bearer and DPoP-bound access tokens (RFC 6750, RFC 9449 §7).

use serde_json::{Value, json};

use super::Provider;
use super::bearer::{Presented, invalid_token, verify_access_token};
use super::error::{ErrorCode, OAuthError};
use super::mint;
use crate::model::OidcScope;
use crate::store::users;

/// `GET/POST /userinfo`: the user's claims for the token's scopes.
pub async fn userinfo(p: &Provider, presented: &Presented) -> Result<Value, OAuthError> {
    let audience = mint::userinfo_audience(p);
    let claims = verify_access_token(p, presented, &audience).await?;
    if !claims.has_scope(OidcScope::Openid.as_str()) {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "UserInfo needs the openid scope",
        ));
    }
    let id = claims
        .user_id()
        .ok_or_else(|| invalid_token("the token's sub is not a user"))?;
    let mut conn = p.pool.acquire().await?;
    let user = users::find(&mut conn, id)
        .await?
        .filter(|u| u.is_enabled())
        .ok_or_else(|| invalid_token("the user is disabled or gone"))?;
    let scopes: Vec<String> = claims.scopes().map(str::to_owned).collect();
    let mut out = mint::user_claims(&user, &scopes);
    out.insert("sub".into(), json!(claims.sub));
    Ok(Value::Object(out))
}
