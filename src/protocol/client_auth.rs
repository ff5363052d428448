//! Client authentication at the token, introspection and revocation endpoints
//! (RFC 6749 §2.3, OIDC Core §9): `client_secret_basic`, `client_secret_post`,
//! `private_key_jwt` (`protocol::client_assertion`), or `none`.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::Provider;
use super::client_assertion::{self, ASSERTION_TYPE, AssertionError};
use super::client_documents::Fetch;
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use crate::crypto::secret;
use crate::model::{AuthMethod, Client};

/// The `Authorization: Basic` credentials of a request, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basic {
    Absent,
    Malformed,
    Given { client_id: String, secret: String },
}

impl Basic {
    /// Reads an `Authorization` header value. The id and secret are
    /// form-urlencoded before base64 (RFC 6749 §2.3.1).
    pub fn parse(header: Option<&str>) -> Self {
        let Some(value) = header else { return Basic::Absent };
        let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")) else {
            return Basic::Malformed;
        };
        let decoded = match STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        {
            Some(d) => d,
            None => return Basic::Malformed,
        };
        let Some((id, secret)) = decoded.split_once(':') else {
            return Basic::Malformed;
        };
        let unescape = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        match (unescape(id), unescape(secret)) {
            (Some(client_id), Some(secret)) if !client_id.is_empty() => Basic::Given { client_id, secret },
            _ => Basic::Malformed,
        }
    }

    pub fn is_used(&self) -> bool {
        *self != Basic::Absent
    }
}

/// The one answer to every failed client authentication — an unknown id, a
/// wrong secret, a method the client did not register, malformed
/// credentials — so that none tells which client ids exist or how they
/// authenticate (RFC 6749 §5.2 `invalid_client`).
fn failed() -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, "client authentication failed")
}

/// Authenticates the client before anything else of the request is looked
/// at, for a request to the issuer's `endpoint` (a path: an assertion's
/// `aud` may name it). The client comes from the in-memory catalog: no
/// database read, except an assertion's `jti` (written once).
pub async fn authenticate(
    p: &Provider,
    basic: &Basic,
    params: &Params,
    endpoint: &str,
) -> Result<Arc<Client>, OAuthError> {
    authenticate_with(p, basic, params, (endpoint, Fetch::IfKnown)).await
}

/// `authenticate` at /par, where a client_id URL that is no client yet may
/// be fetched (counted against the caller's address `ip`): like /authorize,
/// it starts a sign-in.
pub async fn authenticate_at_par(
    p: &Provider,
    basic: &Basic,
    params: &Params,
    ip: Option<&str>,
) -> Result<Arc<Client>, OAuthError> {
    authenticate_with(p, basic, params, (crate::paths::PAR, Fetch::Allowed { ip })).await
}

async fn authenticate_with(
    p: &Provider,
    basic: &Basic,
    params: &Params,
    (endpoint, fetch): (&str, Fetch<'_>),
) -> Result<Arc<Client>, OAuthError> {
    let body_id = params.one("client_id")?;
    let body_secret = params.one("client_secret")?;
    let assertion_type = params.one("client_assertion_type")?;
    if let Some(assertion) = params.one("client_assertion")? {
        // RFC 6749 §2.3: one method per request — an assertion with a
        // secret or Basic credentials is refused, whoever signed it.
        if basic.is_used() || body_secret.is_some() || assertion_type != Some(ASSERTION_TYPE) {
            return Err(failed());
        }
        return by_assertion(client_assertion::authenticate(p, assertion, body_id, (endpoint, fetch)).await);
    }
    if assertion_type.is_some() {
        return Err(failed());
    }
    let (client_id, secret, method) = match basic {
        Basic::Malformed => return Err(failed()),
        Basic::Given { client_id, secret } => {
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "client credentials given both in Basic and in the body",
                ));
            }
            if body_id.is_some_and(|id| id != client_id) {
                return Err(OAuthError::invalid_request("the body's client_id is not the Basic one"));
            }
            (client_id.as_str(), Some(secret.as_str()), AuthMethod::ClientSecretBasic)
        }
        Basic::Absent => match (body_id, body_secret) {
            (Some(id), Some(secret)) => (id, Some(secret), AuthMethod::ClientSecretPost),
            (Some(id), None) => (id, None, AuthMethod::None),
            (None, _) => return Err(failed()),
        },
    };
    let client = client_of(p, client_id, fetch).await?;
    let matched = match secret {
        Some(s) => secret_matches(client.as_deref(), s, p.now()),
        None => Matched::Current,
    };
    match client {
        Some(client) if client.auth_method == method => match matched {
            Matched::Current => Ok(client),
            Matched::Previous => by_previous_secret(p, &client, endpoint),
            Matched::Neither => Err(failed()),
        },
        _ => Err(failed()),
    }
}

/// An assertion's outcome as the endpoint answers it: a refusal is the
/// one `invalid_client`; the database away, a throttle or overload stay
/// what they are.
fn by_assertion(outcome: Result<Arc<Client>, AssertionError>) -> Result<Arc<Client>, OAuthError> {
    match outcome {
        Ok(client) => Ok(client),
        Err(AssertionError::Refused(why)) => {
            tracing::info!(why, "refused a client assertion");
            Err(failed())
        }
        Err(AssertionError::Store(e)) => Err(e.into()),
        Err(AssertionError::Unavailable(e)) => Err(e),
    }
}

