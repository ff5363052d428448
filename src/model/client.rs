//! Client identifiers, grant types and client authentication methods.

use std::fmt;

/// A client identifier (RFC 6749 §2.2): 1 to 64 characters, each an RFC 3986
/// §2.3 unreserved character (`A–Z a–z 0–9 - . _ ~`), so an id is the same
/// wherever it goes — a URL path or query, Basic credentials, a form. A UUID
/// is refused, so a client_credentials `sub` (the client_id) never collides
/// with a user's `sub`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let unreserved = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
        if raw.contains("://") {
            return Err(format!(
                "`{raw}` is not a client id: a URL is a client_id only as a client's own metadata document, never registered"
            ));
        }
        if raw.is_empty() || raw.len() > 64 || !raw.chars().all(unreserved) {
            return Err(format!("`{raw}` is not a client id (1 to 64 of A-Z a-z 0-9 - . _ ~)"));
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
    /// A JWT signed with one of the client's registered private keys
    /// (RFC 7523 §2.2, OIDC Core §9): it holds keys, never a secret.
    PrivateKeyJwt,
    /// A public client: it holds no secret.
    None,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 4] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::PrivateKeyJwt,
        AuthMethod::None,
    ];

    /// The methods that present a client secret: a client with one of them
    /// holds a secret, every other client holds none.
    pub fn uses_secret(self) -> bool {
        matches!(self, AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::None => "none",
        }
    }
}

protocol_names!(AuthMethod, "auth method");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_unreserved_characters_and_never_uuids() {
        for good in ["demo-app", "a", "A.b_c~d-9", &"x".repeat(64)] {
            assert!(ClientId::parse(good).is_ok(), "{good}");
        }
        let too_long = "x".repeat(65);
        for bad in [
            "",
            "has space",
            "é",
            "https://rp.example/app",
            "a/b",
            "a?b",
            "a#b",
            "..%2F",
            "a:b",
            "a@b",
            "a+b",
            &too_long,
            "6f1c2a8e-4b7d-4c55-9a3e-0d2b9f1e7c11",
        ] {
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

/// A registered client, as the protocol flows see it.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub auth_method: AuthMethod,
    pub secret_hash: Option<Vec<u8>>,
    /// The public keys of a `private_key_jwt` client (None for any other).
    pub keys: Option<super::KeySource>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<super::OidcScope>,
    pub first_party: bool,
    pub id_token_alg: crate::crypto::Alg,
    /// `dpop_bound_access_tokens` (RFC 9449 §5.2), and server nonces (§8).
    pub dpop: super::DpopPolicy,
    /// Where its logout tokens go, if anywhere (Back-Channel Logout §2.2).
    pub backchannel_logout: Option<BackchannelLogout>,
    /// RFC 9126 §6 `require_pushed_authorization_requests`.
    pub require_par: bool,
    /// The secret before the last rotation, during its grace period.
    pub previous_secret: Option<PreviousSecret>,
    /// It registered itself (RFC 7591): nobody vouches for it, and what
    /// Lanyard fetches or posts to for it must be on the public internet.
    pub self_registered: bool,
    /// A client whose client_id is the URL of its metadata document
    /// (`protocol::client_documents`): until when its last fetch is fresh.
    /// `None` for every other client.
    pub document_fresh_until: Option<chrono::DateTime<chrono::Utc>>,
    /// This request's client authenticated with its previous secret, during
    /// its grace: set only on the copy `protocol::client_auth` returns (the
    /// catalog's entries never have it). Such a request gets no admin-API
    /// token (`protocol::api_tokens::admit`).
    pub by_previous_secret: bool,
}

/// A rotated secret still accepted until `valid_until` (checked against the
/// clock at each request, not only when the catalog loads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousSecret {
    /// Its SHA-256.
    pub hash: Vec<u8>,
    pub valid_until: chrono::DateTime<chrono::Utc>,
}

