//! How a person signed in goes into the tokens: `amr` (RFC 8176) and the
//! level it reaches, `acr` — in id_tokens, access tokens, exchanged tokens and
//! introspection — and an API that requires a level (RFC 9470).

use serde_json::{Value, json};

use crate::support::{
    ClientSpec, TestApp, TestClient, allow, create_api, create_client, create_user, error_of, jwt_claims, lanyard,
    spawn_app,
};

const API: &str = "https://orders.example";

async fn setup() -> (TestApp, TestClient) {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let rp = create_client(&app, ClientSpec::exchanging()).await;
    create_api(&app, API, &["read"], None, &["rp"]).await;
    allow(&app, "rp", API, &["read"]).await;
    (app, rp)
}

async fn id_token(app: &TestApp, rp: &TestClient) -> String {
    app.tokens(rp, "openid", "ada").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn exchange(app: &TestApp, rp: &TestClient, id_token: &str) -> reqwest::Response {
    app.exchange(rp, id_token, &[("resource", API)]).await
}

async fn min_acr(app: &TestApp, level: &str) -> Value {
    let run = lanyard(&["api", "update", API, "--min-acr", level, "--json"])
        .db(&app.db)
        .run()
        .await;
    run.assert_ok();
    app.settle().await;
    run.json()
}

#[tokio::test]
async fn tokens_say_how_the_person_signed_in() {
    let (app, rp) = setup().await;
    let id_token = id_token(&app, &rp).await;
    let claims = jwt_claims(&id_token);
    assert_eq!(
        (claims["amr"].clone(), claims["acr"].clone()),
        (json!(["pwd"]), json!("password"))
    );
    let exchanged: Value = exchange(&app, &rp, &id_token).await.json().await.unwrap();
    let access = exchanged["access_token"].as_str().unwrap();
    let claims = jwt_claims(access);
    assert_eq!(
        (claims["amr"].clone(), claims["acr"].clone()),
        (json!(["pwd"]), json!("password")),
        "RFC 9068 §2.2.1"
    );
    let answer: Value = app
        .post_as(&rp, "/introspect", &[("token", access)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (answer["amr"].clone(), answer["acr"].clone()),
        (json!(["pwd"]), json!("password"))
    );
}

#[tokio::test]
async fn discovery_names_the_sign_in_levels() {
    let app = spawn_app().await;
    let doc = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        doc["acr_values_supported"],
        json!(["password", "mfa", "phishing-resistant"])
    );
}

#[tokio::test]
async fn an_api_that_requires_a_level_refuses_a_lower_sign_in() {
    let (app, rp) = setup().await;
    let id_token = id_token(&app, &rp).await;
    // A code for the API, got while it asked for no more than a password.
    let auth = crate::support::auth_url(&app, &rp, "openid", &[("resource", API)]);
    let to = crate::support::location(&app.authorize(&auth.url, "ada").await);
    let code = crate::support::query_param(&to, "code").expect("a code");
    assert_eq!(min_acr(&app, "password").await["min_acr"], "password");
    assert_eq!(
        exchange(&app, &rp, &id_token).await.status(),
        200,
        "positive control: the level is reached"
    );
    assert_eq!(min_acr(&app, "mfa").await["min_acr"], "mfa");
    let res = exchange(&app, &rp, &id_token).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_user_authentication", "RFC 9470 §3: {body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("`mfa`"),
        "names the level"
    );
    // The code, redeemed now that the API asks for more, is refused the same way.
    let (status, error) = error_of(app.try_redeem(&rp, &code, &auth.verifier).await).await;
    assert_eq!((status, error.as_str()), (400, "insufficient_user_authentication"));
    assert_eq!(
        min_acr(&app, "none").await["min_acr"],
        Value::Null,
        "`none` lifts the requirement"
    );
    lanyard(&["api", "update", API, "--min-acr", "gold"])
        .db(&app.db)
        .run()
        .await
        .assert_refused("acr");
}

/// Ada signed in with her password and a code from her authenticator app,
/// on a browser of her own.
async fn multi_factor(app: &TestApp) -> TestApp {
    crate::two_step::sign_in(app, "ada").await;
    let authenticator = crate::two_step::set_up_authenticator(app).await;
    crate::two_step::signed_in_with_code(app, "ada", &authenticator).await
}

#[tokio::test]
async fn a_multi_factor_sign_in_reaches_an_api_that_requires_it() {
    let (app, rp) = setup().await;
    min_acr(&app, "mfa").await;
    // Signed in with a password and a one-time code: every token of the
    // sign-in says so, and the API's level is reached.
    let browser = multi_factor(&app).await;
    let id_token = id_token(&browser, &rp).await;
    let claims = jwt_claims(&id_token);
    assert_eq!(
        (claims["amr"].clone(), claims["acr"].clone()),
        (json!(["pwd", "otp", "mfa"]), json!("mfa"))
    );
    let res = exchange(&app, &rp, &id_token).await;
    assert_eq!(res.status(), 200);
    let exchanged: Value = res.json().await.unwrap();
    assert_eq!(jwt_claims(exchanged["access_token"].as_str().unwrap())["acr"], "mfa");
}

/// The authorization response to a code flow asking for `extra`.
async fn authorize_with(app: &TestApp, rp: &TestClient, extra: &[(&str, &str)]) -> String {
    let auth = crate::support::auth_url(app, rp, "openid", extra);
    crate::support::location(&app.authorize(&auth.url, "ada").await)
}

#[tokio::test]
async fn an_essential_acr_the_sign_in_does_not_reach_fails_the_request() {
    let (app, rp) = setup().await;
    let essential = |values: &str| format!(r#"{{"id_token":{{"acr":{{"essential":true,"values":{values}}}}}}}"#);
    let param = |to: &str, name: &str| crate::support::query_param(to, name);
    let to = authorize_with(&app, &rp, &[("claims", &essential(r#"["mfa"]"#))]).await;
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("unmet_authentication_requirements"),
        "{to}"
    );
    let to = authorize_with(&app, &rp, &[("claims", &essential(r#"["gold"]"#))]).await;
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("unmet_authentication_requirements"),
        "an unknown level"
    );
    let to = authorize_with(&app, &rp, &[("claims", &essential(r#"["password","mfa"]"#))]).await;
    assert!(param(&to, "code").is_some(), "any of the values satisfies: {to}");
    // A sign-in that reached mfa satisfies it.
    let browser = multi_factor(&app).await;
    let to = authorize_with(&browser, &rp, &[("claims", &essential(r#"["mfa"]"#))]).await;
    assert!(param(&to, "code").is_some(), "{to}");
}

#[tokio::test]
async fn an_essential_acr_is_answered_with_one_of_the_values_asked_for() {
    let (app, rp) = setup().await;
    let browser = multi_factor(&app).await;
    let claims = r#"{"id_token":{"acr":{"essential":true,"values":["password"]}}}"#;
    let auth = crate::support::auth_url(&browser, &rp, "openid", &[("claims", claims)]);
    let to = crate::support::location(&browser.authorize(&auth.url, "ada").await);
    let code = crate::support::query_param(&to, "code").expect("a code");
    let tokens = browser.redeem(&rp, &code, &auth.verifier).await;
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["acr"],
        "password",
        "OIDC Core §5.5.1.1: one of the values asked for, though the sign-in reached mfa"
    );
}

#[tokio::test]
async fn acr_values_are_voluntary_and_the_tokens_say_the_level_reached() {
    let (app, rp) = setup().await;
    let auth = crate::support::auth_url(&app, &rp, "openid", &[("acr_values", "mfa phishing-resistant")]);
    let to = crate::support::location(&app.authorize(&auth.url, "ada").await);
    let code = crate::support::query_param(&to, "code").expect("a code");
    let tokens = app.redeem(&rp, &code, &auth.verifier).await;
    assert_eq!(jwt_claims(tokens["id_token"].as_str().unwrap())["acr"], "password");
}

#[tokio::test]
async fn a_code_flow_for_an_api_above_the_sign_ins_level_is_refused_before_consent() {
    let (app, rp) = setup().await;
    min_acr(&app, "mfa").await;
    let to = authorize_with(&app, &rp, &[("resource", API)]).await;
    let param = |name: &str| crate::support::query_param(&to, name);
    assert_eq!(
        param("error").as_deref(),
        Some("insufficient_user_authentication"),
        "{to}"
    );
    assert!(param("error_description").unwrap().contains("`mfa`"));
    let to = authorize_with(&app, &rp, &[]).await;
    assert!(
        crate::support::query_param(&to, "code").is_some(),
        "positive control: without that API: {to}"
    );
}
