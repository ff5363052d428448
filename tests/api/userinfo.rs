//! UserInfo: RFC 6750 bearer rules, and only access tokens for UserInfo pass.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

use crate::support::{ClientSpec, TestApp, create_client, create_user, jwt_claims, jwt_header, spawn_app};

async fn signed_in_tokens(scope: &str) -> (TestApp, Value) {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let client = create_client(&app, ClientSpec::default()).await;
    let tokens = app.tokens(&client, scope, "ada").await;
    (app, tokens)
}

fn challenge(res: &reqwest::Response) -> String {
    res.headers()["www-authenticate"].to_str().unwrap().to_owned()
}

/// A JWT with any header and claims and a garbage or HMAC signature.
fn forge(header: Value, claims: &Value, hmac_key: Option<&[u8]>) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = match hmac_key {
        Some(key) => {
            let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
            mac.update(signing_input.as_bytes());
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        }
        None => String::new(),
    };
    format!("{signing_input}.{signature}")
}

#[tokio::test]
async fn userinfo_answers_get_and_post_with_the_claims_of_the_scopes() {
    let (app, tokens) = signed_in_tokens("openid email").await;
    let token = tokens["access_token"].as_str().unwrap();
    let res = app.userinfo(token).await;
    assert_eq!(res.status(), 200);
    let claims: Value = res.json().await.unwrap();
    assert_eq!(
        claims["sub"],
        jwt_claims(tokens["id_token"].as_str().unwrap())["sub"],
        "sub equals the id_token's"
    );
    assert_eq!(claims["email"], "ada@example.com");
    assert!(claims["name"].is_null(), "profile was not granted");
    let res = app
        .client
        .post(app.url("/userinfo"))
        .form(&[("access_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "POST with the token in the form body");
    let res = app
        .client
        .post(app.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "POST with the header");
}

#[tokio::test]
async fn no_token_gets_a_bare_bearer_challenge() {
    let (app, _) = signed_in_tokens("openid").await;
    let res = app.get("/userinfo").await;
    assert_eq!(res.status(), 401);
    assert_eq!(challenge(&res), "Bearer realm=\"lanyard\"");
}

#[tokio::test]
async fn a_token_sent_two_ways_is_invalid_request() {
    let (app, tokens) = signed_in_tokens("openid").await;
    let token = tokens["access_token"].as_str().unwrap();
    let res = app
        .client
        .post(app.url("/userinfo"))
        .bearer_auth(token)
        .form(&[("access_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(challenge(&res).contains("error=\"invalid_request\""));
}

#[tokio::test]
async fn an_id_token_is_not_an_access_token() {
    let (app, tokens) = signed_in_tokens("openid").await;
    let res = app.userinfo(tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), 401);
    assert!(challenge(&res).contains("error=\"invalid_token\""));
}

#[tokio::test]
async fn an_expired_access_token_is_invalid_token() {
    let (app, tokens) = signed_in_tokens("openid").await;
    app.clock.advance(TimeDelta::seconds(901));
    let res = app.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), 401);
    assert!(challenge(&res).contains("invalid_token"));
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let (app, tokens) = signed_in_tokens("openid").await;
    let real = tokens["access_token"].as_str().unwrap();
    let claims = jwt_claims(real);
    let kid = jwt_header(real)["kid"].as_str().unwrap().to_owned();
    let jwks = app.get_json("/jwks").await;
    let rsa = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["alg"] == "RS256")
        .unwrap()
        .clone();
    let forgeries = [
        forge(json!({"alg": "none", "typ": "at+jwt", "kid": kid}), &claims, None),
        forge(
            json!({"alg": "HS256", "typ": "at+jwt", "kid": rsa["kid"]}),
            &claims,
            Some(rsa.to_string().as_bytes()),
        ),
        forge(
            json!({"alg": "ES256", "typ": "at+jwt", "kid": "no-such-kid"}),
            &claims,
            None,
        ),
    ];
    for token in forgeries {
        let res = app.userinfo(&token).await;
        assert_eq!(res.status(), 401, "{}", jwt_header(&token));
    }
    // A real signature over changed claims.
    let mut parts: Vec<String> = real.split('.').map(str::to_owned).collect();
    let mut changed = claims.clone();
    changed["sub"] = json!(uuid::Uuid::new_v4().to_string());
    parts[1] = URL_SAFE_NO_PAD.encode(changed.to_string());
    assert_eq!(app.userinfo(&parts.join(".")).await.status(), 401);
}

#[tokio::test]
async fn a_token_without_openid_has_insufficient_scope() {
    let (app, tokens) = signed_in_tokens("email").await;
    let res = app.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), 403);
    assert!(challenge(&res).contains("error=\"insufficient_scope\""));
}

#[tokio::test]
async fn an_access_token_for_another_audience_is_refused() {
    let (app, tokens) = signed_in_tokens("openid").await;
    let mut claims = jwt_claims(tokens["access_token"].as_str().unwrap());
    claims["aud"] = json!("https://api.example.test");
    // Signed by Lanyard's own active key: only the audience is wrong.
    let ring = lanyard::keys::KeyRing::load(&app.pool, crate::support::master_key())
        .await
        .unwrap();
    let token = ring
        .signer(lanyard::crypto::Alg::ES256)
        .unwrap()
        .sign("at+jwt", &claims)
        .unwrap();
    let res = app.userinfo(&token).await;
    assert_eq!(res.status(), 401);
    assert!(challenge(&res).contains("another audience"));
}

#[tokio::test]
async fn an_oversized_userinfo_body_is_413() {
    let app = spawn_app().await;
    let huge = "x".repeat(100 * 1024);
    let res = app
        .client
        .post(app.url("/userinfo"))
        .form(&[("access_token", huge.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
}
