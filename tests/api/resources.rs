//! Resource indicators (RFC 8707) for the code and refresh grants.

use serde_json::Value;

use crate::support::{
    ClientSpec, PASSWORD, TestApp, TestClient, allow, auth_url, create_api, create_client, create_user, error_of,
    hidden_field, jwt_claims, location, query_param, spawn_app,
};

const ORDERS: &str = "https://orders.example";
const BILLING: &str = "https://billing.example";

async fn setup(first_party: bool) -> (TestApp, TestClient) {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let client = create_client(
        &app,
        ClientSpec {
            first_party,
            ..Default::default()
        },
    )
    .await;
    create_api(&app, ORDERS, &["read", "write", "admin"], None, &[]).await;
    create_api(&app, BILLING, &["pay"], Some("RS256"), &[]).await;
    allow(&app, &client.id, ORDERS, &["read", "write"]).await;
    allow(&app, &client.id, BILLING, &["pay"]).await;
    (app, client)
}

/// Signs in with `extra` parameters and redeems the code with `token_extra`.
async fn tokens(
    app: &TestApp,
    client: &TestClient,
    scope: &str,
    extra: &[(&str, &str)],
    token_extra: &[(&str, &str)],
) -> reqwest::Response {
    let auth = auth_url(app, client, scope, extra);
    let res = app.authorize(&auth.url, "ada").await;
    let code = query_param(&location(&res), "code").expect("a code");
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("code_verifier", auth.verifier.as_str()),
    ];
    form.extend_from_slice(token_extra);
    app.token(client, &form).await
}

#[tokio::test]
async fn the_only_resource_named_at_authorize_gets_the_access_token() {
    let (app, client) = setup(true).await;
    let body: Value = tokens(&app, &client, "openid read", &[("resource", ORDERS)], &[])
        .await
        .json()
        .await
        .unwrap();
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], ORDERS);
    assert_eq!(claims["scope"], "read");
    assert!(body["id_token"].is_string(), "the id_token as well");
}

#[tokio::test]
async fn the_token_request_picks_one_of_the_resources_and_refresh_another() {
    let (app, client) = setup(true).await;
    let res = tokens(
        &app,
        &client,
        "openid offline_access",
        &[("resource", ORDERS), ("resource", BILLING)],
        &[("resource", BILLING)],
    )
    .await;
    let body: Value = res.json().await.unwrap();
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        (claims["aud"].as_str(), claims["scope"].as_str()),
        (Some(BILLING), Some("pay"))
    );
    assert_eq!(
        crate::support::jwt_header(body["access_token"].as_str().unwrap())["alg"],
        "RS256",
        "the API's algorithm"
    );
    let refresh = body["refresh_token"].as_str().unwrap();
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("resource", ORDERS),
                ("scope", "write"),
            ],
        )
        .await;
    let body: Value = res.json().await.unwrap();
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        (claims["aud"].as_str(), claims["scope"].as_str()),
        (Some(ORDERS), Some("write"))
    );
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", body["refresh_token"].as_str().unwrap()),
                ("resource", ORDERS),
                ("scope", "admin"),
            ],
        )
        .await;
    assert_eq!(error_of(res).await, (400, "invalid_scope".into()));
}

#[tokio::test]
async fn several_resources_and_none_named_at_token_gives_the_userinfo_token() {
    let (app, client) = setup(true).await;
    let body: Value = tokens(
        &app,
        &client,
        "openid",
        &[("resource", ORDERS), ("resource", BILLING)],
        &[],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["aud"],
        app.url("/userinfo")
    );
}

#[tokio::test]
async fn a_resource_not_allowed_or_not_granted_is_invalid_target() {
    let (app, client) = setup(true).await;
    // Positive controls: a resource named at /authorize and allowed is granted,
    // one at a time, at /token.
    for (named, picked) in [
        (&[("resource", ORDERS)][..], &[][..]),
        (
            &[("resource", ORDERS), ("resource", BILLING)][..],
            &[("resource", BILLING)][..],
        ),
    ] {
        let res = tokens(&app, &client, "openid", named, picked).await;
        assert_eq!(res.status(), 200, "positive control: {named:?} then {picked:?}");
    }
    create_api(&app, "https://hr.example", &["read"], None, &[]).await;
    let auth = auth_url(&app, &client, "openid", &[("resource", "https://hr.example")]);
    let res = app.visit(&auth.url).await;
    assert_eq!(query_param(&location(&res), "error").as_deref(), Some("invalid_target"));
    let res = tokens(
        &app,
        &client,
        "openid",
        &[("resource", ORDERS)],
        &[("resource", BILLING)],
    )
    .await;
    assert_eq!(
        error_of(res).await,
        (400, "invalid_target".into()),
        "not named at /authorize"
    );
    let res = tokens(
        &app,
        &client,
        "openid",
        &[("resource", ORDERS), ("resource", BILLING)],
        &[("resource", ORDERS), ("resource", BILLING)],
    )
    .await;
    assert_eq!(error_of(res).await, (400, "invalid_target".into()), "one API per token");
}