/// The client an id names (`client_documents::resolve`: a URL is fetched
/// as its metadata document); a refused document is no client.
async fn client_of(p: &Provider, client_id: &str, fetch: Fetch<'_>) -> Result<Option<Arc<Client>>, OAuthError> {
    match super::client_documents::resolve(p, client_id, fetch).await {
        Ok(client) => Ok(client),
        // Throttled, too busy or the database away: that error, not the client's.
        Err(e) => {
            let why = e.refusal()?;
            tracing::info!(why, "refused a client's metadata document");
            Ok(None)
        }
    }
}

/// Which of a client's secrets a request presented.
enum Matched {
    Current,
    /// The one before the last rotation, during its grace.
    Previous,
    Neither,
}

/// Which secret `given` is: the client's, or its previous one while that
/// one's grace lasts (by the clock now, not when the catalog loaded). Both
/// are hashed and compared whether or not the client exists or has a
/// previous secret, so the time taken says nothing either.
fn secret_matches(client: Option<&Client>, given: &str, now: chrono::DateTime<chrono::Utc>) -> Matched {
    let given = secret::sha256(given);
    let current = client.and_then(|c| c.secret_hash.as_deref()).unwrap_or(&[0; 32]);
    let previous = client.and_then(|c| c.previous_secret.as_ref());
    let previous_hash = previous.map_or(&[0u8; 32][..], |p| p.hash.as_slice());
    let current_ok = secret::constant_time_eq(&given, current);
    let previous_ok = secret::constant_time_eq(&given, previous_hash);
    match (current_ok, previous_ok && previous.is_some_and(|p| now < p.valid_until)) {
        (true, _) => Matched::Current,
        (false, true) => Matched::Previous,
        (false, false) => Matched::Neither,
    }
}

/// A client that authenticated with its previous secret: each use is
/// audited (`client_auth`, "previous secret used") and counted, so the
/// operator sees who has not moved to the new secret — and notices a
/// stolen old secret at work. The copy returned says so
/// (`Client::by_previous_secret`): it gets no admin-API token. Refusing
/// those tokens outright is simpler and safer than marking them and
/// refusing only secret changes: an admin token can do far more than
/// rotate (make another admin client, for one), and a client rotating
/// its secret holds the new one. Unaudited, it is refused (503).
fn by_previous_secret(p: &Provider, client: &Client, endpoint: &str) -> Result<Arc<Client>, OAuthError> {
    p.metrics.previous_secret_use(endpoint);
    let event = crate::store::audit::NewEvent {
        client_id: Some(&client.client_id),
        details: serde_json::json!({ "endpoint": endpoint }),
        ..crate::store::audit::NewEvent::about("client_auth", "ok", None, None, "previous secret used")
    };
    p.audit(&event)?;
    Ok(Arc::new(Client {
        by_previous_secret: true,
        ..client.clone()
    }))
}

/// `authenticate`, for endpoints only confidential clients may call
/// (introspection, RFC 7662 §2.1): a public client fails like a bad secret.
pub async fn authenticate_confidential(
    p: &Provider,
    basic: &Basic,
    params: &Params,
    endpoint: &str,
) -> Result<Arc<Client>, OAuthError> {
    match authenticate(p, basic, params, endpoint).await {
        Ok(client) if !client.is_public() => Ok(client),
        // The database away (an assertion's jti cannot be recorded) is not
        // the client's failure: it stays a 503 or a 500.
        Err(e) if matches!(e.code, ErrorCode::TemporarilyUnavailable | ErrorCode::ServerError) => Err(e),
        _ => Err(failed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_urlencoded_inside_base64() {
        // "my%3Aclient" : "p%40ss+word" — a colon and an @ escaped, + is a space.
        let header = format!("Basic {}", STANDARD.encode("my%3Aclient:p%40ss+word"));
        assert_eq!(
            Basic::parse(Some(&header)),
            Basic::Given {
                client_id: "my:client".into(),
                secret: "p@ss word".into()
            }
        );
        assert_eq!(Basic::parse(None), Basic::Absent);
        assert_eq!(Basic::parse(Some("Bearer x")), Basic::Malformed);
        assert_eq!(Basic::parse(Some("Basic !!!")), Basic::Malformed);
        assert_eq!(
            Basic::parse(Some(&format!("Basic {}", STANDARD.encode("nocolon")))),
            Basic::Malformed
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn form_urlencoded_credentials_inside_basic_round_trip(id in ".{1,30}", secret in ".{0,40}") {
                let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let header = format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(&id), enc(&secret))));
                prop_assert_eq!(Basic::parse(Some(&header)), Basic::Given { client_id: id, secret });
            }

            #[test]
            fn any_header_is_given_or_malformed_never_a_panic(header in ".{0,80}") {
                prop_assert_ne!(Basic::parse(Some(&header)), Basic::Absent);
            }
        }
    }
}
