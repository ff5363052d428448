//! Provider metadata: OpenID Connect Discovery 1.0 §3 and RFC 8414 §2.

use serde_json::{Value, json};

use crate::config::Issuer;
use crate::crypto::Alg;
use crate::model::{AuthLevel, AuthMethod, GrantType, OidcScope};
use crate::paths;

/// The claims of OIDC Core §5.1, plus the ones every id_token carries.
pub const CLAIMS_SUPPORTED: [&str; 28] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "sid",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
];

/// The metadata document. Both well-known paths serve it: RFC 8414 §2 allows
/// the OIDC members, and every endpoint is listed at its final path.
/// What the deployment's settings add or state (RFC 8414 §2
/// `registration_endpoint`, named only when registration is on; RFC 9126
/// §5 `require_pushed_authorization_requests`; Client ID Metadata Document
/// §4 `client_id_metadata_document_supported`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Policies {
    pub registration: bool,
    pub require_par: bool,
    pub client_id_metadata_documents: bool,
}

pub fn metadata(issuer: &Issuer, policies: Policies) -> Value {
    let auth_methods: Vec<&str> = AuthMethod::ALL.iter().map(|m| m.as_str()).collect();
    let mut claims: Vec<&str> = CLAIMS_SUPPORTED.to_vec();
    claims.extend(["address", "updated_at"]);
    let mut doc = json!({
        "issuer": issuer.as_str(),
        "authorization_endpoint": issuer.url(paths::AUTHORIZE),
        "token_endpoint": issuer.url(paths::TOKEN),
        // RFC 9126 §5.
        "pushed_authorization_request_endpoint": issuer.url(paths::PAR),
        "require_pushed_authorization_requests": policies.require_par,
        "userinfo_endpoint": issuer.url(paths::USERINFO),
        "jwks_uri": issuer.url(paths::JWKS),
        "end_session_endpoint": issuer.url(paths::LOGOUT),
        // OpenID Connect Back-Channel Logout 1.0 §2.1: logout tokens carry `sid`.
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "introspection_endpoint": issuer.url(paths::INTROSPECT),
        "revocation_endpoint": issuer.url(paths::REVOKE),
        "scopes_supported": OidcScope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        // Explicit: left out, it would default to ["authorization_code", "implicit"].
        "grant_types_supported": GrantType::ALL.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": Alg::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": super::client_assertion::SIGNING_ALGS,
        "claims_supported": claims,
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": true,
        // Explicit: left out, they would default to false and true (OIDC Discovery §3).
        "request_parameter_supported": false,
        // Request objects by reference (OIDC Core §6.2) are not fetched; the
        // `request_uri`s of pushed requests are (RFC 9126 §4, above).
        "request_uri_parameter_supported": false,
        "code_challenge_methods_supported": ["S256"],
        // RFC 9449 §5.1.
        "dpop_signing_alg_values_supported": super::dpop::SIGNING_ALGS,
        "acr_values_supported": AuthLevel::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        // No metadata is registered for RFC 8693's token types: Lanyard's own
        // names, for the subject types its exchange accepts (README).
        "token_exchange_subject_token_types_supported": [super::token::ID_TOKEN_TYPE, super::token::ACCESS_TOKEN_TYPE],
        "token_exchange_requested_token_types_supported": [super::token::ACCESS_TOKEN_TYPE],
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login", "consent"],
        "display_values_supported": ["page"],
    });
    endpoint_auth(&mut doc, &auth_methods);
    if policies.registration {
        doc["registration_endpoint"] = json!(issuer.url(paths::CLIENT_REGISTRATION));
    }
    if policies.client_id_metadata_documents {
        doc["client_id_metadata_document_supported"] = json!(true);
    }
    doc
}

/// How clients authenticate at introspection (RFC 7662 §2.1: only clients
/// that authenticate) and revocation (RFC 8414 §2).
fn endpoint_auth(doc: &mut Value, auth_methods: &[&str]) {
    doc["introspection_endpoint_auth_methods_supported"] =
        json!(["client_secret_basic", "client_secret_post", "private_key_jwt"]);
    doc["introspection_endpoint_auth_signing_alg_values_supported"] = json!(super::client_assertion::SIGNING_ALGS);
    doc["revocation_endpoint_auth_methods_supported"] = json!(auth_methods);
    doc["revocation_endpoint_auth_signing_alg_values_supported"] = json!(super::client_assertion::SIGNING_ALGS);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_sits_under_the_issuer() {
        let issuer = Issuer::parse("https://id.example.com").unwrap();
        let doc = metadata(
            &issuer,
            Policies {
                registration: true,
                require_par: false,
                client_id_metadata_documents: false,
            },
        );
        for key in [
            "authorization_endpoint",
            "token_endpoint",
            "userinfo_endpoint",
            "jwks_uri",
            "end_session_endpoint",
            "introspection_endpoint",
            "revocation_endpoint",
        ] {
            assert!(
                doc[key].as_str().unwrap().starts_with("https://id.example.com/"),
                "{key}"
            );
        }
        assert_eq!(doc["id_token_signing_alg_values_supported"][0], "RS256");
    }
}
