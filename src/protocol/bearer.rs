//! An access token presented to one of Lanyard's own APIs — UserInfo, the
//! admin API — as a bearer (RFC 6750) or bound to a key with a DPoP proof
//! (RFC 9449 §7): verified for that audience (RFC 9068 §4), presented with
//! the scheme its binding asks for, and not revoked.

use super::Provider;
use super::dpop::{self, DpopHeader, ProofFor};
use super::error::{ErrorCode, OAuthError};
use crate::model::claims::AccessTokenClaims;
use crate::model::lifecycle::GrantState;
use crate::store::{grants, revoked_access_tokens};

pub fn invalid_token(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidToken, description)
}

/// The authentication scheme a request used (RFC 9110 §11.6.2); the
/// challenge of a refusal names the same one (RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RFC 6750.
    Bearer,
    /// RFC 9449 §7.1.
    Dpop,
}

/// An access token as a request presented it.
#[derive(Debug, Clone)]
pub enum Presented {
    /// `Authorization: Bearer`, or the form body (RFC 6750 §2.1, §2.2).
    Bearer(String),
    /// `Authorization: DPoP` (RFC 9449 §7.1) with the request's `DPoP`
    /// header fields, and the method and path the proof must name.
    Dpop {
        token: String,
        proof: DpopHeader,
        htm: String,
        path: String,
    },
}

impl Presented {
    pub fn scheme(&self) -> Scheme {
        match self {
            Presented::Bearer(_) => Scheme::Bearer,
            Presented::Dpop { .. } => Scheme::Dpop,
        }
    }

    pub fn token(&self) -> &str {
        match self {
            Presented::Bearer(token) | Presented::Dpop { token, .. } => token,
        }
    }
}

/// The claims of a valid access token for `audience`: a signature by one of
/// our keys, `typ: at+jwt` (so an id_token never passes), our `iss`, exactly
/// this `aud`, not expired (`KeyRing::verify_as`); presented as its binding
/// asks (`bound`); and not revoked: a token with a grant is revoked with its
/// grant, one without (client_credentials) through the jti deny-list
/// (RFC 7009 §2 as the README's "Revocation" applies it), so each needs only
/// its own check.
pub async fn verify_access_token(
    p: &Provider,
    presented: &Presented,
    audience: &str,
) -> Result<AccessTokenClaims, OAuthError> {
    let claims: AccessTokenClaims = p
        .keys
        .verify_as(presented.token(), &p.expect().audience(audience))
        .map_err(|e| invalid_token(&e.to_string()))?;
    bound(p, presented, &claims).await?;
    if is_revoked(p, &claims).await? {
        return Err(invalid_token("the token is revoked"));
    }
    Ok(claims)
}

/// RFC 9449 §7: a key-bound token (`cnf`, RFC 7800) is honoured only under
/// the `DPoP` scheme with a proof for this request, carrying the token's
/// hash (`ath`) and signed by the key the token names (`cnf.jkt`); never as
/// a bearer (§7.2). An unbound token is a bearer's: the `DPoP` scheme
/// asserts a binding it does not have.
async fn bound(p: &Provider, presented: &Presented, claims: &AccessTokenClaims) -> Result<(), OAuthError> {
    let jkt = claims.cnf.as_ref().map(|cnf| cnf.jkt.as_str());
    match (presented, jkt) {
        (Presented::Bearer(_), None) => Ok(()),
        (Presented::Bearer(_), Some(_)) => Err(invalid_token(
            "the token is bound to a key: present it with the DPoP scheme and a proof",
        )),
        (Presented::Dpop { .. }, None) => Err(invalid_token(
            "the token is not bound to a key: present it with the Bearer scheme",
        )),
        (
            Presented::Dpop {
                token,
                proof,
                htm,
                path,
            },
            Some(jkt),
        ) => {
            let proof = dpop::check(p, proof, &ProofFor::resource(htm, path, token))
                .await?
                .ok_or_else(|| {
                    OAuthError::new(
                        ErrorCode::InvalidDpopProof,
                        "a DPoP-bound token needs a DPoP proof (the DPoP header)",
                    )
                })?;
            // §4.3 (12), §7.1: the key binding is the token's; a proof by
            // another key makes the token invalid here.
            match proof.jkt == jkt {
                true => Ok(()),
                false => Err(invalid_token(
                    "the DPoP proof's key is not the key the token is bound to",
                )),
            }
        }
    }
}

/// Whether the token's grant is revoked or gone, or — without a grant — its
/// `jti` is on the deny-list.
pub async fn is_revoked(p: &Provider, claims: &AccessTokenClaims) -> Result<bool, OAuthError> {
    let mut conn = p.pool.acquire().await?;
    Ok(match claims.grant_id {
        Some(id) => grants::find(&mut conn, id)
            .await?
            .is_none_or(|g| g.state() == GrantState::Revoked),
        None => revoked_access_tokens::is_revoked(&mut conn, claims.jti).await?,
    })
}
