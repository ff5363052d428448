//! The `client_credentials` grant (RFC 6749 §4.4): a service's own access token
//! for one API. No database write on this path (README "Performance").

use super::Provider;
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use super::resource::{self, Subject};
use super::token::TokenResponse;
use crate::model::Client;

pub fn issue(p: &Provider, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
    if client.is_public() {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "a public client cannot use client_credentials",
        ));
    }
    if let Some(name) = params.first_repeated(&["resource"]) {
        return Err(OAuthError::invalid_request(format!(
            "the `{name}` parameter is repeated"
        )));
    }
    let api = resource::default_target(p, client, params.all("resource"))?;
    let allowance = p.catalog.allowed_scopes(&client.client_id, &api.audience);
    let scopes = resource::downscope(params.one("scope")?, &allowance)?;
    // `sub` is the client itself; a client_id is never a UUID, so never a user's `sub`.
    let who = Subject {
        sub: &client.client_id,
        client_id: &client.client_id,
        auth_time: None,
        grant_id: None,
        not_after: None,
    };
    let token = resource::mint(p, &api, &who, &scopes)?;
    Ok(TokenResponse {
        signed_with: token.alg,
        access_token: token.token,
        issued_token_type: None,
        token_type: "Bearer",
        expires_in: token.expires_in,
        scope: token.scope,
        id_token: None,
        refresh_token: None,
    })
}
