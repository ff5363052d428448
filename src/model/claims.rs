//! The claim sets of Lanyard's tokens, typed: the same structs are serialised
//! when a token is minted and deserialised when one is verified
//! (`KeyRing::verify_as`), so a claim is named and read in one place.

use chrono::{DateTime, Utc};
use serde::de::{self, DeserializeOwned};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// What a verifier expects in the JOSE header's `typ` for a kind of token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typ {
    /// RFC 9068 §2.1: `at+jwt` (or `application/at+jwt`), compared without case.
    AccessToken,
    /// An id_token: `JWT` or no `typ` (OIDC Core §2 names none), so an access
    /// token (or a logout token, `logout+jwt`) is never taken for an id_token.
    IdToken,
    /// Back-Channel Logout §2.4: `logout+jwt` (or `application/logout+jwt`).
    LogoutToken,
}

impl Typ {
    /// The header `typ` a token of this kind is minted with.
    pub fn as_str(self) -> &'static str {
        match self {
            Typ::AccessToken => "at+jwt",
            Typ::IdToken => "JWT",
            Typ::LogoutToken => "logout+jwt",
        }
    }

    /// Whether a header's `typ` is this kind's.
    pub fn admits(self, typ: Option<&str>) -> bool {
        let is_access =
            typ.is_some_and(|t| t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt"));
        match self {
            Typ::AccessToken => is_access,
            Typ::IdToken => typ.is_none_or(|t| t.eq_ignore_ascii_case("JWT")),
            Typ::LogoutToken => typ.is_some_and(|t| {
                t.eq_ignore_ascii_case("logout+jwt") || t.eq_ignore_ascii_case("application/logout+jwt")
            }),
        }
    }
}

/// A claim set Lanyard mints and verifies: its header `typ` and the
/// registered claims every verifier checks (RFC 7519 §4.1).
pub trait TokenClaims: Serialize + DeserializeOwned {
    const TYP: Typ;
    fn iss(&self) -> &str;
    fn aud(&self) -> &str;
    fn exp(&self) -> i64;
}

/// Implements [`TokenClaims`] for a claim set with `iss`, `aud` and `exp` fields.
macro_rules! token_claims {
    ($claims:ty, $typ:expr) => {
        impl TokenClaims for $claims {
            const TYP: Typ = $typ;
            fn iss(&self) -> &str {
                &self.iss
            }
            fn aud(&self) -> &str {
                &self.aud
            }
            fn exp(&self) -> i64 {
                self.exp
            }
        }
    };
}

/// An id_token's claims (OIDC Core §2, §3.1.3.6, §5.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    /// The user's id.
    pub sub: String,
    /// The client it was issued to: one audience (a one-element array reads too).
    #[serde(deserialize_with = "one_audience")]
    pub aud: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The level the sign-in reached (`model::AuthLevel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The sign-in session (OIDC Front/Back-Channel Logout `sid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The DPoP key its grant is bound to: exchanging this id_token needs a
    /// proof of that key (README "Proof of possession").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// The standard claims the granted scopes release (OIDC Core §5.4).
    #[serde(flatten)]
    pub profile: Map<String, Value>,
}

impl IdTokenClaims {
    /// The signed-in user, when `sub` is one.
    pub fn user_id(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.sub).ok()
    }

    pub fn auth_time(&self) -> Option<DateTime<Utc>> {
        self.auth_time.and_then(|t| DateTime::from_timestamp(t, 0))
    }
}

token_claims!(IdTokenClaims, Typ::IdToken);

/// An RFC 9068 access token's claims (§2.2): for exactly one API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    /// A user's id, or — for client_credentials — the client's own id (a
    /// client id is never a UUID, so never a user's `sub`).
    pub sub: String,
    #[serde(deserialize_with = "one_audience")]
    pub aud: String,
    pub client_id: String,
    /// Space-separated (RFC 9068 §2.2.3).
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    /// A UUID v7 whose timestamp is the issuance to the millisecond.
    pub jti: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// How the user signed in (RFC 9068 §2.2.1): the level (`acr`) and the
    /// methods (`amr`, RFC 8176); absent without a user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The grant it was issued under; revoked with it. None for a service's
    /// own token, which is revoked through its `jti`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<Uuid>,
    /// The key the token is bound to (RFC 7800 §3.1, RFC 9449 §6.1): it is
    /// honoured only with a DPoP proof of that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// Who acts for the subject, in a delegation (RFC 8693 §4.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
}