#[tokio::test]
async fn an_api_scope_without_its_resource_is_invalid_scope() {
    let (app, client) = setup(true).await;
    // Positive control: an allowed API scope with its resource gets a code.
    let auth = auth_url(&app, &client, "openid read", &[("resource", ORDERS)]);
    let res = app.authorize(&auth.url, "ada").await;
    assert!(
        query_param(&location(&res), "code").is_some(),
        "positive control: {}",
        location(&res)
    );
    let auth = auth_url(&app, &client, "openid read", &[]);
    let res = app.visit(&auth.url).await;
    assert_eq!(query_param(&location(&res), "error").as_deref(), Some("invalid_scope"));
    let auth = auth_url(&app, &client, "openid admin", &[("resource", ORDERS)]);
    let res = app.visit(&auth.url).await;
    assert_eq!(
        query_param(&location(&res), "error").as_deref(),
        Some("invalid_scope"),
        "admin is not allowed"
    );
}

#[tokio::test]
async fn a_third_party_user_consents_to_api_scopes_which_then_cover_an_exchange() {
    let (app, _) = setup(true).await;
    let third = create_client(
        &app,
        ClientSpec {
            id: "third",
            first_party: false,
            grants: &["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"],
            ..Default::default()
        },
    )
    .await;
    allow(&app, &third.id, ORDERS, &["read", "write"]).await;
    let auth = auth_url(&app, &third, "openid read", &[("resource", ORDERS)]);
    let page = app.visit(&auth.url).await.text().await.unwrap();
    let res = app.sign_in_on(&page, "ada", PASSWORD).await;
    let consent = app.visit(&location(&res)).await.text().await.unwrap();
    assert!(
        consent.contains("orders.example: read") && consent.contains("Lets the client read"),
        "{consent}"
    );
    assert!(!consent.contains(": write"), "only what was asked");
    let res = app
        .submit(
            "/consent",
            &[
                ("csrf", &hidden_field(&consent, "csrf").unwrap()),
                ("request", &hidden_field(&consent, "request").unwrap()),
                ("decision", "allow"),
            ],
        )
        .await;
    let res = app.visit(&location(&res)).await;
    let code = query_param(&location(&res), "code").unwrap();
    let body = app.redeem(&third, &code, &auth.verifier).await;
    assert_eq!(jwt_claims(body["access_token"].as_str().unwrap())["aud"], ORDERS);
    let id_token = body["id_token"].as_str().unwrap();
    // The exchange is covered by the consent: read, not write.
    let res = app.exchange(&third, id_token, &[("resource", ORDERS)]).await;
    let exchanged: Value = res.json().await.unwrap();
    assert_eq!(exchanged["scope"], "read");
    let res = app
        .exchange(&third, id_token, &[("resource", ORDERS), ("scope", "write")])
        .await;
    assert_eq!(error_of(res).await, (400, "invalid_scope".into()));
}

/// A grant's API scopes rest on the client's allowance too: once the
/// allowance narrows, a refresh for that API gets only what is still allowed.
#[tokio::test]
async fn a_refresh_for_an_api_gets_only_what_the_allowance_still_covers() {
    let (app, client) = setup(true).await;
    let body: Value = tokens(
        &app,
        &client,
        "openid offline_access read write",
        &[("resource", ORDERS)],
        &[],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["scope"], "read write");
    crate::support::set_access(&app, &client.id, ORDERS, &["read"]).await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", body["refresh_token"].as_str().unwrap()),
        ("resource", ORDERS),
    ];
    let refreshed: Value = app.token(&client, &form).await.json().await.unwrap();
    assert_eq!(refreshed["scope"], "read", "{refreshed}");
}
