//! The discovery document: OpenID Connect Discovery 1.0 §3 and RFC 8414 §2.

use openidconnect::IssuerUrl;
use openidconnect::core::CoreProviderMetadata;
use serde_json::{Value, json};

use crate::support::{TestApp, oidc_http, spawn_app};

#[tokio::test]
async fn discovery_is_accepted_by_the_openidconnect_crate() {
    let app = spawn_app().await;
    let issuer = IssuerUrl::new(app.address.clone()).unwrap();
    // The crate checks that `issuer` equals the URL it was asked about (Discovery §4.3).
    let meta = CoreProviderMetadata::discover_async(issuer, &oidc_http())
        .await
        .expect("valid provider metadata");
    assert_eq!(meta.issuer().as_str(), app.address);
    assert_eq!(meta.jwks_uri().as_str(), app.url("/jwks"));
    assert_eq!(
        meta.token_endpoint().map(|u| u.as_str().to_owned()),
        Some(app.url("/token"))
    );
    assert_eq!(
        meta.userinfo_endpoint().map(|u| u.as_str().to_owned()),
        Some(app.url("/userinfo"))
    );
    // discover_async fetched the JWKS too: every published key is there.
    assert_eq!(meta.jwks().keys().len(), 6);
}

#[tokio::test]
async fn discovery_lists_every_endpoint_at_its_final_path() {
    let app = spawn_app().await;
    let doc = app.get_json("/.well-known/openid-configuration").await;
    for (member, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
        ("end_session_endpoint", "/logout"),
        ("introspection_endpoint", "/introspect"),
        ("revocation_endpoint", "/revoke"),
    ] {
        assert_eq!(doc[member], json!(app.url(path)), "{member}");
    }
    assert_eq!(doc["issuer"], json!(app.address));
}

#[tokio::test]
async fn discovery_states_the_supported_values_explicitly() {
    let app = spawn_app().await;
    let doc = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["response_modes_supported"], json!(["query"]));
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], json!(true));
    assert_eq!(doc["claims_parameter_supported"], json!(true));
    let scopes = doc["scopes_supported"].as_array().unwrap();
    for scope in ["openid", "profile", "email", "phone", "address", "offline_access"] {
        assert!(scopes.contains(&json!(scope)), "{scope}");
    }
}

#[tokio::test]
async fn grant_types_supported_lists_exactly_the_four_grants() {
    // Left out, it would default to ["authorization_code", "implicit"] (RFC 8414 §2).
    let app = spawn_app().await;
    let doc = app.get_json("/.well-known/openid-configuration").await;
    let mut grants: Vec<&str> = doc["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    grants.sort();
    assert_eq!(
        grants,
        [
            "authorization_code",
            "client_credentials",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ]
    );
}

#[tokio::test]
async fn id_token_algorithms_list_rs256_first() {
    // OIDC Core §15.1: RS256 must be supported.
    let app = spawn_app().await;
    let doc = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256", "ES256", "EdDSA"])
    );
}

#[tokio::test]
async fn request_objects_are_declared_unsupported() {
    // Left out, request_uri_parameter_supported would default to true (Discovery §3).
    let app = spawn_app().await;
    let doc = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(doc["request_parameter_supported"], json!(false));
    assert_eq!(doc["request_uri_parameter_supported"], json!(false));
}

#[tokio::test]
async fn claims_supported_has_every_standard_claim() {
    let app = spawn_app().await;
    let doc = app.get_json("/.well-known/openid-configuration").await;
    let claims = doc["claims_supported"].as_array().unwrap();
    // OIDC Core §5.1, plus sub, iss and auth_time.
    for claim in [
        "sub",
        "iss",
        "auth_time",
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
        "address",
        "updated_at",
    ] {
        assert!(claims.contains(&json!(claim)), "{claim}");
    }
}

#[tokio::test]
async fn authorization_server_metadata_is_the_same_document() {
    // RFC 8414 §3.3: the issuer must equal the one the metadata was fetched for.
    let app = spawn_app().await;
    let oidc: Value = app.get_json("/.well-known/openid-configuration").await;
    let oauth: Value = app.get_json("/.well-known/oauth-authorization-server").await;
    assert_eq!(oidc, oauth);
}

#[tokio::test]
async fn discovery_is_public_cacheable_json_for_any_origin() {
    let app = spawn_app().await;
    let res = app.get("/.well-known/openid-configuration").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public, max-age=")
    );
    assert_eq!(res.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in [
        "/.well-known/openid-configuration",
        "/jwks",
        "/healthz",
        "/no-such-page",
    ] {
        let res = app.get(path).await;
        let h = res.headers();
        assert_eq!(
            h["content-security-policy"],
            "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
            "{path}"
        );
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["cross-origin-opener-policy"], "same-origin", "{path}");
        assert!(h.get("strict-transport-security").is_none(), "not over http: {path}");
    }
}

#[tokio::test]
async fn an_https_issuer_sends_strict_transport_security() {
    let app = TestApp::builder()
        .config(|c| {
            c.issuer = lanyard::config::Issuer::parse("https://id.example.test").unwrap();
        })
        .spawn()
        .await;
    for path in ["/.well-known/openid-configuration", "/signin", "/no-such-page"] {
        let res = app.get(path).await;
        assert_eq!(res.headers()["strict-transport-security"], "max-age=63072000", "{path}");
    }
}

#[tokio::test]
async fn discovery_names_the_token_types_the_exchange_accepts() {
    let app = spawn_app().await;
    let doc = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        doc["token_exchange_subject_token_types_supported"],
        serde_json::json!([
            "urn:ietf:params:oauth:token-type:id_token",
            "urn:ietf:params:oauth:token-type:access_token"
        ])
    );
    assert_eq!(
        doc["token_exchange_requested_token_types_supported"],
        serde_json::json!(["urn:ietf:params:oauth:token-type:access_token"])
    );
}
