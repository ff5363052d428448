//! The whole code flow with the `openidconnect` crate as the relying party:
//! discovery → authorization URL with PKCE and nonce → sign-in → code exchange
//! → id_token verified by the crate → UserInfo → refresh with a new id_token.

use openidconnect::core::{
    CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, TokenResponse,
};

use crate::support::{
    ClientSpec, crate_authorize, crate_client, crate_redeem, create_client, create_service, create_user, location,
    oidc_http, query_param, spawn_app,
};

#[tokio::test]
async fn the_openidconnect_crate_completes_the_code_flow_for_rs256_es256_and_eddsa_clients() {
    let app = spawn_app().await;
    let sub = create_user(&app, "ada").await;
    let http = oidc_http();
    for (alg, jws_alg) in [
        ("RS256", CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256),
        ("ES256", CoreJwsSigningAlgorithm::EcdsaP256Sha256),
        ("EdDSA", CoreJwsSigningAlgorithm::EdDsa),
    ] {
        let id = format!("rp-{}", alg.to_lowercase());
        let registered = create_client(
            &app,
            ClientSpec {
                id: &id,
                alg,
                ..Default::default()
            },
        )
        .await;
        let client = crate_client(&app, &registered).await;
        let (url, verifier, state, nonce) = crate_authorize(&client, &["profile", "email"]);
        let res = app.authorize(url.as_str(), "ada").await;
        let back = location(&res);
        assert_eq!(query_param(&back, "state").as_deref(), Some(state.secret().as_str()));
        let code = query_param(&back, "code").expect("a code");

        let tokens = crate_redeem(&client, code, verifier).await;
        let verifier = client.id_token_verifier().set_allowed_algs([jws_alg]);
        let id_token = tokens.id_token().expect("an id_token");
        let claims = id_token
            .claims(&verifier, &nonce)
            .expect("the crate verifies the id_token");
        assert_eq!(claims.subject().as_str(), sub.to_string());
        assert_eq!(claims.email().map(|e| e.as_str()), Some("ada@example.com"));
        let expected_hash = claims.access_token_hash().expect("at_hash");
        let actual = AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&verifier).unwrap(),
        )
        .unwrap();
        assert_eq!(&actual, expected_hash, "{alg}: at_hash");

        let userinfo: CoreUserInfoClaims = client
            .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
            .unwrap()
            .request_async(&http)
            .await
            .expect("userinfo");
        assert_eq!(userinfo.subject(), claims.subject());
        assert_eq!(userinfo.email().map(|e| e.as_str()), Some("ada@example.com"));

        let refreshed = client
            .exchange_refresh_token(tokens.refresh_token().expect("a refresh token"))
            .unwrap()
            .request_async(&http)
            .await
            .expect("refresh");
        let new_id_token = refreshed
            .id_token()
            .expect("refresh returns a new id_token (OIDC Core §12.2)");
        // A refreshed id_token has no nonce: verify without one.
        let new_claims = new_id_token
            .claims(
                &verifier,
                |n: Option<&Nonce>| if n.is_none() { Ok(()) } else { Err("nonce".to_owned()) },
            )
            .expect("the refreshed id_token verifies");
        assert_eq!(new_claims.subject(), claims.subject());
        assert_eq!(new_claims.audiences(), claims.audiences());
        assert_eq!(new_claims.auth_time(), claims.auth_time());
        assert_ne!(
            refreshed.refresh_token().unwrap().secret(),
            tokens.refresh_token().unwrap().secret(),
            "rotated"
        );
    }
}

/// The product's story, end to end: sign in with the `openidconnect` crate →
/// id_token → exchange it for an API token → the API accepts it → the API
/// refuses the id_token → revocation → introspection says inactive.
#[tokio::test]
async fn the_whole_story_from_sign_in_to_revocation() {
    use crate::support::{allow, create_api};
    use serde_json::Value;

    const ORDERS: &str = "https://orders.example";
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let registered = create_client(
        &app,
        ClientSpec {
            id: "story",
            grants: &["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"],
            ..Default::default()
        },
    )
    .await;
    let api_server = create_service(&app, "orders-rs").await;
    create_api(&app, ORDERS, &["read", "write"], None, &["orders-rs"]).await;
    allow(&app, &registered.id, ORDERS, &["read"]).await;
    let (_api, api_base) = crate::resource_server::start_resource_server(&app, ORDERS).await;

    // Sign in: the relying party gets an id_token and verifies it.
    let http = oidc_http();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(app.address.clone()).unwrap(), &http)
        .await
        .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(registered.id.clone()),
        registered.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(registered.redirect_uri.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let code = query_param(&location(&app.authorize(url.as_str(), "ada").await), "code").unwrap();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let id_token = tokens.id_token().unwrap();
    id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("the id_token verifies");
    let id_token = id_token.to_string();

    // Exchange it for an access token to the API (RFC 8693).
    let exchanged: Value = app
        .exchange(&registered, &id_token, &[("resource", ORDERS)])
        .await
        .json()
        .await
        .unwrap();
    let access = exchanged["access_token"].as_str().expect("an access token").to_owned();

    // The API accepts the access token and refuses the id_token.
    let call = |token: String| {
        let url = format!("{api_base}/orders");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(call(access.clone()).await, 200);
    assert_eq!(call(id_token.clone()).await, 401);

    // Revocation, then introspection by the API's resource server says inactive.
    assert_eq!(
        app.post_as(&registered, "/revoke", &[("token", &access)])
            .await
            .status(),
        200
    );
    let answer: Value = app
        .post_as(&api_server, "/introspect", &[("token", &access)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer, serde_json::json!({ "active": false }));
    // An API validating offline still accepts it until `exp`: keep access tokens short.
    assert_eq!(call(access).await, 200);
}
