//! Token introspection (RFC 7662): a client may introspect tokens issued to it,
//! and an API's resource-server clients may introspect tokens for that API;
//! every other token — expired, revoked, signed-out, malformed, foreign, not
//! yours, an id_token — answers `{"active": false}` and nothing else (§2.2, §4).

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Provider;
use super::client_auth::{self, Basic};
use super::error::OAuthError;
use super::params::Params;
use crate::crypto::secret;
use crate::model::Client;
use crate::store::{grants, refresh_tokens, revoked_access_tokens, sessions, users};

pub async fn introspect(p: &Provider, basic: &Basic, params: &Params) -> Result<Value, OAuthError> {
    // RFC 7662 §2.1: the caller authenticates; a public client cannot.
    let client = client_auth::authenticate_confidential(p, basic, params)?;
    let token = params
        .one("token")?
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    // `token_type_hint` is only a hint (§2.1): the token's form decides.
    let answer = match token.split('.').count() {
        3 => access_token(p, &client, token).await?,
        _ => refresh_token(p, &client, token).await?,
    };
    Ok(answer.map(Value::Object).unwrap_or_else(|| json!({ "active": false })))
}

async fn access_token(p: &Provider, client: &Client, token: &str) -> Result<Option<Map<String, Value>>, OAuthError> {
    let Ok(verified) = p.keys.verify(token) else {
        return Ok(None);
    };
    let is_access = verified.is_access_token();
    let claims = verified.claims;
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let (Some(aud), Some(client_id), Some(sub), Some(exp)) = (
        text("aud"),
        text("client_id"),
        text("sub"),
        claims.get("exp").and_then(Value::as_i64),
    ) else {
        return Ok(None);
    };
    if !is_access || text("iss").as_deref() != Some(p.config.issuer.as_str()) || exp <= p.now().timestamp() {
        return Ok(None);
    }
    let may = client_id == client.client_id || p.catalog.is_resource_server(&aud, &client.client_id);
    if !may {
        return Ok(None);
    }
    let mut conn = p.pool.acquire().await?;
    // Revoked with its grant, or — without one — through the jti deny-list.
    if let Some(grant) = text("grant_id") {
        let Ok(id) = Uuid::parse_str(&grant) else {
            return Ok(None);
        };
        if grants::find(&mut conn, id)
            .await?
            .is_none_or(|g| g.revoked_at.is_some())
        {
            return Ok(None);
        }
    } else if let Some(jti) = text("jti").and_then(|j| Uuid::parse_str(&j).ok())
        && revoked_access_tokens::is_revoked(&mut conn, jti).await?
    {
        return Ok(None);
    }
    let mut out = Map::new();
    if let Ok(user_id) = Uuid::parse_str(&sub) {
        let Some(user) = users::find(&mut conn, user_id).await?.filter(|u| u.is_enabled()) else {
            return Ok(None);
        };
        out.insert("username".into(), json!(user.username));
    }
    out.insert("active".into(), json!(true));
    for name in ["scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti"] {
        if let Some(v) = claims.get(name) {
            out.insert(name.into(), v.clone());
        }
    }
    out.insert("token_type".into(), json!("Bearer"));
    Ok(Some(out))
}

async fn refresh_token(p: &Provider, client: &Client, token: &str) -> Result<Option<Map<String, Value>>, OAuthError> {
    let now = p.now();
    let mut tx = p.pool.begin().await?;
    let Some(row) = refresh_tokens::find_for_update(&mut tx, &secret::sha256(token)).await? else {
        return Ok(None);
    };
    let Some(grant) = grants::find(&mut tx, row.grant_id).await? else {
        return Ok(None);
    };
    // Only the client it was issued to: resource servers never see refresh tokens.
    let live = grant.client_id == client.client_id
        && row.rotated_at.is_none()
        && row.revoked_at.is_none()
        && grant.revoked_at.is_none()
        && row.idle_expires_at > now
        && row.expires_at > now;
    if !live {
        return Ok(None);
    }
    if !grant.offline {
        let idle = p.config.lifetimes.session_idle.num_seconds();
        let session_live = match grant.session_id {
            Some(id) => sessions::is_live(&mut tx, id, now, idle).await?,
            None => false,
        };
        if !session_live {
            return Ok(None);
        }
    }
    let Some(user) = users::find(&mut tx, grant.user_id).await?.filter(|u| u.is_enabled()) else {
        return Ok(None);
    };
    let mut out = Map::new();
    out.insert("active".into(), json!(true));
    out.insert("scope".into(), json!(row.scopes.join(" ")));
    out.insert("client_id".into(), json!(grant.client_id));
    out.insert("sub".into(), json!(user.id.to_string()));
    out.insert("username".into(), json!(user.username));
    out.insert("iss".into(), json!(p.config.issuer.as_str()));
    out.insert("exp".into(), json!(row.idle_expires_at.min(row.expires_at).timestamp()));
    if let Some(created) = row.created_at {
        out.insert("iat".into(), json!(created.timestamp()));
    }
    out.insert("token_type".into(), json!("refresh_token"));
    Ok(Some(out))
}
