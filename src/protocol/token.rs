//! The token endpoint's authorization_code and refresh_token grants
//! (RFC 6749 §4.1.3 and §6, RFC 7636 §4.6, OIDC Core §3.1.3 and §12).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Provider;
use super::authorize::is_pkce_value;
use super::client_auth::{self, Basic};
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use super::resource::{self, Api, Subject};
use super::tokens::{self, AccessTokenClaims, IdTokenClaims};
use crate::crypto::{Alg, secret};
use crate::model::{Audience, Client, GrantType, OidcScope};
use crate::store::audit::{self, NewEvent};
use crate::store::grants::{self, GrantRow};
use crate::store::refresh_tokens::{self, RefreshRow};
use crate::store::{codes, consents, sessions, users};

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// The access token's algorithm (for metrics; not sent).
    #[serde(skip)]
    pub signed_with: crate::crypto::Alg,
    pub access_token: String,
    /// RFC 8693 §2.2.1, for token exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// `POST /token`: authenticate the client first, then the grant.
pub async fn exchange(p: &Provider, basic: &Basic, params: &Params) -> Result<TokenResponse, OAuthError> {
    let client = client_auth::authenticate(p, basic, params)?;
    let grant_type = params
        .one("grant_type")?
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    let grant: GrantType = grant_type.parse().map_err(|_| {
        OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant_type `{grant_type}` is not supported"),
        )
    })?;
    if !client.has_grant(grant) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("this client may not use {grant}"),
        ));
    }
    let response = match grant {
        GrantType::AuthorizationCode => authorization_code(p, &client, params).await,
        GrantType::RefreshToken => refresh(p, &client, params).await,
        GrantType::ClientCredentials => super::client_credentials::issue(p, &client, params),
        GrantType::TokenExchange => super::exchange::exchange(p, &client, params).await,
    }?;
    p.counters
        .count(p.now(), grant.as_str(), response.signed_with, &client.client_id);
    Ok(response)
}

/// RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) == code_challenge.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    secret::constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

async fn authorization_code(p: &Provider, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
    let code = params
        .one("code")?
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let redirect_uri = params
        .one("redirect_uri")?
        .ok_or_else(|| OAuthError::invalid_request("redirect_uri is required"))?;
    let verifier = params.one("code_verifier")?;
    let now = p.now();
    let code_hash = secret::sha256(code);
    let mut tx = p.pool.begin().await?;
    let Some(row) = codes::redeem(&mut tx, &code_hash, now).await? else {
        // RFC 6749 §4.1.2: a code used twice revokes what it issued.
        if let Some(used) = codes::find(&mut tx, &code_hash).await? {
            if let Some(grant_id) = used.grant_id {
                grants::revoke(&mut tx, grant_id, "authorization code reused", now).await?;
                reuse_event(p, &mut tx, "code_reuse", client, used.user_id, grant_id, now).await?;
                tx.commit().await?;
            }
            return Err(OAuthError::invalid_grant(
                "the code was already used; its tokens are revoked",
            ));
        }
        return Err(OAuthError::invalid_grant("unknown code"));
    };
    check_redemption(&row, client, redirect_uri, verifier, now)?;
    let user = users::find(&mut tx, row.user_id)
        .await?
        .filter(|u| u.is_enabled())
        .ok_or_else(|| OAuthError::invalid_grant("the user is disabled"))?;
    let consent_id = consents::find(&mut tx, user.id, &client.client_id).await?.map(|c| c.id);
    let offline = row.scopes.iter().any(|s| s == OidcScope::OfflineAccess.as_str());
    let refreshable = client.has_grant(GrantType::RefreshToken);
    // The last moment it can issue a token: its refresh family's absolute
    // expiry, or now when it issues only this once.
    let refresh_until = now + p.config.lifetimes.refresh_token_max;
    let grant = GrantRow {
        id: Uuid::now_v7(),
        user_id: user.id,
        client_id: client.client_id.clone(),
        session_id: row.session_id,
        consent_id,
        scopes: row.scopes.clone(),
        resources: row.resources.clone(),
        api_scopes: row.api_scopes.clone(),
        claims: row.claims.clone(),
        auth_time: row.auth_time,
        offline,
        created_at: now,
        revoked_at: None,
        grant_type: GrantType::AuthorizationCode.as_str().to_owned(),
        parent_grant_id: None,
        expires_at: Some(if refreshable { refresh_until } else { now }),
    };
    grants::insert(&mut tx, &grant).await?;
    codes::set_grant(&mut tx, &code_hash, grant.id).await?;
    let sid = match row.session_id {
        Some(id) => sessions::find_sid(&mut tx, id).await?,
        None => None,
    };
    let refresh_token = match refreshable {
        true => Some(new_refresh_token(p, &mut tx, &grant, &grant.scopes, refresh_until).await?),
        false => None,
    };
    let target = api_target(p, &grant, params)?;
    let scopes = match &target {
        Some((_, api_scopes)) => api_scopes.clone(),
        None => grant.scopes.clone(),
    };
    let response = respond(
        p,
        client,
        &user,
        &grant,
        target.as_ref().map(|(api, _)| api.as_ref()),
        &scopes,
        row.nonce.as_deref(),
        sid.as_deref(),
        refresh_token,
    )?;
    // The code is spent only with the tokens in hand: if signing failed, the
    // transaction rolls back and a retry redeems it (no false reuse).
    tx.commit().await?;
    Ok(response)
}