/// A key confirmation (RFC 7800 §3.1): the RFC 7638 SHA-256 thumbprint of
/// the key a token is bound to (RFC 9449 §6.1 `jkt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

/// The acting party of a delegation (RFC 8693 §4.1): the client that acts
/// now, and — nested — the one that acted before it, down the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

impl AccessTokenClaims {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// The user behind the token, when there is one.
    pub fn user_id(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.sub).ok()
    }

    /// The thumbprint of the key the token is bound to, if it is.
    pub fn jkt(&self) -> Option<&str> {
        self.cnf.as_ref().map(|c| c.jkt.as_str())
    }
}

token_claims!(AccessTokenClaims, Typ::AccessToken);

/// The event a logout token carries (Back-Channel Logout §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A logout token's `events`: the back-channel logout event, an empty object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogoutEvents {
    #[serde(rename = "http://schemas.openid.net/event/backchannel-logout")]
    pub backchannel_logout: Map<String, Value>,
}

/// A logout token's claims (OpenID Connect Back-Channel Logout 1.0 §2.4):
/// `sid` and `sub` (Lanyard sends both), never `nonce` (the type has none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogoutTokenClaims {
    pub iss: String,
    /// The client it is sent to.
    #[serde(deserialize_with = "one_audience")]
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// Fresh for every delivery attempt.
    pub jti: Uuid,
    pub events: LogoutEvents,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

token_claims!(LogoutTokenClaims, Typ::LogoutToken);

/// `aud` as one string: RFC 7519 §4.1.3 allows a string or an array; Lanyard's
/// tokens name exactly one audience, so an array must hold exactly one.
fn one_audience<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    match Aud::deserialize(d)? {
        Aud::One(a) => Ok(a),
        Aud::Many(list) if list.len() == 1 => Ok(list.into_iter().next().unwrap_or_default()),
        Aud::Many(_) => Err(de::Error::custom("the token has no single audience")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_audience_is_a_string_or_an_array_of_one() {
        let mut claims = json!({"iss": "i", "sub": "s", "aud": ["c"], "iat": 1, "exp": 2});
        let read: IdTokenClaims = serde_json::from_value(claims.clone()).unwrap();
        assert_eq!(read.aud, "c");
        claims["aud"] = json!(["c", "d"]);
        assert!(serde_json::from_value::<IdTokenClaims>(claims).is_err());
    }

    #[test]
    fn an_id_tokens_profile_claims_round_trip_beside_the_registered_ones() {
        let value = json!({"iss": "i", "sub": "s", "aud": "c", "iat": 1, "exp": 2, "name": "Ada", "amr": ["pwd"]});
        let read: IdTokenClaims = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(read.profile.get("name"), Some(&json!("Ada")));
        assert_eq!(serde_json::to_value(&read).unwrap(), value);
    }

    #[test]
    fn a_typ_tells_an_access_token_from_an_id_token() {
        for typ in [Some("at+jwt"), Some("application/AT+JWT")] {
            assert!(Typ::AccessToken.admits(typ) && !Typ::IdToken.admits(typ));
        }
        for typ in [None, Some("JWT"), Some("jwt")] {
            assert!(!Typ::AccessToken.admits(typ) && Typ::IdToken.admits(typ));
        }
        assert!(!Typ::IdToken.admits(Some("logout+jwt")) && !Typ::AccessToken.admits(Some("logout+jwt")));
        assert!(Typ::LogoutToken.admits(Some("logout+jwt")) && Typ::LogoutToken.admits(Some("application/logout+jwt")));
        assert!(!Typ::LogoutToken.admits(None) && !Typ::LogoutToken.admits(Some("JWT")));
    }
}
