//! DPoP binding follows the grant (RFC 9449 §5, §10): a code issued with
//! `dpop_jkt` or redeemed with a proof binds its grant; the grant's refresh
//! tokens and the id_tokens it issued then need a proof of that key.

use serde_json::{Value, json};

use crate::dpop::Key;
use crate::support::{
    ClientSpec, EXCHANGE, EXCHANGE_GRANTS, ID_TOKEN_TYPE, TestApp, TestClient, allow, auth_url, create_api,
    create_client, create_user, error_of, jwt_claims, location, query_param, spawn_app,
};

const API: &str = "https://orders.example";

/// POST /token as `client`, with a DPoP proof when given.
pub async fn token_with(
    app: &TestApp,
    client: &TestClient,
    form: &[(&str, &str)],
    proof: Option<String>,
) -> reqwest::Response {
    let mut form = form.to_vec();
    let mut req = app.client.post(app.url("/token"));
    match &client.secret {
        Some(secret) => req = req.basic_auth(&client.id, Some(secret)),
        None => form.push(("client_id", &client.id)),
    }
    if let Some(proof) = proof {
        req = req.header("DPoP", proof);
    }
    req.form(&form).send().await.unwrap()
}

/// A code for `client`, asked for with these extra authorization parameters.
async fn code(app: &TestApp, client: &TestClient, extra: &[(&str, &str)]) -> (String, String) {
    let auth = auth_url(app, client, "openid offline_access", extra);
    let to = location(&app.authorize(&auth.url, "ada").await);
    (query_param(&to, "code").expect("a code"), auth.verifier)
}

async fn redeem(
    app: &TestApp,
    client: &TestClient,
    (code, verifier): &(String, String),
    proof: Option<String>,
) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    token_with(app, client, &form, proof).await
}

/// The tokens of a code flow redeemed with a proof of `key`: a bound grant.
pub async fn bound_tokens(app: &TestApp, client: &TestClient, key: &Key) -> Value {
    let code = code(app, client, &[]).await;
    let res = redeem(app, client, &code, Some(key.proof(app))).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn setup(spec: ClientSpec<'_>) -> (TestApp, TestClient) {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let client = create_client(&app, spec).await;
    create_api(&app, API, &["read"], None, &[]).await;
    allow(&app, &client.id, API, &["read"]).await;
    (app, client)
}

fn refresh_form(token: &str) -> [(&str, &str); 2] {
    [("grant_type", "refresh_token"), ("refresh_token", token)]
}

fn exchange_form(id_token: &str) -> [(&str, &str); 4] {
    [
        ("grant_type", EXCHANGE),
        ("subject_token", id_token),
        ("subject_token_type", ID_TOKEN_TYPE),
        ("resource", API),
    ]
}

fn str_of<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name].as_str().unwrap_or_else(|| panic!("no {name} in {v}"))
}

