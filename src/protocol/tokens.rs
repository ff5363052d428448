//! Minting tokens: id_tokens (OIDC Core §2) and RFC 9068 access tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256, Sha512};
use uuid::Uuid;

use super::Provider;
use super::error::{ErrorCode, OAuthError};
use crate::crypto::Alg;
use crate::model::{Client, OidcScope};
use crate::paths;
use crate::store::users::UserRow;

/// The `typ` of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

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

/// What an id_token says.
pub struct IdTokenClaims<'a> {
    pub client: &'a Client,
    pub user: &'a UserRow,
    pub scopes: &'a [String],
    pub auth_time: DateTime<Utc>,
    pub nonce: Option<&'a str>,
    pub sid: Option<&'a str>,
    pub access_token: Option<&'a str>,
}

/// An id_token for the client, signed with its registered algorithm.
pub fn id_token(p: &Provider, c: &IdTokenClaims<'_>) -> Result<String, OAuthError> {
    let now = p.now();
    let alg = c.client.id_token_alg;
    let mut claims = user_claims(c.user, c.scopes);
    claims.extend([
        ("iss".to_owned(), json!(p.config.issuer.as_str())),
        ("sub".to_owned(), json!(c.user.id.to_string())),
        ("aud".to_owned(), json!(c.client.client_id)),
        ("azp".to_owned(), json!(c.client.client_id)),
        ("iat".to_owned(), json!(now.timestamp())),
        ("exp".to_owned(), json!((now + p.config.lifetimes.id_token).timestamp())),
        ("auth_time".to_owned(), json!(c.auth_time.timestamp())),
        ("amr".to_owned(), json!(["pwd"])),
    ]);
    if let Some(nonce) = c.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    if let Some(sid) = c.sid {
        claims.insert("sid".into(), json!(sid));
    }
    if let Some(token) = c.access_token {
        claims.insert("at_hash".into(), json!(at_hash(alg, token)));
    }
    sign(p, alg, "JWT", &Value::Object(claims))
}

/// An RFC 9068 access token.
pub struct AccessToken {
    pub token: String,
    pub alg: Alg,
    pub expires_in: i64,
    pub scope: String,
}

pub struct AccessTokenClaims<'a> {
    pub audience: &'a str,
    pub alg: Alg,
    pub lifetime: chrono::TimeDelta,
    pub sub: &'a str,
    pub client_id: &'a str,
    pub scopes: &'a [String],
    pub auth_time: Option<DateTime<Utc>>,
    pub grant_id: Option<Uuid>,
}

pub fn access_token(p: &Provider, c: &AccessTokenClaims<'_>) -> Result<AccessToken, OAuthError> {
    let now = p.now();
    let scope = c.scopes.join(" ");
    let mut claims = json!({
        "iss": p.config.issuer.as_str(),
        "sub": c.sub,
        "aud": c.audience,
        "client_id": c.client_id,
        "scope": scope,
        "iat": now.timestamp(),
        "exp": (now + c.lifetime).timestamp(),
        "jti": new_jti(now).to_string(),
    });
    if let Some(at) = c.auth_time {
        claims["auth_time"] = json!(at.timestamp());
    }
    if let Some(grant) = c.grant_id {
        claims["grant_id"] = json!(grant.to_string());
    }
    let token = sign(p, c.alg, ACCESS_TOKEN_TYP, &claims)?;
    Ok(AccessToken {
        token,
        alg: c.alg,
        expires_in: c.lifetime.num_seconds(),
        scope,
    })
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
pub fn issued_at(jti: &str) -> Option<DateTime<Utc>> {
    let (secs, nanos) = Uuid::parse_str(jti).ok()?.get_timestamp()?.to_unix();
    DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)
}

/// The audience of the UserInfo access token.
pub fn userinfo_audience(p: &Provider) -> String {
    p.config.issuer.url(paths::USERINFO)
}

fn sign(p: &Provider, alg: Alg, typ: &str, claims: &Value) -> Result<String, OAuthError> {
    let key = p
        .keys
        .signer(alg)
        .ok_or_else(|| OAuthError::new(ErrorCode::ServerError, format!("no active {alg} signing key")))?;
    Ok(key.sign(typ, claims)?)
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
        let jti = new_jti(now).to_string();
        let at = issued_at(&jti).unwrap();
        assert_eq!(at.timestamp_millis(), now.timestamp_millis());
        assert_ne!(new_jti(now), new_jti(now), "unique even in one millisecond");
        assert_eq!(issued_at("not a uuid"), None);
        assert_eq!(issued_at(&Uuid::new_v4().to_string()), None);
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
