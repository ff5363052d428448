//! RP-Initiated Logout 1.0: `id_token_hint`, `client_id`,
//! `post_logout_redirect_uri` (exactly as registered) and `state`.

use super::Provider;
use super::authorize::{MAX_ECHO_LEN, redirect_url};
use super::error::OAuthError;
use super::params::Params;
use super::session::{self, CurrentSession};
use crate::model::Client;
use crate::model::claims::IdTokenClaims;

/// A checked logout request.
#[derive(Debug, Clone)]
pub struct LogoutRequest {
    pub client: Option<Client>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    /// The `sid` of a verified `id_token_hint`.
    pub hinted_sid: Option<String>,
    pub params: Params,
}

/// Checks the request; a problem is shown on the error page (never redirected).
pub async fn parse(p: &Provider, params: Params) -> Result<LogoutRequest, String> {
    let one = |name: &str| {
        params
            .one(name)
            .map_err(|e| e.description)
            .map(|v| v.map(str::to_owned))
    };
    let hint = one("id_token_hint")?;
    let client_id = one("client_id")?;
    let post_logout = one("post_logout_redirect_uri")?;
    let state = one("state")?;
    if state.as_ref().is_some_and(|s| s.len() > MAX_ECHO_LEN) {
        return Err(format!("The state parameter is longer than {MAX_ECHO_LEN} characters."));
    }
    // A hint that does not verify is treated as absent: its claims are never
    // used (§2). It may have expired.
    let hint_claims = hint.and_then(|h| p.keys.verify_as::<IdTokenClaims>(&h, &p.expect().at_any_time()).ok());
    let hinted_client = hint_claims.as_ref().map(|c| c.aud.clone());
    let hinted_sid = hint_claims.and_then(|c| c.sid);
    if let (Some(a), Some(b)) = (&client_id, &hinted_client)
        && a != b
    {
        return Err("The client_id does not match the id_token_hint.".into());
    }
    let client = match client_id.or(hinted_client) {
        Some(id) => Some(
            // A metadata-document client as held (a logout fetches nothing).
            super::client_documents::known(p, &id).ok_or("This application is not registered with Lanyard.")?,
        ),
        None => None,
    };
    if let Some(uri) = &post_logout {
        let Some(c) = &client else {
            return Err("A post_logout_redirect_uri needs a client_id or an id_token_hint.".into());
        };
        if !c.post_logout_redirect_uris.iter().any(|r| r == uri) {
            return Err("The post_logout_redirect_uri is not registered for this application.".into());
        }
    }
    Ok(LogoutRequest {
        client: client.map(|c| c.as_ref().clone()),
        post_logout_redirect_uri: post_logout,
        state,
        hinted_sid,
        params,
    })
}

/// A GET whose verified hint names the current session needs no confirmation;
/// anything else that would end a session asks first (a cross-site POST
/// arrives without the cookie, so it always confirms).
pub fn needs_confirmation(req: &LogoutRequest, session: Option<&CurrentSession>, is_get: bool) -> bool {
    match session {
        None => false,
        Some(s) => !(is_get && req.hinted_sid.as_deref() == Some(s.sid.as_str())),
    }
}

/// Ends the session (if any) and says where to go: the client's URI with
/// `state`, or `None` for Lanyard's signed-out page.
pub async fn finish(
    p: &Provider,
    req: &LogoutRequest,
    session: Option<&CurrentSession>,
) -> Result<Option<String>, OAuthError> {
    if let Some(s) = session {
        session::end(p, s.id).await?;
    }
    Ok(req.post_logout_redirect_uri.as_ref().map(|uri| {
        let state: Vec<(&str, &str)> = req.state.iter().map(|s| ("state", s.as_str())).collect();
        redirect_url(uri, &state)
    }))
}
