//! Client identifiers, grant types and client authentication methods.

use std::fmt;

/// A client identifier (RFC 6749 §2.2): 1 to 128 visible ASCII characters.
/// A UUID is refused, so a client_credentials `sub` (the client_id) never
/// collides with a user's `sub`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > 128 || !raw.chars().all(|c| ('\x21'..='\x7e').contains(&c))
        {
            return Err(format!(
                "`{raw}` is not a client id (1 to 128 visible ASCII characters, no space)"
            ));
        }
        if uuid::Uuid::try_parse(raw).is_ok() {
            return Err(format!(
                "`{raw}` is a UUID; a client id must not look like a user's `sub`"
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The grant types Lanyard implements (RFC 6749 §4, RFC 8693 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    TokenExchange,
}

impl GrantType {
    pub const ALL: [GrantType; 4] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::TokenExchange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }
}

protocol_names!(GrantType, "grant type");

/// Client authentication at the token endpoint (RFC 6749 §2.3, OIDC Core §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// A public client: it holds no secret.
    None,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 3] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }
}

protocol_names!(AuthMethod, "auth method");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_visible_ascii_and_never_uuids() {
        assert!(ClientId::parse("demo-app").is_ok());
        assert!(ClientId::parse("https://rp.example/app").is_ok());
        for bad in ["", "has space", "é", "6f1c2a8e-4b7d-4c55-9a3e-0d2b9f1e7c11"] {
            assert!(ClientId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn grant_types_and_methods_round_trip() {
        for g in GrantType::ALL {
            assert_eq!(g.as_str().parse::<GrantType>(), Ok(g));
        }
        for m in AuthMethod::ALL {
            assert_eq!(m.as_str().parse::<AuthMethod>(), Ok(m));
        }
        assert!("implicit".parse::<GrantType>().is_err());
    }
}
