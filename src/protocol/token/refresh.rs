//! The refresh_token grant (RFC 6749 §6, OIDC Core §12): a live refresh
//! token is rotated for a new one (RFC 9700 §4.14.2); a rotated one used
//! again revokes its whole grant.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::user_grant::{self, Issue};
use super::{RefreshRequest, TokenResponse};
use crate::crypto::secret;
use crate::model::Client;
use crate::model::lifecycle::RefreshState;
use crate::protocol::Provider;
use crate::protocol::api_tokens::{self, Api};
use crate::protocol::dpop::{self, Proof};
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::params;
use crate::store::grants::{self, GrantRow};
use crate::store::refresh_tokens::{self, RefreshRow};
use crate::store::{sessions, users};

/// A bound grant's refresh token needs a proof of its key, whatever the
/// client (RFC 9449 §5 asks it of public clients; Lanyard of every one).
pub async fn refresh(
    p: &Provider,
    client: &Client,
    req: &RefreshRequest,
    proof: Option<&Proof>,
) -> Result<TokenResponse, OAuthError> {
    let now = p.now();
    let hash = secret::sha256(&req.refresh_token);
    let mut tx = p.pool.begin().await?;
    let (row, grant) = match take(p, &mut tx, client, &hash, now).await? {
        Taken::Live(taken) => *taken,
        Taken::Reused => {
            tx.commit().await?;
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; its grant is revoked",
            ));
        }
    };
    let grant = bound(&mut tx, client, grant, proof).await?;
    let user = users::find(&mut tx, grant.user_id)
        .await?
        .filter(|u| u.is_enabled())
        .ok_or_else(|| OAuthError::invalid_grant("the user is disabled"))?;
    // OIDC Core §11: without offline_access, refresh ends with the sign-in session.
    if !grant.offline && !session_live(p, &mut tx, &grant).await? {
        return Err(OAuthError::invalid_grant("the sign-in session has ended"));
    }
    let target = user_grant::api_target(p, &grant, &req.resources)?;
    let asked = params::single("scope", &req.scope)?;
    let scopes = narrowed_scopes(&grant, target.as_ref().map(|(_, s)| s.as_slice()), asked)?;
    refresh_tokens::rotate(&mut tx, &hash, now).await?;
    let new_token = user_grant::new_refresh_token(p, &mut tx, &grant, &grant.scopes, row.expires_at).await?;
    let sid = user_grant::sid_of(&mut tx, grant.session_id).await?;
    // OIDC Core §12.2: a new id_token with the same sub, aud, auth_time and sid; no nonce.
    let api: Option<&Arc<Api>> = target.as_ref().map(|(api, _)| api);
    let response = user_grant::respond(
        p,
        &Issue {
            client,
            user: &user,
            grant: &grant,
            api: api.map(Arc::as_ref),
            scopes: &scopes,
            nonce: None,
            sid: sid.as_deref(),
            refresh_token: Some(new_token),
            proof,
        },
    )?;
    // Rotated only with the new tokens in hand (as for the code).
    tx.commit().await?;
    Ok(response)
}

/// The grant as the proof leaves it: a bound grant needs a proof of its
/// key (`dpop::binding`), and a public client's unbound grant is bound from
/// now on to the key of the proof it refreshes with (RFC 9449 §5), its later
/// tokens with it.
async fn bound(
    tx: &mut sqlx::PgConnection,
    client: &Client,
    grant: GrantRow,
    proof: Option<&Proof>,
) -> Result<GrantRow, OAuthError> {
    dpop::binding(grant.dpop_jkt.as_deref(), proof, "the refresh token")?;
    Ok(match (client.is_public(), &grant.dpop_jkt, proof) {
        (true, None, Some(proof)) => {
            grants::bind_dpop(tx, grant.id, &proof.jkt).await?;
            GrantRow {
                dpop_jkt: Some(proof.jkt.clone()),
                ..grant
            }
        }
        _ => grant,
    })
}

/// Whether the sign-in session an online grant rests on is still live.
async fn session_live(p: &Provider, tx: &mut sqlx::PgConnection, grant: &GrantRow) -> Result<bool, OAuthError> {
    let idle = p.config.lifetimes.session_idle.num_seconds();
    Ok(match grant.session_id {
        Some(id) => sessions::is_live(tx, id, p.now(), idle).await?,
        None => false,
    })
}

/// A refresh token presented.
enum Taken {
    /// Live, this client's: it may be rotated.
    Live(Box<(RefreshRow, GrantRow)>),
    /// Rotated before: its grant is now revoked, to be committed by the caller.
    Reused,
}

/// Locks the refresh token and its grant and says what state they are in;
/// every state but live and reused is refused here.
async fn take(
    p: &Provider,
    tx: &mut sqlx::PgConnection,
    client: &Client,
    hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Taken, OAuthError> {
    let unknown = || OAuthError::invalid_grant("unknown refresh token");
    let row = refresh_tokens::find_for_update(tx, hash).await?.ok_or_else(unknown)?;
    let grant = grants::find(tx, row.grant_id).await?.ok_or_else(unknown)?;
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    match row.state(&grant, now) {
        RefreshState::Live => Ok(Taken::Live(Box::new((row, grant)))),
        // RFC 9700 §4.14.2: a rotated token used again means it leaked; revoke the family.
        RefreshState::Rotated => {
            grants::revoke(tx, grant.id, "refresh token reused", now).await?;
            user_grant::reuse_event(p, tx, "refresh_token_reuse", client, grant.user_id, grant.id, now).await?;
            Ok(Taken::Reused)
        }
        RefreshState::Revoked => Err(OAuthError::invalid_grant("the refresh token is revoked")),
        RefreshState::Expired => Err(OAuthError::invalid_grant("the refresh token has expired")),
    }
}

/// RFC 6749 §6: a narrower scope narrows the new access token only — of the
/// API's scopes the grant covers, or else of the grant's own scopes.
fn narrowed_scopes(
    grant: &GrantRow,
    api_scopes: Option<&[String]>,
    asked: Option<&str>,
) -> Result<Vec<String>, OAuthError> {
    match (api_scopes, asked) {
        (Some(api_scopes), asked) => api_tokens::downscope(asked, api_scopes),
        (None, None) => Ok(grant.scopes.clone()),
        (None, Some(raw)) => {
            let asked: Vec<&str> = raw.split(' ').filter(|s| !s.is_empty()).collect();
            if let Some(extra) = asked.iter().find(|s| !grant.scopes.iter().any(|g| g == *s)) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("scope `{extra}` was not granted"),
                ));
            }
            Ok(grant
                .scopes
                .iter()
                .filter(|s| asked.contains(&s.as_str()))
                .cloned()
                .collect())
        }
    }
}
