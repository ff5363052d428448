//! The authorization_code grant (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core
//! §3.1.3): a code is spent once, by its client, with its redirect URI and
//! PKCE verifier, and becomes a grant with its first tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::user_grant::{self, Issue};
use super::{CodeRequest, TokenResponse};
use crate::crypto::secret;
use crate::model::{Client, GrantType, OidcScope};
use crate::protocol::Provider;
use crate::protocol::authorize::is_pkce_value;
use crate::protocol::dpop::{self, Proof};
use crate::protocol::error::OAuthError;
use crate::store::codes::{self, CodeRow};
use crate::store::grants::{self, GrantRow};
use crate::store::{consents, logout_outbox, users};

/// Redeems the code: the grant it becomes, an access token (for the API it
/// names, or UserInfo), the id_token and — if the client refreshes — a
/// refresh token.
/// A code issued with `dpop_jkt`, or redeemed with a DPoP proof, binds the
/// grant to that key (RFC 9449 §10, §5).
pub async fn redeem(
    p: &Provider,
    client: &Client,
    req: &CodeRequest,
    proof: Option<&Proof>,
) -> Result<TokenResponse, OAuthError> {
    let now = p.now();
    let code_hash = secret::sha256(&req.code);
    let mut tx = p.pool.begin().await?;
    let row = match spend(p, &mut tx, client, &code_hash, now).await? {
        Spent::Now(row) => *row,
        Spent::Before => {
            tx.commit().await?;
            return Err(OAuthError::invalid_grant(
                "the code was already used; its tokens are revoked",
            ));
        }
        Spent::Unknown => return Err(OAuthError::invalid_grant("unknown code")),
    };
    check_redemption(&row, client, &req.redirect_uri, req.code_verifier.as_deref(), now)?;
    let jkt = dpop::binding(row.dpop_jkt.as_deref(), proof, "the code")?;
    let user = users::find(&mut tx, row.user_id)
        .await?
        .filter(|u| u.is_enabled())
        .ok_or_else(|| OAuthError::invalid_grant("the user is disabled"))?;
    let redeemed = Redeemed {
        code_hash: &code_hash,
        row: &row,
        user_id: user.id,
        jkt,
        now,
    };
    let (grant, refresh_token) = start_grant(p, &mut tx, client, &redeemed).await?;
    let sid = user_grant::sid_of(&mut tx, row.session_id).await?;
    let target = user_grant::api_target(p, &grant, &req.resources)?;
    let scopes = target.as_ref().map_or(&grant.scopes, |(_, api_scopes)| api_scopes);
    let response = user_grant::respond(
        p,
        &Issue {
            client,
            user: &user,
            grant: &grant,
            api: target.as_ref().map(|(api, _)| api.as_ref()),
            scopes,
            nonce: row.nonce.as_deref(),
            sid: sid.as_deref(),
            refresh_token,
            proof,
        },
    )?;
    // The code is spent only with the tokens in hand: if signing failed, the
    // transaction rolls back and a retry redeems it (no false reuse).
    tx.commit().await?;
    Ok(response)
}

/// A code just redeemed, for its user, bound to `jkt` (or not).
struct Redeemed<'a> {
    code_hash: &'a [u8],
    row: &'a CodeRow,
    user_id: Uuid,
    jkt: Option<&'a str>,
    now: DateTime<Utc>,
}

/// The grant a redeemed code becomes, written with the code pointing at it,
/// and its first refresh token if the client refreshes.
async fn start_grant(
    p: &Provider,
    tx: &mut sqlx::PgConnection,
    client: &Client,
    r: &Redeemed<'_>,
) -> Result<(GrantRow, Option<String>), OAuthError> {
    let consent_id = consents::find(tx, r.user_id, &client.client_id).await?.map(|c| c.id);
    let refreshable = client.has_grant(GrantType::RefreshToken);
    // The last moment it can issue a token: its refresh family's absolute
    // expiry, or now when it issues only this once.
    let refresh_until = r.now + p.config.lifetimes.refresh_token_max;
    let until = if refreshable { refresh_until } else { r.now };
    let grant = GrantRow {
        dpop_jkt: r.jkt.map(str::to_owned),
        ..grant_of(r.row, client, r.user_id, consent_id, r.now, until)
    };
    grants::insert(tx, &grant).await?;
    codes::set_grant(tx, r.code_hash, grant.id).await?;
    // Tokens in a session that has ended meanwhile: its logout is owed too
    // (Back-Channel Logout §2.5).
    if let Some(session_id) = r.row.session_id {
        logout_outbox::enqueue_if_ended(tx, session_id, &client.client_id, r.now).await?;
    }
    let refresh_token = match refreshable {
        true => Some(user_grant::new_refresh_token(p, tx, &grant, &grant.scopes, refresh_until).await?),
        false => None,
    };
    Ok((grant, refresh_token))
}

/// A code at redemption: issued → redeemed happens once.
enum Spent {
    /// Redeemed by this request.
    Now(Box<CodeRow>),
    /// Redeemed before: its grant is now revoked (RFC 6749 §4.1.2).
    Before,
    Unknown,
}

/// Marks the code redeemed and returns it; a code redeemed before revokes
/// what it issued, to be committed by the caller.
async fn spend(
    p: &Provider,
    tx: &mut sqlx::PgConnection,
    client: &Client,
    code_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Spent, OAuthError> {
    if let Some(row) = codes::redeem(tx, code_hash, now).await? {
        return Ok(Spent::Now(Box::new(row)));
    }
    let Some(used) = codes::find(tx, code_hash).await? else {
        return Ok(Spent::Unknown);
    };
    if let Some(grant_id) = used.grant_id {
        grants::revoke(tx, grant_id, "authorization code reused", now).await?;
        user_grant::reuse_event(p, tx, "code_reuse", client, used.user_id, grant_id, now).await?;
    }
    Ok(Spent::Before)
}

/// RFC 6749 §4.1.3: the code is this client's, not expired, redeemed with
/// the authorization request's `redirect_uri`; RFC 7636 §4.6: with the
/// verifier of its challenge, if it has one, and only then.
fn check_redemption(
    row: &CodeRow,
    client: &Client,
    redirect_uri: &str,
    verifier: Option<&str>,
    now: DateTime<Utc>,
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

/// RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) == code_challenge.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    secret::constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

/// The grant a redeemed code becomes, for `user` — resting on its sign-in
/// session, living until `expires_at`.
fn grant_of(
    row: &CodeRow,
    client: &Client,
    user_id: Uuid,
    consent_id: Option<Uuid>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> GrantRow {
    GrantRow {
        id: Uuid::now_v7(),
        user_id,
        client_id: client.client_id.clone(),
        session_id: row.session_id,
        consent_id,
        scopes: row.scopes.clone(),
        resources: row.resources.clone(),
        api_scopes: row.api_scopes.clone(),
        claims: row.claims.clone(),
        auth_time: row.auth_time,
        offline: row.scopes.iter().any(|s| s == OidcScope::OfflineAccess.as_str()),
        created_at: now,
        revoked_at: None,
        grant_type: GrantType::AuthorizationCode.as_str().to_owned(),
        parent_grant_id: None,
        expires_at: Some(expires_at),
        dpop_jkt: None,
        amr: row.amr.clone(),
    }
}
