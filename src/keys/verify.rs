//! The one set of rules a Lanyard token is verified by, after its signature:
//! the header's `typ`, the claims' shape, `iss`, `aud` and `exp` — in that
//! order, the first failure answering (RFC 7519 §7.2, RFC 9068 §4, OIDC
//! Core §3.1.3.7). Callers say what they expect; they never re-check.

use chrono::{DateTime, Utc};

use crate::crypto::jwt::JwtError;
use crate::model::claims::{TokenClaims, Typ};

/// What a caller expects of a token besides its signature.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// Our own issuer: a token naming another is refused.
    pub issuer: &'a str,
    /// The one audience the token must name; `None` where the caller decides
    /// from the audience itself (the exchange's "this client or one it
    /// trusts", introspection's "yours or your API's").
    pub audience: Option<&'a str>,
    /// The moment `exp` is checked against (no leeway: every node reads
    /// one clock's tokens); `None` where expiry does not matter (revoking a
    /// token, a logout's `id_token_hint`).
    pub now: Option<DateTime<Utc>>,
}

impl<'a> Expect<'a> {
    /// Our issuer, any audience, unexpired now.
    pub fn new(issuer: &'a str, now: DateTime<Utc>) -> Self {
        Self {
            issuer,
            audience: None,
            now: Some(now),
        }
    }

    /// The token must be for exactly this audience.
    pub fn audience(self, audience: &'a str) -> Self {
        Self {
            audience: Some(audience),
            ..self
        }
    }

    /// An expired token passes too.
    pub fn at_any_time(self) -> Self {
        Self { now: None, ..self }
    }
}

/// Why a token was refused, as one sentence about "the token".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The signature, key or algorithm (never `none`, never HS256).
    #[error("the token does not verify: {0}")]
    Signature(#[from] JwtError),
    #[error("{}", wrong_type(*.expected, .found.as_deref()))]
    WrongType { expected: Typ, found: Option<String> },
    #[error("the token's claims are not those of {}: {reason}", kind(*.expected))]
    Claims { expected: Typ, reason: String },
    #[error("the token was not issued here (its iss is {0:?})")]
    ForeignIssuer(String),
    #[error("the token has expired")]
    Expired { exp: i64 },
    #[error("the token is for another audience ({0:?})")]
    WrongAudience(String),
}

fn kind(typ: Typ) -> &'static str {
    match typ {
        Typ::AccessToken => "an access token",
        Typ::IdToken => "an id_token",
        Typ::LogoutToken => "a logout token",
    }
}

fn wrong_type(expected: Typ, found: Option<&str>) -> String {
    match expected {
        Typ::AccessToken => {
            "the token is not an access token (typ is not at+jwt); an id_token is not an access token".into()
        }
        Typ::IdToken => format!("the token is not an id_token: its typ is {}", found.unwrap_or("absent")),
        Typ::LogoutToken => format!(
            "the token is not a logout token: its typ is {}",
            found.unwrap_or("absent")
        ),
    }
}

/// Checks a signature-verified token's header `typ` and claims against
/// `expect`, and reads them as `T`.
pub fn check<T: TokenClaims>(typ: Option<&str>, payload: &[u8], expect: &Expect<'_>) -> Result<T, VerifyError> {
    if !T::TYP.admits(typ) {
        return Err(VerifyError::WrongType {
            expected: T::TYP,
            found: typ.map(str::to_owned),
        });
    }
    let claims: T = serde_json::from_slice(payload).map_err(|e| VerifyError::Claims {
        expected: T::TYP,
        reason: e.to_string(),
    })?;
    if claims.iss() != expect.issuer {
        return Err(VerifyError::ForeignIssuer(claims.iss().to_owned()));
    }
    if let Some(audience) = expect.audience
        && claims.aud() != audience
    {
        return Err(VerifyError::WrongAudience(claims.aud().to_owned()));
    }
    if let Some(now) = expect.now
        && claims.exp() <= now.timestamp()
    {
        return Err(VerifyError::Expired { exp: claims.exp() });
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use chrono::TimeDelta;
    use serde_json::{Map, Value};

    use super::*;
    use crate::model::claims::{AccessTokenClaims, IdTokenClaims};

    const ISS: &str = "https://id.example";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn access() -> Map<String, Value> {
        let claims = json!({
            "iss": ISS, "sub": "svc", "aud": "https://api.example", "client_id": "svc", "scope": "read",
            "iat": 1_799_999_000, "exp": 1_800_000_100, "jti": "0190f1b2-0000-7000-8000-000000000000",
        });
        claims.as_object().cloned().unwrap()
    }

    fn read(
        typ: Option<&str>,
        claims: Map<String, Value>,
        expect: &Expect<'_>,
    ) -> Result<AccessTokenClaims, VerifyError> {
        check(typ, &serde_json::to_vec(&claims).unwrap(), expect)
    }

    #[test]
    fn a_token_that_meets_every_expectation_reads_as_its_claims() {
        let expect = Expect::new(ISS, now()).audience("https://api.example");
        let claims = read(Some("at+jwt"), access(), &expect).unwrap();
        assert_eq!((claims.sub.as_str(), claims.has_scope("read")), ("svc", true));
    }

    #[test]
    fn an_id_token_is_never_an_access_token_nor_the_reverse() {
        let expect = Expect::new(ISS, now());
        assert!(matches!(
            read(Some("JWT"), access(), &expect),
            Err(VerifyError::WrongType { .. })
        ));
        let as_id: Result<IdTokenClaims, _> = check(Some("at+jwt"), &serde_json::to_vec(&access()).unwrap(), &expect);
        assert!(matches!(as_id, Err(VerifyError::WrongType { .. })));
    }

    #[test]
    fn each_expectation_refuses_with_its_own_reason() {
        let expect = Expect::new(ISS, now());
        assert!(matches!(
            read(Some("at+jwt"), access(), &Expect::new("https://other.example", now())),
            Err(VerifyError::ForeignIssuer(_))
        ));
        let late = now() + TimeDelta::seconds(100);
        assert_eq!(
            read(Some("at+jwt"), access(), &Expect::new(ISS, late)),
            Err(VerifyError::Expired { exp: 1_800_000_100 })
        );
        assert!(read(Some("at+jwt"), access(), &Expect::new(ISS, late).at_any_time()).is_ok());
        assert!(matches!(
            read(Some("at+jwt"), access(), &expect.audience("https://else.example")),
            Err(VerifyError::WrongAudience(_))
        ));
        let mut no_exp = access();
        no_exp.remove("exp");
        assert!(matches!(
            read(Some("at+jwt"), no_exp, &expect),
            Err(VerifyError::Claims { .. })
        ));
    }
}
