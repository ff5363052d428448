//! Minting tokens: id_tokens (OIDC Core §2), RFC 9068 access tokens and
//! logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.4), from
//! the typed claim sets they are verified by, and the claims scopes release.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256, Sha512};
use uuid::Uuid;

use super::Provider;
use super::error::{ErrorCode, OAuthError};
use crate::crypto::Alg;
use crate::model::auth_level::stated_acr;
use crate::model::claims::{
    AccessTokenClaims, Actor, Confirmation, IdTokenClaims, LogoutEvents, LogoutTokenClaims, TokenClaims,
};
use crate::model::{AuthLevel, Client, OidcScope};
use crate::paths;
use crate::store::users::UserRow;

/// The claims each OIDC scope releases (OIDC Core §5.4).
pub fn claims_of_scope(scope: OidcScope) -> &'static [&'static str] {
    match scope {
        OidcScope::Profile => &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
        OidcScope::Email => &["email", "email_verified"],
        OidcScope::Address => &["address"],
        OidcScope::Phone => &["phone_number", "phone_number_verified"],
        OidcScope::Openid | OidcScope::OfflineAccess => &[],
    }
}

/// The scope that releases a claim, if any.
pub fn scope_of_claim(claim: &str) -> Option<OidcScope> {
    OidcScope::ALL
        .into_iter()
        .find(|s| claims_of_scope(*s).contains(&claim))
}

/// The user's standard claims that `scopes` release; absent values are left out.
pub fn user_claims(user: &UserRow, scopes: &[String]) -> Map<String, Value> {
    let all = match serde_json::to_value(user.claims()) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let mut out = Map::new();
    for scope in scopes.iter().filter_map(|s| s.parse::<OidcScope>().ok()) {
        for claim in claims_of_scope(scope) {
            if *claim == "updated_at" {
                out.insert("updated_at".into(), json!(user.updated_at.timestamp()));
            } else if let Some(value) = all.get(*claim) {
                out.insert((*claim).to_owned(), value.clone());
            }
        }
    }
    out
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of the hash of the access
/// token, with the hash of the id_token's algorithm (SHA-512 for Ed25519).
pub fn at_hash(alg: Alg, access_token: &str) -> String {
    let digest: Vec<u8> = match alg {
        Alg::RS256 | Alg::ES256 => Sha256::digest(access_token.as_bytes()).to_vec(),
        Alg::EdDSA => Sha512::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// Who an id_token is for and what it carries besides the user's claims.
pub struct IdTokenFor<'a> {
    pub client: &'a Client,
    pub user: &'a UserRow,
    pub scopes: &'a [String],
    pub auth_time: DateTime<Utc>,
    pub nonce: Option<&'a str>,
    pub sid: Option<&'a str>,
    pub access_token: Option<&'a str>,
    /// The DPoP key the grant is bound to, named in `cnf` so that exchanging
    /// the id_token needs a proof of it.
    pub jkt: Option<&'a str>,
    /// How the person signed in (RFC 8176); the `acr` follows from it.
    pub amr: &'a [String],
    /// The `claims` request of the sign-in: an essential `acr` is answered
    /// with one of its values (OIDC Core §5.5.1.1).
    pub claims_request: Option<&'a serde_json::Value>,
}

/// An id_token for the client, signed with its registered algorithm.
pub fn id_token(p: &Provider, c: &IdTokenFor<'_>) -> Result<String, OAuthError> {
    let now = p.now();
    let alg = c.client.id_token_alg;
    let claims = IdTokenClaims {
        iss: p.config.issuer.as_str().to_owned(),
        sub: c.user.id.to_string(),
        aud: c.client.client_id.clone(),
        azp: Some(c.client.client_id.clone()),
        iat: now.timestamp(),
        exp: (now + p.config.lifetimes.id_token).timestamp(),
        auth_time: Some(c.auth_time.timestamp()),
        amr: c.amr.to_vec(),
        acr: Some(stated_acr(c.amr, c.claims_request).as_str().to_owned()),
        nonce: c.nonce.map(str::to_owned),
        sid: c.sid.map(str::to_owned),
        at_hash: c.access_token.map(|token| at_hash(alg, token)),
        cnf: c.jkt.map(|jkt| Confirmation { jkt: jkt.to_owned() }),
        profile: user_claims(c.user, c.scopes),
    };
    sign(p, alg, &claims)
}

/// An RFC 9068 access token, signed.
pub struct AccessToken {
    pub token: String,
    pub alg: Alg,
    pub expires_in: i64,
    pub scope: String,
    /// `Bearer`, or `DPoP` for a key-bound token (RFC 9449 §5).
    pub token_type: &'static str,
}

/// Who an access token is for and what it lets them do; `iss`, `aud`,
/// `iat`, `exp` and `jti` are stamped when it is minted.
#[derive(Clone, Copy)]
pub struct AccessTokenFor<'a> {
    pub sub: &'a str,
    pub client_id: &'a str,
    pub scopes: &'a [String],
    pub auth_time: Option<DateTime<Utc>>,
    pub grant_id: Option<Uuid>,
    /// The thumbprint of the key a DPoP proof showed (RFC 9449 §6.1): the
    /// token is bound to it (`cnf.jkt`).
    pub jkt: Option<&'a str>,
    /// Who acts for `sub`, in a delegation (RFC 8693 §4.1).
    pub act: Option<&'a Actor>,
    /// How the user signed in (RFC 8176), for a user's token; the `acr`
    /// follows from it.
    pub amr: Option<&'a [String]>,
}

/// An RFC 9068 access token (§2.2) for `audience`, living `lifetime`,
/// signed with `alg`.
pub fn access_token(
    p: &Provider,
    audience: &str,
    alg: Alg,
    lifetime: chrono::TimeDelta,
    c: &AccessTokenFor<'_>,
) -> Result<AccessToken, OAuthError> {
    let now = p.now();
    let claims = AccessTokenClaims {
        iss: p.config.issuer.as_str().to_owned(),
        sub: c.sub.to_owned(),
        aud: audience.to_owned(),
        client_id: c.client_id.to_owned(),
        scope: c.scopes.join(" "),
        iat: now.timestamp(),
        exp: (now + lifetime).timestamp(),
        jti: new_jti(now),
        auth_time: c.auth_time.map(|t| t.timestamp()),
        acr: c.amr.map(|amr| AuthLevel::of_methods(amr).as_str().to_owned()),
        amr: c.amr.map(<[String]>::to_vec).unwrap_or_default(),
        grant_id: c.grant_id,
        cnf: c.jkt.map(|jkt| Confirmation { jkt: jkt.to_owned() }),
        act: c.act.cloned(),
    };
    let token = sign(p, alg, &claims)?;
    Ok(AccessToken {
        token,
        alg,
        expires_in: lifetime.num_seconds(),
        scope: claims.scope,
        token_type: if claims.cnf.is_some() { "DPoP" } else { "Bearer" },
    })
}

/// How long a logout token lives: long enough to cross the network, short
/// enough that a copy is soon worthless (Back-Channel Logout §2.4 asks for
/// a short lifetime). Minted when it is sent, so a retry is never stale.
pub const LOGOUT_TOKEN_TTL: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// A logout token (Back-Channel Logout §2.4) for `client`, about the
/// session `sid` of the user `sub`: `typ` `logout+jwt`, signed with the
/// client's id_token algorithm, a fresh `jti`, no `nonce`.
pub fn logout_token(p: &Provider, client: &Client, sub: &str, sid: &str) -> Result<String, OAuthError> {
    let now = p.now();
    let claims = LogoutTokenClaims {
        iss: p.config.issuer.as_str().to_owned(),
        aud: client.client_id.clone(),
        iat: now.timestamp(),
        exp: (now + LOGOUT_TOKEN_TTL).timestamp(),
        jti: new_jti(now),
        events: LogoutEvents {
            backchannel_logout: Map::new(),
        },
        sub: Some(sub.to_owned()),
        sid: Some(sid.to_owned()),
    };
    sign(p, client.id_token_alg, &claims)
}

/// An access token's `jti`: a UUID v7 (RFC 9562 §5.7), unique, whose
/// timestamp is the moment of issuance to the millisecond by the provider's
/// clock — finer than `iat`, so a credential changed in the same second as
/// the issuance still tells older tokens from newer ones.
pub fn new_jti(now: DateTime<Utc>) -> Uuid {
    let secs = u64::try_from(now.timestamp()).unwrap_or_default();
    Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        secs,
        now.timestamp_subsec_nanos(),
    ))
}

