//! Client authentication at the token, introspection and revocation endpoints
//! (RFC 6749 §2.3): `client_secret_basic`, `client_secret_post`, or `none`.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::Provider;
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

fn invalid_client(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, description)
}

/// Authenticates the client before anything else of the request is looked at.
/// The client comes from the in-memory catalog: no database read.
pub fn authenticate(p: &Provider, basic: &Basic, params: &Params) -> Result<Arc<Client>, OAuthError> {
    let body_id = params.one("client_id")?;
    let body_secret = params.one("client_secret")?;
    let (client_id, secret, method) = match basic {
        Basic::Malformed => return Err(invalid_client("malformed Basic credentials")),
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
            (None, _) => return Err(invalid_client("client authentication is required")),
        },
    };
    let client = p
        .catalog
        .client(client_id)
        .ok_or_else(|| invalid_client("unknown client or bad credentials"))?;
    if client.auth_method != method {
        return Err(invalid_client(&format!(
            "this client authenticates with {}",
            client.auth_method
        )));
    }
    if let Some(secret) = secret {
        let expected = client.secret_hash.as_deref().unwrap_or_default();
        if !secret::constant_time_eq(&secret::sha256(secret), expected) {
            return Err(invalid_client("unknown client or bad credentials"));
        }
    }
    Ok(client)
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
}
