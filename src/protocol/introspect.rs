//! Token introspection (RFC 7662): a client may introspect tokens issued to it,
//! and an API's resource-server clients may introspect tokens for that API;
//! every other token — expired, revoked, signed-out, malformed, foreign, not
//! yours, an id_token — answers `{"active": false}` and nothing else (§2.2, §4).

use serde_json::{Map, Value, json};

use super::client_auth::{self, Basic};
use super::error::OAuthError;
use super::params::Params;
use super::{Provider, bearer};
use crate::crypto::secret;
use crate::model::Client;
use crate::model::claims::AccessTokenClaims;
use crate::model::lifecycle::RefreshState;
use crate::store::{grants, refresh_tokens, sessions, users};

pub async fn introspect(p: &Provider, basic: &Basic, params: &Params) -> Result<Value, OAuthError> {
    // RFC 7662 §2.1: the caller authenticates; a public client cannot.
    let client = client_auth::authenticate_confidential(p, basic, params, crate::paths::INTROSPECT).await?;
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
    let Ok(claims) = p.keys.verify_as::<AccessTokenClaims>(token, &p.expect()) else {
        return Ok(None);
    };
    let may = claims.client_id == client.client_id || p.catalog.is_resource_server(&claims.aud, &client.client_id);
    if !may || bearer::is_revoked(p, &claims).await? {
        return Ok(None);
    }
    let mut out = Map::new();
    if let Some(user_id) = claims.user_id() {
        let mut conn = p.pool.acquire().await?;
        let Some(user) = users::find(&mut conn, user_id).await?.filter(|u| u.is_enabled()) else {
            return Ok(None);
        };
        out.insert("username".into(), json!(user.username));
    }
    out.insert("active".into(), json!(true));
    let AccessTokenClaims {
        scope,
        client_id,
        sub,
        aud,
        iss,
        exp,
        iat,
        jti,
        cnf,
        act,
        acr,
        amr,
        ..
    } = claims;
    // RFC 9449 §6.2: a key-bound token says so, and names its key.
    let token_type = if cnf.is_some() { "DPoP" } else { "Bearer" };
    if let Some(cnf) = cnf {
        out.insert("cnf".into(), json!(cnf));
    }
    // How the user signed in (RFC 9068 §2.2.1, RFC 8176), as in the token.
    if let Some(acr) = acr {
        out.insert("acr".into(), json!(acr));
        out.insert("amr".into(), json!(amr));
    }
    // RFC 8693 §4.1: a delegated token's actors, as in the token.
    if let Some(act) = act {
        out.insert("act".into(), json!(act));
    }
    out.extend([
        ("scope".into(), json!(scope)),
        ("client_id".into(), json!(client_id)),
        ("sub".into(), json!(sub)),
        ("aud".into(), json!(aud)),
        ("iss".into(), json!(iss)),
        ("exp".into(), json!(exp)),
        ("iat".into(), json!(iat)),
        ("jti".into(), json!(jti)),
        ("token_type".into(), json!(token_type)),
    ]);
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
    let live = grant.client_id == client.client_id && row.state(&grant, now) == RefreshState::Live;
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
