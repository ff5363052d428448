//! Delegation down a chain of APIs (RFC 8693 §2.1, §4.1): a client registered
//! as a resource server of API A exchanges an access token issued for A for
//! one to API B, on the same user's behalf, with `act` naming who acts.

use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;

use super::{ACCESS_TOKEN_TYPE, Decision, ExchangeRequest};
use crate::model::claims::{AccessTokenClaims, Actor};
use crate::model::lifecycle::GrantState;
use crate::model::{Client, GrantType};
use crate::protocol::Provider;
use crate::protocol::api_tokens;
use crate::protocol::dpop::Proof;
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::mint::AccessTokenFor;
use crate::protocol::token::TokenResponse;
use crate::store::grants::{self, GrantRow};

fn bad_subject(why: &str) -> OAuthError {
    OAuthError::invalid_request(format!("the subject token is not acceptable: {why}"))
}

/// Exchanges a user's access token for API A (`subject_token_type`
/// `…:access_token`) for a token to the API the request names. The caller
/// must be one of A's resource servers and be allowed the scopes of the
/// target; the new token keeps the user's `sub`, adds the caller as the
/// current actor (`act`, the subject's own `act` nested inside: RFC 8693
/// §4.1), never outlives the subject token, rests on a grant whose parent is
/// the subject's — revoking the user's grant ends the whole chain — and is
/// bound to the caller's DPoP key when it sends a proof (RFC 9449 §5) —
/// which it must when the subject token is bound. The target is another API
/// than the subject's.
pub async fn delegate(
    p: &Provider,
    client: &Client,
    req: &ExchangeRequest,
    proof: Option<&Proof>,
    d: &mut Decision,
) -> Result<TokenResponse, OAuthError> {
    let (subject, user_id) = verify_subject(p, client, req, d)?;
    let api = next_api(p, client, req, &subject, d)?;
    api_tokens::admit(p, client, &api, proof, Some(&subject.amr))?;
    let allowance = p.catalog.allowed_scopes(&client.client_id, &api.audience);
    let scopes = api_tokens::downscope(req.scope.as_deref(), &allowance)?;
    d.scopes = scopes.clone();
    let parent_id = subject.grant_id.ok_or_else(|| bad_subject("it rests on no grant"))?;
    // The binding follows the grant: a bound subject is delegated only
    // bound, to the key of the caller's proof (the caller cannot hold the
    // key of the client it was called by).
    if subject.cnf.is_some() && proof.is_none() {
        return Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "the subject token is bound to a DPoP key: delegate it with a DPoP proof of your own key",
        ));
    }
    let jkt = proof.map(|p| p.jkt.clone());
    d.jkt = jkt.clone();
    // Never outliving the subject token: at most until its `exp`.
    let until = chrono::DateTime::from_timestamp(subject.exp, 0)
        .filter(|&end| end - p.now() >= chrono::TimeDelta::seconds(1))
        .ok_or_else(|| bad_subject("it expires within a second"))?;
    let grant = write_grant(
        p,
        client,
        (&api.audience, &scopes),
        parent_id,
        jkt.clone(),
        &subject.amr,
    )
    .await?;
    let act = Actor {
        sub: client.client_id.clone(),
        act: subject.act.clone().map(Box::new),
    };
    let sub = user_id.to_string();
    let holder = AccessTokenFor {
        sub: &sub,
        client_id: &client.client_id,
        scopes: &scopes,
        auth_time: Some(grant.auth_time),
        grant_id: Some(grant.id),
        jkt: jkt.as_deref(),
        act: Some(&act),
        amr: Some(&grant.amr),
    };
    let token = api_tokens::mint(p, &api, &holder, Some(until))?;
    Ok(TokenResponse {
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
        ..TokenResponse::of(token)
    })
}

/// The subject: any API's access token of ours (signature, `typ` at+jwt,
/// `iss`, not expired), a user's, for an API the confidential caller is a
/// resource server of. Returns it with its user.
fn verify_subject(
    p: &Provider,
    client: &Client,
    req: &ExchangeRequest,
    d: &mut Decision,
) -> Result<(AccessTokenClaims, Uuid), OAuthError> {
    if client.is_public() {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "a public client cannot delegate: it cannot authenticate",
        ));
    }
    let subject: AccessTokenClaims = p
        .keys
        .verify_as(&req.subject_token, &p.expect())
        .map_err(|e| bad_subject(&e.to_string()))?;
    d.subject_client = Some(subject.client_id.clone());
    let user_id = subject
        .user_id()
        .ok_or_else(|| bad_subject("it is a service's own token; only a user's token can be delegated"))?;
    d.user_id = Some(user_id);
    if !p.catalog.is_resource_server(&subject.aud, &client.client_id) {
        return Err(bad_subject(&format!(
            "this client is not a resource server of its API `{}`",
            subject.aud
        )));
    }
    Ok((subject, user_id))
}

/// The API the delegation is for: one the caller may get tokens for, other
/// than the subject's own (back to it a delegation would only trade the
/// user's scopes for the caller's allowance there), never the admin API.
fn next_api(
    p: &Provider,
    client: &Client,
    req: &ExchangeRequest,
    subject: &AccessTokenClaims,
    d: &mut Decision,
) -> Result<Arc<api_tokens::Api>, OAuthError> {
    if req.api_names.is_empty() {
        return Err(OAuthError::invalid_request(
            "name the API with `resource` or `audience`",
        ));
    }
    let api = api_tokens::target(p, client, &req.api_names)?;
    d.api = Some(api.audience.clone());
    if api.audience == subject.aud {
        return Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            "a delegation is for the next API, not the subject token's own",
        ));
    }
    if api_tokens::is_admin_api(p, &api.audience) {
        return Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            "the admin API is not reachable by delegation",
        ));
    }
    Ok(api)
}

/// The delegation's grant, for `(audience, scopes)`: the subject's grant is
/// its parent (live at the moment of writing, share-locked:
/// `grants::insert_if_standing`), whose user, session, consent, sign-in time
/// and end it takes; how the person signed in is the subject token's `amr`,
/// the one its level was judged by.
async fn write_grant(
    p: &Provider,
    client: &Client,
    (audience, scopes): (&str, &[String]),
    parent_id: Uuid,
    jkt: Option<String>,
    amr: &[String],
) -> Result<GrantRow, OAuthError> {
    let mut conn = p.pool.acquire().await?;
    let parent = grants::find(&mut conn, parent_id)
        .await?
        .filter(|g| g.state() == GrantState::Live)
        .ok_or_else(|| bad_subject("its grant is revoked"))?;
    let now = p.now();
    let grant = GrantRow {
        id: Uuid::now_v7(),
        user_id: parent.user_id,
        client_id: client.client_id.clone(),
        session_id: parent.session_id,
        consent_id: parent.consent_id,
        scopes: scopes.to_vec(),
        resources: vec![audience.to_owned()],
        api_scopes: json!({ audience: scopes }),
        claims: None,
        auth_time: parent.auth_time,
        offline: false,
        created_at: now,
        revoked_at: None,
        grant_type: GrantType::TokenExchange.as_str().to_owned(),
        parent_grant_id: Some(parent.id),
        expires_at: parent.expires_at,
        dpop_jkt: jkt,
        amr: amr.to_vec(),
    };
    let idle = p.config.lifetimes.session_idle.num_seconds();
    match grants::insert_if_standing(&mut conn, &grant, idle).await? {
        true => Ok(grant),
        false => Err(bad_subject("its grant has just been revoked")),
    }
}
