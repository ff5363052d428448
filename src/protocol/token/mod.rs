//! `POST /token` (RFC 6749 §3.2): authenticate the client, parse the request
//! once into its grant's typed request, hand it to that grant, count it.

mod authorization_code;
mod client_credentials;
pub(crate) mod exchange;
mod refresh;
mod user_grant;

use serde::Serialize;

use super::Provider;
use super::client_auth::{self, Basic};
use super::dpop::{self, DpopHeader, ProofFor};
use super::error::{ErrorCode, OAuthError};
use super::mint::AccessToken;
use super::params::Params;
use crate::crypto::Alg;
use crate::model::{Client, GrantType};
use crate::paths;

pub use exchange::{ACCESS_TOKEN_TYPE, ExchangeRequest, ID_TOKEN_TYPE, SubjectSource, SubjectType};

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// The access token's algorithm (for metrics; not sent).
    #[serde(skip)]
    pub signed_with: Alg,
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
    /// A fresh server nonce for the `DPoP-Nonce` header (RFC 9449 §8.2),
    /// for a client whose proofs carry nonces.
    #[serde(skip)]
    pub dpop_nonce: Option<String>,
}

impl TokenResponse {
    /// A response carrying one access token and nothing else.
    fn of(token: AccessToken) -> Self {
        Self {
            signed_with: token.alg,
            access_token: token.token,
            issued_token_type: None,
            token_type: token.token_type,
            expires_in: token.expires_in,
            scope: token.scope,
            id_token: None,
            refresh_token: None,
            dpop_nonce: None,
        }
    }
}

/// A token request, parsed once after client authentication: one variant
/// per grant, each with the parameters its grant reads.
#[derive(Debug)]
pub enum TokenRequest {
    AuthorizationCode(CodeRequest),
    RefreshToken(RefreshRequest),
    ClientCredentials(ClientCredentialsRequest),
    TokenExchange(ExchangeRequest),
}

/// RFC 6749 §4.1.3 (+ RFC 7636 §4.5, RFC 8707 §2.2).
#[derive(Debug)]
pub struct CodeRequest {
    pub code: String,
    pub redirect_uri: String,
    pub code_verifier: Option<String>,
    /// The API named (RFC 8707): checked against the grant later.
    pub resources: Vec<String>,
}

/// RFC 6749 §6 (+ RFC 8707 §2.2).
#[derive(Debug)]
pub struct RefreshRequest {
    pub refresh_token: String,
    /// Every `scope` value, read (`params::single`) only once the token is
    /// known live: a replayed token is reuse whatever else the request says.
    pub scope: Vec<String>,
    pub resources: Vec<String>,
}

/// RFC 6749 §4.4.2 (+ RFC 8707 §2).
#[derive(Debug)]
pub struct ClientCredentialsRequest {
    pub scope: Option<String>,
    pub resources: Vec<String>,
}

fn required(params: &Params, name: &str) -> Result<String, OAuthError> {
    params
        .one(name)?
        .map(str::to_owned)
        .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
}

fn optional(params: &Params, name: &str) -> Result<Option<String>, OAuthError> {
    Ok(params.one(name)?.map(str::to_owned))
}

/// Refuses a repeated parameter other than `except` (RFC 6749 §3.2).
fn refuse_repeated(params: &Params, except: &[&str]) -> Result<(), OAuthError> {
    match params.first_repeated(except) {
        Some(name) => Err(OAuthError::invalid_request(format!(
            "the `{name}` parameter is repeated"
        ))),
        None => Ok(()),
    }
}