/// RFC 6749 §4.1.3: the code is this client's, not expired, redeemed with
/// the authorization request's `redirect_uri`; RFC 7636 §4.6: with the
/// verifier of its challenge, if it has one, and only then.
fn check_redemption(
    row: &codes::CodeRow,
    client: &Client,
    redirect_uri: &str,
    verifier: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), OAuthError> {
    if row.client_id != client.client_id {
        return Err(OAuthError::invalid_grant("the code was issued to another client"));
    }
    if row.expires_at <= now {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    if row.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request's",
        ));
    }
    match (&row.code_challenge, verifier) {
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        (Some(challenge), Some(v)) if !is_pkce_value(v) || !pkce_matches(v, challenge) => Err(
            OAuthError::invalid_grant("code_verifier does not match the code_challenge"),
        ),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "the code was issued without a code_challenge",
        )),
        _ => Ok(()),
    }
}

/// An API and the scopes of it a grant covers.
type ApiTarget = (Arc<Api>, Vec<String>);

/// The API the access token is for (RFC 8707 §2.2): the one `resource` names
/// at /token — it must be one the grant covers — or the only one named at
/// /authorize; `None` means the UserInfo token. Returns the grant's scopes of it.
fn api_target(p: &Provider, grant: &GrantRow, params: &Params) -> Result<Option<ApiTarget>, OAuthError> {
    let named = params.all("resource");
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
async fn reuse_event(
    p: &Provider,
    conn: &mut sqlx::PgConnection,
    kind: &str,
    client: &Client,
    user_id: Uuid,
    grant_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
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

async fn new_refresh_token(
    p: &Provider,
    conn: &mut sqlx::PgConnection,
    grant: &GrantRow,
    scopes: &[String],
    expires_at: chrono::DateTime<chrono::Utc>,
) -> Result<String, OAuthError> {
    let now = p.now();
    let token = secret::random_token(&mut rand::rng());
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

/// The access token (for the API, or else for UserInfo), the id_token (when
/// `openid` was granted) and the refresh token.
#[allow(clippy::too_many_arguments)]
fn respond(
    p: &Provider,
    client: &Client,
    user: &users::UserRow,
    grant: &GrantRow,
    api: Option<&Api>,
    scopes: &[String],
    nonce: Option<&str>,
    sid: Option<&str>,
    refresh_token: Option<String>,
) -> Result<TokenResponse, OAuthError> {
    let sub = user.id.to_string();
    let access = match api {
        Some(api) => {
            if resource::is_admin_api(p, &api.audience) && !user.is_admin {
                return Err(resource::not_an_administrator());
            }
            if scopes.is_empty() {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "no scope of this API was granted",
                ));
            }
            let who = Subject {
                sub: &sub,
                client_id: &client.client_id,
                auth_time: Some(grant.auth_time),
                grant_id: Some(grant.id),
                not_after: None,
            };
            resource::mint(p, api, &who, scopes)?
        }
        None => {
            let audience = tokens::userinfo_audience(p);
            tokens::access_token(
                p,
                &AccessTokenClaims {
                    audience: &audience,
                    alg: Alg::ES256,
                    lifetime: p.config.lifetimes.access_token,
                    sub: &sub,
                    client_id: &client.client_id,
                    scopes,
                    auth_time: Some(grant.auth_time),
                    grant_id: Some(grant.id),
                },
            )?
        }
    };
    let id_token = match grant.scopes.iter().any(|s| s == OidcScope::Openid.as_str()) {
        true => Some(tokens::id_token(
            p,
            &IdTokenClaims {
                client,
                user,
                scopes: &grant.scopes,
                auth_time: grant.auth_time,
                nonce,
                sid,
                access_token: Some(&access.token),
            },
        )?),
        false => None,
    };
    Ok(TokenResponse {
        signed_with: access.alg,
        access_token: access.token,
        issued_token_type: None,
        token_type: "Bearer",
        expires_in: access.expires_in,
        scope: access.scope,
        id_token,
        refresh_token,
    })
}

async fn refresh(p: &Provider, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
    let token = params
        .one("refresh_token")?
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let now = p.now();
    let hash = secret::sha256(token);
    let mut tx = p.pool.begin().await?;
    let row = refresh_tokens::find_for_update(&mut tx, &hash)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("unknown refresh token"))?;
    let grant = grants::find(&mut tx, row.grant_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("unknown refresh token"))?;
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if row.rotated_at.is_some() {
        // RFC 9700 §4.14.2: a rotated token used again means it leaked; revoke the family.
        grants::revoke(&mut tx, grant.id, "refresh token reused", now).await?;
        reuse_event(p, &mut tx, "refresh_token_reuse", client, grant.user_id, grant.id, now).await?;
        tx.commit().await?;
        return Err(OAuthError::invalid_grant(
            "the refresh token was already used; its grant is revoked",
        ));
    }
    if row.revoked_at.is_some() || grant.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant("the refresh token is revoked"));
    }
    if row.idle_expires_at <= now || row.expires_at <= now {
        return Err(OAuthError::invalid_grant("the refresh token has expired"));
    }
    let user = users::find(&mut tx, grant.user_id)
        .await?
        .filter(|u| u.is_enabled())
        .ok_or_else(|| OAuthError::invalid_grant("the user is disabled"))?;
    // OIDC Core §11: without offline_access, refresh ends with the sign-in session.
    if !grant.offline {
        let idle = p.config.lifetimes.session_idle.num_seconds();
        let live = match grant.session_id {
            Some(id) => sessions::is_live(&mut tx, id, now, idle).await?,
            None => false,
        };
        if !live {
            return Err(OAuthError::invalid_grant("the sign-in session has ended"));
        }
    }
    // RFC 6749 §6: a narrower scope narrows the new access token only.
    let target = api_target(p, &grant, params)?;
    let scopes: Vec<String> = match (&target, params.one("scope")?) {
        (Some((_, api_scopes)), asked) => resource::downscope(asked, api_scopes)?,
        (None, None) => grant.scopes.clone(),
        (None, Some(raw)) => {
            let asked: Vec<String> = raw.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
            if let Some(extra) = asked.iter().find(|s| !grant.scopes.contains(s)) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("scope `{extra}` was not granted"),
                ));
            }
            grant.scopes.iter().filter(|s| asked.contains(s)).cloned().collect()
        }
    };
    refresh_tokens::mark_rotated(&mut tx, &hash, now).await?;
    let new_token = new_refresh_token(p, &mut tx, &grant, &grant.scopes, row.expires_at).await?;
    let sid = match grant.session_id {
        Some(id) => sessions::find_sid(&mut tx, id).await?,
        None => None,
    };
    // OIDC Core §12.2: a new id_token with the same sub, aud, auth_time and sid; no nonce.
    let api = target.as_ref().map(|(api, _)| api.as_ref());
    let response = respond(
        p,
        client,
        &user,
        &grant,
        api,
        &scopes,
        None,
        sid.as_deref(),
        Some(new_token),
    )?;
    // Rotated only with the new tokens in hand (as for the code).
    tx.commit().await?;
    Ok(response)
}
