//! What the two grants of a signed-in user share (authorization_code and
//! refresh_token): the API a token is for (RFC 8707 §2.2), new refresh
//! tokens, reuse as an audit event, and the token response itself.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::TokenResponse;
use crate::crypto::{Alg, secret};
use crate::model::{Audience, Client, OidcScope};
use crate::protocol::Provider;
use crate::protocol::api_tokens::{self, Api};
use crate::protocol::dpop::Proof;
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::mint::{self, AccessTokenFor, IdTokenFor};
use crate::store::audit::{self, NewEvent};
use crate::store::grants::GrantRow;
use crate::store::refresh_tokens::{self, RefreshRow};
use crate::store::sessions;
use crate::store::users::UserRow;

/// An API and the scopes of it a grant covers.
pub type ApiTarget = (Arc<Api>, Vec<String>);

/// The API the access token is for (RFC 8707 §2.2): the one `resource` names
/// at /token — it must be one the grant covers — or the only one named at
/// /authorize; `None` means the UserInfo token. Returns the grant's scopes of it.
pub fn api_target(p: &Provider, grant: &GrantRow, named: &[String]) -> Result<Option<ApiTarget>, OAuthError> {
    for r in named {
        Audience::parse(r).map_err(|m| OAuthError::new(ErrorCode::InvalidTarget, m))?;
    }
    let audience = match named.first() {
        Some(first) if named.iter().any(|n| n != first) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "an access token is for exactly one API; name only one",
            ));
        }
        Some(first) if !grant.resources.contains(first) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                format!("the grant does not cover `{first}`"),
            ));
        }
        Some(first) => first.clone(),
        None if grant.resources.len() == 1 => grant.resources[0].clone(),
        None => return Ok(None),
    };
    // What the grant covers, within what the client may still get: an
    // allowance withdrawn since narrows every later token.
    let allowance = p.catalog.allowed_scopes(&grant.client_id, &audience);
    let scopes: Vec<String> = grant
        .api_scopes
        .get(&audience)
        .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|s| allowance.contains(s))
        .collect();
    let api = p.catalog.api(&audience).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::InvalidTarget,
            format!("the API `{audience}` no longer exists"),
        )
    })?;
    Ok(Some((api, scopes)))
}

/// Reuse detection is an audit event: the grant it revoked, and why.
pub async fn reuse_event(
    p: &Provider,
    conn: &mut sqlx::PgConnection,
    kind: &str,
    client: &Client,
    user_id: Uuid,
    grant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    let event = NewEvent {
        kind,
        outcome: "revoked",
        actor: None,
        client_id: Some(&client.client_id),
        user_id: Some(user_id),
        ip: None,
        reason: Some("a single-use credential was used again; its grant is revoked"),
        details: serde_json::json!({ "grant_id": grant_id }),
    };
    audit::insert(conn, &event, now).await?;
    p.metrics.reuse(kind);
    Ok(())
}

/// The `sid` of the sign-in session a grant rests on, for its id_tokens.
pub async fn sid_of(conn: &mut sqlx::PgConnection, session_id: Option<Uuid>) -> Result<Option<String>, OAuthError> {
    Ok(match session_id {
        Some(id) => sessions::find_sid(conn, id).await?,
        None => None,
    })
}

/// A new refresh token of the grant's family, stored hashed.
pub async fn new_refresh_token(
    p: &Provider,
    conn: &mut sqlx::PgConnection,
    grant: &GrantRow,
    scopes: &[String],
    expires_at: DateTime<Utc>,
) -> Result<String, OAuthError> {
    let now = p.now();
    let token = secret::random_token(&mut crate::random::rng());
    let row = RefreshRow {
        grant_id: grant.id,
        created_at: Some(now),
        scopes: scopes.to_vec(),
        idle_expires_at: (now + p.config.lifetimes.refresh_token).min(expires_at),
        expires_at,
        rotated_at: None,
        revoked_at: None,
    };
    refresh_tokens::insert(conn, &secret::sha256(&token), &row, now).await?;
    Ok(token)
}

/// What a user's grant issues in one response.
pub struct Issue<'a> {
    pub client: &'a Client,
    pub user: &'a UserRow,
    pub grant: &'a GrantRow,
    /// The API the access token is for; `None`: UserInfo.
    pub api: Option<&'a Api>,
    /// The access token's scopes.
    pub scopes: &'a [String],
    pub nonce: Option<&'a str>,
    pub sid: Option<&'a str>,
    pub refresh_token: Option<String>,
    /// The request's DPoP proof, checked against the grant's binding
    /// (`dpop::binding`): the access token is bound to its key.
    pub proof: Option<&'a Proof>,
}

/// The access token (for the API, or else for UserInfo), the id_token (when
/// `openid` was granted) and the refresh token.
pub fn respond(p: &Provider, i: &Issue<'_>) -> Result<TokenResponse, OAuthError> {
    let sub = i.user.id.to_string();
    let holder = AccessTokenFor {
        sub: &sub,
        client_id: &i.client.client_id,
        scopes: i.scopes,
        auth_time: Some(i.grant.auth_time),
        grant_id: Some(i.grant.id),
        jkt: i.proof.map(|p| p.jkt.as_str()),
        act: None,
        amr: Some(&i.grant.amr),
    };
    let access = match i.api {
        Some(api) => {
            api_tokens::admit(p, i.client, api, i.proof, Some(&i.grant.amr))?;
            if api_tokens::is_admin_api(p, &api.audience) && !i.user.is_admin {
                return Err(api_tokens::not_an_administrator());
            }
            if i.scopes.is_empty() {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "no scope of this API was granted",
                ));
            }
            api_tokens::mint(p, api, &holder, None)?
        }
        None => {
            let audience = mint::userinfo_audience(p);
            mint::access_token(p, &audience, Alg::ES256, p.config.lifetimes.access_token, &holder)?
        }
    };
    let id_token = match i.grant.scopes.iter().any(|s| s == OidcScope::Openid.as_str()) {
        true => Some(mint::id_token(
            p,
            &IdTokenFor {
                client: i.client,
                user: i.user,
                scopes: &i.grant.scopes,
                auth_time: i.grant.auth_time,
                nonce: i.nonce,
                sid: i.sid,
                access_token: Some(&access.token),
                jkt: i.grant.dpop_jkt.as_deref(),
                amr: &i.grant.amr,
                claims_request: i.grant.claims.as_ref(),
            },
        )?),
        false => None,
    };
    Ok(TokenResponse {
        id_token,
        refresh_token: i.refresh_token.clone(),
        ..TokenResponse::of(access)
    })
}