/// When a token with this `jti` was issued, if the `jti` is one of ours.
pub fn issued_at(jti: Uuid) -> Option<DateTime<Utc>> {
    let (secs, nanos) = jti.get_timestamp()?.to_unix();
    DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)
}

/// The audience of the UserInfo access token.
pub fn userinfo_audience(p: &Provider) -> String {
    p.config.issuer.url(paths::USERINFO)
}

/// Signs a claim set with the active key of `alg`, its header `typ` the
/// claim set's own.
fn sign<T: TokenClaims>(p: &Provider, alg: Alg, claims: &T) -> Result<String, OAuthError> {
    let key = p
        .keys
        .signer(alg)
        .ok_or_else(|| OAuthError::new(ErrorCode::ServerError, format!("no active {alg} signing key")))?;
    let claims = serde_json::to_value(claims)
        .map_err(|e| OAuthError::new(ErrorCode::ServerError, format!("cannot serialise claims: {e}")))?;
    Ok(key.sign(T::TYP.as_str(), &claims)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_oidc_core_example() {
        // OIDC Core A.3: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", RS256.
        assert_eq!(
            at_hash(Alg::RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn a_jti_tells_when_its_token_was_issued_to_the_millisecond() {
        let now = DateTime::from_timestamp(1_795_000_000, 123_456_789).unwrap();
        let at = issued_at(new_jti(now)).unwrap();
        assert_eq!(at.timestamp_millis(), now.timestamp_millis());
        assert_ne!(new_jti(now), new_jti(now), "unique even in one millisecond");
        assert_eq!(issued_at(Uuid::new_v4()), None);
    }

    #[test]
    fn eddsa_at_hash_uses_sha512() {
        let token = "abc";
        let expected = URL_SAFE_NO_PAD.encode(&Sha512::digest(b"abc")[..32]);
        assert_eq!(at_hash(Alg::EdDSA, token), expected);
    }

    #[test]
    fn every_profile_claim_belongs_to_one_scope() {
        assert_eq!(scope_of_claim("email_verified"), Some(OidcScope::Email));
        assert_eq!(scope_of_claim("locale"), Some(OidcScope::Profile));
        assert_eq!(scope_of_claim("sub"), None);
    }
}