#[tokio::test]
async fn a_code_issued_with_dpop_jkt_is_redeemed_only_with_a_proof_of_that_key() {
    let (app, client) = setup(ClientSpec::default()).await;
    let key = Key::new();
    let code = code(&app, &client, &[("dpop_jkt", &key.thumbprint())]).await;
    let (status, error) = error_of(redeem(&app, &client, &code, None).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_dpop_proof"), "no proof");
    let (status, error) = error_of(redeem(&app, &client, &code, Some(Key::new().proof(&app))).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "another key");
    // The refusals spent nothing: the key holder redeems the code.
    let res = redeem(&app, &client, &code, Some(key.proof(&app))).await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    assert_eq!(tokens["token_type"], "DPoP");
    assert_eq!(
        jwt_claims(str_of(&tokens, "access_token"))["cnf"]["jkt"],
        key.thumbprint()
    );
    assert_eq!(jwt_claims(str_of(&tokens, "id_token"))["cnf"]["jkt"], key.thumbprint());
}

#[tokio::test]
async fn dpop_jkt_must_be_a_jwk_thumbprint() {
    let (app, client) = setup(ClientSpec::default()).await;
    let auth = auth_url(&app, &client, "openid", &[("dpop_jkt", "not-a-thumbprint")]);
    let to = location(&app.visit(&auth.url).await);
    assert_eq!(query_param(&to, "error").as_deref(), Some("invalid_request"), "{to}");
}

#[tokio::test]
async fn an_unbound_code_and_its_grant_stay_bearer() {
    let (app, client) = setup(ClientSpec::default()).await;
    let tokens: Value = redeem(&app, &client, &code(&app, &client, &[]).await, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(jwt_claims(str_of(&tokens, "id_token"))["cnf"].is_null());
    let res = token_with(&app, &client, &refresh_form(str_of(&tokens, "refresh_token")), None).await;
    assert_eq!(res.status(), 200, "an unbound grant refreshes without a proof");
}

#[tokio::test]
async fn a_bound_grants_refresh_token_needs_a_proof_of_its_key() {
    let (app, client) = setup(ClientSpec::default()).await;
    let key = Key::new();
    let tokens = bound_tokens(&app, &client, &key).await;
    let refresh_token = str_of(&tokens, "refresh_token");
    let (status, error) = error_of(token_with(&app, &client, &refresh_form(refresh_token), None).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_dpop_proof"), "no proof");
    let other = Some(Key::new().proof(&app));
    let (status, error) = error_of(token_with(&app, &client, &refresh_form(refresh_token), other).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "another key");
    // The refusals rotated nothing: with the key, the same token refreshes.
    let res = token_with(&app, &client, &refresh_form(refresh_token), Some(key.proof(&app))).await;
    assert_eq!(res.status(), 200);
    let refreshed: Value = res.json().await.unwrap();
    assert_eq!(refreshed["token_type"], "DPoP");
    assert_eq!(
        jwt_claims(str_of(&refreshed, "access_token"))["cnf"]["jkt"],
        key.thumbprint()
    );
    assert_eq!(
        jwt_claims(str_of(&refreshed, "id_token"))["cnf"]["jkt"],
        key.thumbprint()
    );
}

#[tokio::test]
async fn a_public_clients_first_refresh_with_a_proof_binds_its_grant() {
    let spec = ClientSpec {
        id: "spa",
        public: true,
        ..Default::default()
    };
    let (app, spa) = setup(spec).await;
    let tokens: Value = redeem(&app, &spa, &code(&app, &spa, &[]).await, None)
        .await
        .json()
        .await
        .unwrap();
    let key = Key::new();
    let res = token_with(
        &app,
        &spa,
        &refresh_form(str_of(&tokens, "refresh_token")),
        Some(key.proof(&app)),
    )
    .await;
    assert_eq!(res.status(), 200);
    let refreshed: Value = res.json().await.unwrap();
    assert_eq!(
        jwt_claims(str_of(&refreshed, "id_token"))["cnf"]["jkt"],
        key.thumbprint(),
        "RFC 9449 §5"
    );
    let next = str_of(&refreshed, "refresh_token");
    let (status, error) = error_of(token_with(&app, &spa, &refresh_form(next), None).await).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_dpop_proof"),
        "bound from then on"
    );
    assert_eq!(
        token_with(&app, &spa, &refresh_form(next), Some(key.proof(&app)))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_stolen_id_token_of_a_bound_grant_is_refused_at_exchange_without_the_key() {
    let (app, client) = setup(ClientSpec::exchanging()).await;
    let key = Key::new();
    let id_token = str_of(&bound_tokens(&app, &client, &key).await, "id_token").to_owned();
    let form = exchange_form(&id_token);
    let (status, error) = error_of(token_with(&app, &client, &form, None).await).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_dpop_proof"),
        "the thief has no key"
    );
    let (status, error) = error_of(token_with(&app, &client, &form, Some(Key::new().proof(&app))).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "the thief's own key");
    let res = token_with(&app, &client, &form, Some(key.proof(&app))).await;
    assert_eq!(res.status(), 200, "the key holder exchanges it");
    let exchanged: Value = res.json().await.unwrap();
    assert_eq!(exchanged["token_type"], "DPoP");
    let claims = jwt_claims(str_of(&exchanged, "access_token"));
    assert_eq!(
        (claims["aud"].as_str(), claims["cnf"]["jkt"].clone()),
        (Some(API), json!(key.thumbprint()))
    );
}

#[tokio::test]
async fn a_public_client_exchanges_its_bound_id_token_with_the_proof_alone() {
    let spec = ClientSpec {
        id: "spa",
        public: true,
        grants: EXCHANGE_GRANTS,
        ..Default::default()
    };
    let (app, spa) = setup(spec).await;
    let key = Key::new();
    let id_token = str_of(&bound_tokens(&app, &spa, &key).await, "id_token").to_owned();
    let res = token_with(&app, &spa, &exchange_form(&id_token), Some(key.proof(&app))).await;
    assert_eq!(res.status(), 200);
    let exchanged: Value = res.json().await.unwrap();
    assert_eq!(
        jwt_claims(str_of(&exchanged, "access_token"))["cnf"]["jkt"],
        key.thumbprint()
    );

    // Its unbound id_token: a public client cannot authenticate for it.
    let unbound: Value = redeem(&app, &spa, &code(&app, &spa, &[]).await, None)
        .await
        .json()
        .await
        .unwrap();
    let res = token_with(&app, &spa, &exchange_form(str_of(&unbound, "id_token")), None).await;
    let (status, error) = error_of(res).await;
    assert_eq!((status, error.as_str()), (400, "unauthorized_client"));
}