/// A client's back-channel logout registration (OpenID Connect
/// Back-Channel Logout 1.0 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackchannelLogout {
    pub uri: super::BackchannelLogoutUri,
    /// `backchannel_logout_session_required`: its logout tokens must carry
    /// `sid` (Lanyard's always do).
    pub session_required: bool,
}

impl Client {
    /// A public client holds no secret (RFC 6749 §2.1).
    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }

    pub fn has_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Exact string comparison (RFC 9700 §4.1.3), except that a public client's
    /// loopback IP-literal redirect URI matches on any port (RFC 8252 §7.3).
    pub fn redirect_uri_matches(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|registered| {
            registered == uri
                || (self.is_public()
                    && matches!((without_loopback_port(registered), without_loopback_port(uri)), (Some(a), Some(b)) if a == b))
        })
    }
}

/// `http://127.0.0.1:PORT/…` or `http://[::1]:PORT/…` without its port; None for anything else.
fn without_loopback_port(uri: &str) -> Option<String> {
    ["http://127.0.0.1", "http://[::1]"].into_iter().find_map(|prefix| {
        let rest = uri.strip_prefix(prefix)?;
        let rest = match rest.strip_prefix(':') {
            Some(port_and_rest) => {
                let digits = port_and_rest.chars().take_while(char::is_ascii_digit).count();
                if digits == 0 || digits > 5 {
                    return None;
                }
                &port_and_rest[digits..]
            }
            None => rest,
        };
        (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')).then(|| format!("{prefix}{rest}"))
    })
}

#[cfg(test)]
mod redirect_tests {
    use super::*;

    fn client(public: bool, uris: &[&str]) -> Client {
        Client {
            client_id: "c".into(),
            name: "c".into(),
            auth_method: if public {
                AuthMethod::None
            } else {
                AuthMethod::ClientSecretBasic
            },
            secret_hash: None,
            keys: None,
            redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: vec![],
            first_party: false,
            id_token_alg: crate::crypto::Alg::RS256,
            dpop: Default::default(),
            backchannel_logout: None,
            require_par: false,
            previous_secret: None,
            self_registered: false,
            document_fresh_until: None,
            by_previous_secret: false,
        }
    }

    #[test]
    fn redirect_uris_match_exactly() {
        let c = client(false, &["https://a.example/cb?x=1"]);
        assert!(c.redirect_uri_matches("https://a.example/cb?x=1"));
        assert!(!c.redirect_uri_matches("https://a.example/cb"));
        assert!(!c.redirect_uri_matches("https://a.example/cb?x=1&y=2"));
        assert!(!c.redirect_uri_matches("https://A.example/cb?x=1"));
    }

    #[test]
    fn public_loopback_ip_redirects_match_on_any_port() {
        let c = client(true, &["http://127.0.0.1/cb", "http://[::1]:8080/cb"]);
        assert!(c.redirect_uri_matches("http://127.0.0.1:51234/cb"));
        assert!(c.redirect_uri_matches("http://[::1]:9/cb"));
        assert!(!c.redirect_uri_matches("http://127.0.0.1:51234/other"));
        assert!(!c.redirect_uri_matches("http://127.0.0.1.evil.example/cb"));
        assert!(!client(false, &["http://127.0.0.1/cb"]).redirect_uri_matches("http://127.0.0.1:5/cb"));
        assert!(!client(true, &["http://localhost/cb"]).redirect_uri_matches("http://localhost:5/cb"));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn unreserved_characters_make_a_client_id(raw in "[A-Za-z0-9._~-]{1,64}") {
                prop_assume!(uuid::Uuid::try_parse(&raw).is_err());
                let id = ClientId::parse(&raw).unwrap();
                prop_assert_eq!(id.as_str(), raw.as_str());
            }

            #[test]
            fn one_reserved_character_refuses_a_client_id(
                before in "[a-z]{0,10}", bad in "[^A-Za-z0-9._~-]", after in "[a-z]{0,10}"
            ) {
                let raw = format!("{before}{bad}{after}");
                prop_assert!(ClientId::parse(&raw).is_err(), "{}", raw);
            }
        }
    }
}