impl TokenRequest {
    /// The request of `grant`, from its parameters.
    pub fn parse(grant: GrantType, params: &Params) -> Result<Self, OAuthError> {
        Ok(match grant {
            GrantType::AuthorizationCode => Self::AuthorizationCode(CodeRequest {
                code: required(params, "code")?,
                redirect_uri: required(params, "redirect_uri")?,
                code_verifier: optional(params, "code_verifier")?,
                resources: params.all("resource").to_vec(),
            }),
            GrantType::RefreshToken => Self::RefreshToken(RefreshRequest {
                refresh_token: required(params, "refresh_token")?,
                scope: params.all("scope").to_vec(),
                resources: params.all("resource").to_vec(),
            }),
            GrantType::ClientCredentials => {
                refuse_repeated(params, &["resource"])?;
                Self::ClientCredentials(ClientCredentialsRequest {
                    scope: optional(params, "scope")?,
                    resources: params.all("resource").to_vec(),
                })
            }
            GrantType::TokenExchange => Self::TokenExchange(ExchangeRequest::parse(params, SubjectSource::Token)?),
        })
    }
}

/// The grant's name in `grant_type` (RFC 6749 §4.1.3, §4.4.2, §6; RFC 8693 §2.1).
fn grant_type(params: &Params) -> Result<GrantType, OAuthError> {
    let name = params
        .one("grant_type")?
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    name.parse().map_err(|_| {
        OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant_type `{name}` is not supported"),
        )
    })
}

/// Whether `client` may use `grant`: registered for it (RFC 6749 §5.2
/// `unauthorized_client`), and — for the grants that rest on the client's
/// own authentication — confidential.
pub fn may_use(client: &Client, grant: GrantType) -> Result<(), OAuthError> {
    if !client.has_grant(grant) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("this client may not use {grant}"),
        ));
    }
    let public_refusal = match grant {
        GrantType::ClientCredentials => Some("a public client cannot use client_credentials"),
        // A public client may exchange only an id_token bound to its DPoP
        // key: the proof stands in for client authentication (`exchange`).
        GrantType::AuthorizationCode | GrantType::RefreshToken | GrantType::TokenExchange => None,
    };
    match public_refusal {
        Some(refusal) if client.is_public() => Err(OAuthError::new(ErrorCode::UnauthorizedClient, refusal)),
        _ => Ok(()),
    }
}

/// `POST /token`: authenticate the client first, then the grant, then the
/// DPoP proof if there is one (RFC 9449 §5). The access tokens are bound to
/// the proof's key; a code redeemed with one binds its whole grant
/// (`dpop::binding`).
pub async fn issue(
    p: &Provider,
    basic: &Basic,
    params: &Params,
    dpop: &DpopHeader,
) -> Result<TokenResponse, OAuthError> {
    let client = client_auth::authenticate(p, basic, params, paths::TOKEN).await?;
    let grant = grant_type(params)?;
    let request = match may_use(&client, grant).and_then(|()| TokenRequest::parse(grant, params)) {
        Ok(request) => dpop::check(p, dpop, &ProofFor::token()).await.and_then(|proof| {
            dpop::enforce(p, client.dpop, proof.as_ref(), "this client")?;
            Ok((request, proof))
        }),
        Err(e) => Err(e),
    };
    let nonce_used = matches!(&request, Ok((_, Some(proof))) if proof.nonce != dpop::NonceState::Absent);
    let response = match request {
        Ok((TokenRequest::AuthorizationCode(req), proof)) => {
            authorization_code::redeem(p, &client, &req, proof.as_ref()).await
        }
        Ok((TokenRequest::RefreshToken(req), proof)) => refresh::refresh(p, &client, &req, proof.as_ref()).await,
        Ok((TokenRequest::ClientCredentials(req), proof)) => {
            client_credentials::issue(p, &client, &req, proof.as_ref())
        }
        Ok((TokenRequest::TokenExchange(req), proof)) => {
            exchange::exchange(p, &client, Ok((&req, proof.as_ref()))).await
        }
        // Every exchange decision is audited, a refused or malformed request's too.
        Err(e) if grant == GrantType::TokenExchange => exchange::exchange(p, &client, Err(e)).await,
        Err(e) => Err(e),
    }?;
    p.counters
        .count(p.now(), grant.as_str(), response.signed_with, &client.client_id);
    Ok(TokenResponse {
        dpop_nonce: nonce_used.then(|| p.dpop_nonces.current(p.now())),
        ..response
    })
}
