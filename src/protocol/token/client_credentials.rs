//! The `client_credentials` grant (RFC 6749 §4.4): a service's own access token
//! for one API. No database write on this path (README "Performance").

use super::{ClientCredentialsRequest, TokenResponse};
use crate::model::Client;
use crate::protocol::Provider;
use crate::protocol::api_tokens;
use crate::protocol::dpop::Proof;
use crate::protocol::error::OAuthError;
use crate::protocol::mint::AccessTokenFor;

/// The token for the API the request names, bound to the DPoP `proof`'s key
/// when there is one (RFC 9449 §5).
pub fn issue(
    p: &Provider,
    client: &Client,
    req: &ClientCredentialsRequest,
    proof: Option<&Proof>,
) -> Result<TokenResponse, OAuthError> {
    let api = api_tokens::default_target(p, client, &req.resources)?;
    api_tokens::admit(p, client, &api, proof, None)?;
    let allowance = p.catalog.allowed_scopes(&client.client_id, &api.audience);
    let scopes = api_tokens::downscope(req.scope.as_deref(), &allowance)?;
    // `sub` is the client itself; a client_id is never a UUID, so never a user's `sub`.
    let holder = AccessTokenFor {
        sub: &client.client_id,
        client_id: &client.client_id,
        scopes: &scopes,
        auth_time: None,
        grant_id: None,
        jkt: proof.map(|p| p.jkt.as_str()),
        act: None,
        amr: None,
    };
    Ok(TokenResponse::of(api_tokens::mint(p, &api, &holder, None)?))
}
