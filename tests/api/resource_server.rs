//! The example resource server (`examples/resource_server/`) accepts Lanyard's
//! access tokens for its audience — bearer tokens, and DPoP-bound ones with a
//! proof for the request (RFC 9449 §7) — and refuses everything else.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use chrono::TimeDelta;
use lanyard::clock::Clock as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::dpop::Key;

use crate::support::{
    ClientSpec, TestApp, TestClient, allow, binary, create_api, create_client, create_service, create_user, eventually,
    master_key, spawn_app,
};

const ORDERS: &str = "https://orders.example";
const BILLING: &str = "https://billing.example";

/// The example's binary, built by `cargo test` beside the test binary.
fn example_binary() -> PathBuf {
    let path = binary().parent().unwrap().join("examples/resource_server");
    assert!(
        path.exists(),
        "{} is built by `cargo test` (run the whole suite)",
        path.display()
    );
    path
}

/// Starts the example for `audience` against the app; returns it and its base URL.
pub async fn start_resource_server(app: &TestApp, audience: &str) -> (tokio::process::Child, String) {
    start_resource_server_with(app, audience, &[]).await
}

/// The example with these settings too.
async fn start_resource_server_with(
    app: &TestApp,
    audience: &str,
    settings: &[(&str, &str)],
) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(example_binary())
        .envs(settings.iter().copied())
        .env("LANYARD_ISSUER", &app.address)
        .env("API_AUDIENCE", audience)
        .env("BIND", "127.0.0.1:0")
        .env("JWKS_REFETCH_SECS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the example starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let addr = line.rsplit(' ').next().unwrap().to_owned();
    (child, format!("http://{addr}"))
}

async fn setup() -> (TestApp, TestClient, TestClient) {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let rp = create_client(
        &app,
        ClientSpec {
            grants: &["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"],
            ..Default::default()
        },
    )
    .await;
    let service = create_service(&app, "svc").await;
    create_api(&app, ORDERS, &["read", "write"], None, &[]).await;
    create_api(&app, BILLING, &["pay"], Some("EdDSA"), &[]).await;
    allow(&app, &rp.id, ORDERS, &["read", "write"]).await;
    allow(&app, &service.id, ORDERS, &["read"]).await;
    allow(&app, &service.id, BILLING, &["pay"]).await;
    (app, rp, service)
}

async fn service_token(app: &TestApp, service: &TestClient, resource: &str) -> String {
    let res = app
        .token(service, &[("grant_type", "client_credentials"), ("resource", resource)])
        .await;
    res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn call(base: &str, token: Option<&str>, method: reqwest::Method) -> reqwest::Response {
    let mut req = reqwest::Client::new().request(method, format!("{base}/orders"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

fn challenge(res: &reqwest::Response) -> String {
    res.headers()["www-authenticate"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_exchanged_access_token_is_accepted_and_the_id_token_refused() {
    let (app, rp, _) = setup().await;
    let (_rs, base) = start_resource_server(&app, ORDERS).await;
    let id_token = app.tokens(&rp, "openid", "ada").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let exchanged: Value = app
        .exchange(&rp, &id_token, &[("resource", ORDERS)])
        .await
        .json()
        .await
        .unwrap();
    let res = call(&base, exchanged["access_token"].as_str(), reqwest::Method::GET).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["caller"]["sub"], crate::support::jwt_claims(&id_token)["sub"]);
    let res = call(&base, Some(&id_token), reqwest::Method::GET).await;
    assert_eq!(res.status(), 401, "an id_token is not an access token");
    assert!(challenge(&res).contains("invalid_token"));
}

#[tokio::test]
async fn no_token_gets_a_bare_challenge_and_too_little_scope_is_403() {
    let (app, _, service) = setup().await;
    let (_rs, base) = start_resource_server(&app, ORDERS).await;
    let res = call(&base, None, reqwest::Method::GET).await;
    assert_eq!((res.status().as_u16(), challenge(&res)), (401, "Bearer".to_owned()));
    let token = service_token(&app, &service, ORDERS).await;
    assert_eq!(call(&base, Some(&token), reqwest::Method::GET).await.status(), 200);
    let res = call(&base, Some(&token), reqwest::Method::POST).await;
    assert_eq!(res.status(), 403, "read does not allow write");
    assert!(challenge(&res).contains("error=\"insufficient_scope\""));
}

#[tokio::test]
async fn another_apis_token_and_an_expired_token_are_401() {
    let (app, _, service) = setup().await;
    let (_rs, base) = start_resource_server(&app, ORDERS).await;
    let billing = service_token(&app, &service, BILLING).await;
    assert_eq!(call(&base, Some(&billing), reqwest::Method::GET).await.status(), 401);
    app.clock.advance(TimeDelta::seconds(-2000));
    let expired = service_token(&app, &service, ORDERS).await;
    let res = call(&base, Some(&expired), reqwest::Method::GET).await;
    assert_eq!(res.status(), 401);
    assert!(challenge(&res).contains("expired"));
}

#[tokio::test]
async fn tokens_stay_valid_across_key_rotations() {
    let (app, _, service) = setup().await;
    let (_rs, base) = start_resource_server(&app, ORDERS).await;
    let before = service_token(&app, &service, ORDERS).await;
    // Twice: the second rotation's active key was never in the API's cached JWKS.
    for _ in 0..2 {
        let kid_before = crate::support::jwt_header(&service_token(&app, &service, ORDERS).await)["kid"].clone();
        // Forced: the point is an API meeting a kid it has not cached.
        lanyard::keys::rotate(&app.pool, &lanyard::clock::SystemClock, &master_key(), true)
            .await
            .unwrap();
        let rotated = eventually(Duration::from_secs(10), || async {
            crate::support::jwt_header(&service_token(&app, &service, ORDERS).await)["kid"] != kid_before
        })
        .await;
        assert!(rotated, "the app signs with the new key");
    }
    let after = service_token(&app, &service, ORDERS).await;
    // The API refetches for an unknown kid at most once per interval (1 s here).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        call(&base, Some(&after), reqwest::Method::GET).await.status(),
        200,
        "a new kid is fetched"
    );
    assert_eq!(
        call(&base, Some(&before), reqwest::Method::GET).await.status(),
        200,
        "retired keys stay published"
    );
}

// ---- DPoP-bound tokens (RFC 9449 §7), verified offline by the example ----

/// RFC 9449 §4.2: `ath` is the base64url SHA-256 of the access token.
fn ath(token: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes()))
}

/// The service's token for ORDERS bound to `key` (a proof at /token).
async fn bound_service_token(app: &TestApp, service: &TestClient, key: &Key) -> String {
    let res = app
        .client
        .post(app.url("/token"))
        .basic_auth(&service.id, service.secret.as_deref())
        .header("DPoP", key.proof_with(app, &[], &[]))
        .form(&[("grant_type", "client_credentials"), ("resource", ORDERS)])
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP", "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// A proof by `key` for `GET {base}/orders` with `token`, with these changes.
fn orders_proof(app: &TestApp, key: &Key, base: &str, token: &str, changes: &[(&str, Value)]) -> String {
    let mut claims = vec![
        ("htm", json!("GET")),
        ("htu", json!(format!("{base}/orders"))),
        ("ath", json!(ath(token))),
    ];
    claims.extend(changes.iter().cloned());
    key.proof_with(app, &[], &claims)
}

/// `GET {base}/orders` with `Authorization: <scheme> <token>` and these proofs.
async fn call_with(base: &str, scheme: &str, token: &str, proofs: &[&str]) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .get(format!("{base}/orders"))
        .header("Authorization", format!("{scheme} {token}"));
    for proof in proofs {
        req = req.header("DPoP", *proof);
    }
    req.send().await.unwrap()
}

/// The status and the challenges of a response.
fn answer(res: &reqwest::Response) -> (u16, Vec<String>) {
    let challenges = res
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    (res.status().as_u16(), challenges)
}

const ALGS: &str = r#"algs="ES256 EdDSA RS256 PS256""#;

#[tokio::test]
async fn the_example_accepts_a_bound_token_with_a_good_proof() {
    let (app, _, service) = setup().await;
    let (_rs, base) = start_resource_server(&app, ORDERS).await;
    let key = Key::new();
    let token = bound_service_token(&app, &service, &key).await;
    let res = call_with(&base, "DPoP", &token, &[&orders_proof(&app, &key, &base, &token, &[])]).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["caller"]["client_id"], service.id);
    // An unbound token keeps working as a bearer's.
    let bearer = service_token(&app, &service, ORDERS).await;
    assert_eq!(call(&base, Some(&bearer), reqwest::Method::GET).await.status(), 200);
    // No token: a challenge for each scheme.
    let res = call(&base, None, reqwest::Method::GET).await;
    assert_eq!(answer(&res), (401, vec!["Bearer".to_owned(), format!("DPoP {ALGS}")]));
}

#[tokio::test]
async fn the_example_refuses_a_proof_with_a_wrong_ath() {
    let (app, _, service) = setup().await;
    let (_rs, base) = start_resource_server(&app, ORDERS).await;
    let key = Key::new();
    let token = bound_service_token(&app, &service, &key).await;
    let good = orders_proof(&app, &key, &base, &token, &[]);
    assert_eq!(
        call_with(&base, "DPoP", &token, &[&good]).await.status(),
        200,
        "positive control"
    );
    let wrong = orders_proof(&app, &key, &base, &token, &[("ath", json!(ath("another token")))]);
    let (status, challenges) = answer(&call_with(&base, "DPoP", &token, &[&wrong]).await);
    assert_eq!(
        (status, challenges),
        (
            401,
            vec![format!(
                r#"DPoP error="invalid_dpop_proof", error_description="the DPoP proof's ath is not the hash of this access token", {ALGS}"#
            )]
        )
    );
}

#[tokio::test]
async fn the_example_refuses_a_proof_by_another_key() {
    let (app, _, service) = setup().await;
    let (_rs, base) = start_resource_server(&app, ORDERS).await;
    let key = Key::new();
    let token = bound_service_token(&app, &service, &key).await;
    let good = orders_proof(&app, &key, &base, &token, &[]);
    assert_eq!(
        call_with(&base, "DPoP", &token, &[&good]).await.status(),
        200,
        "positive control"
    );
    let thief = orders_proof(&app, &Key::new(), &base, &token, &[]);
    let (status, challenges) = answer(&call_with(&base, "DPoP", &token, &[&thief]).await);
    assert_eq!(status, 401);
    assert!(
        challenges.len() == 1 && challenges[0].starts_with(r#"DPoP error="invalid_token""#),
        "{challenges:?}"
    );
}

#[tokio::test]
async fn the_example_refuses_a_replayed_proof() {
    let (app, _, service) = setup().await;
    let (_rs, base) = start_resource_server(&app, ORDERS).await;
    let key = Key::new();
    let token = bound_service_token(&app, &service, &key).await;
    let proof = orders_proof(&app, &key, &base, &token, &[]);
    assert_eq!(
        call_with(&base, "DPoP", &token, &[&proof]).await.status(),
        200,
        "first use"
    );
    let (status, challenges) = answer(&call_with(&base, "DPoP", &token, &[&proof]).await);
    assert_eq!(status, 401);
    assert!(
        challenges[0].contains(r#"error="invalid_dpop_proof""#) && challenges[0].contains("replayed"),
        "{challenges:?}"
    );
}

#[tokio::test]
async fn the_example_refuses_a_proof_for_another_request() {
    let (app, _, service) = setup().await;
    let (_rs, base) = start_resource_server(&app, ORDERS).await;
    let key = Key::new();
    let token = bound_service_token(&app, &service, &key).await;
    let now = app.clock.now().timestamp();
    for (case, proof) in [
        (
            "htm POST",
            orders_proof(&app, &key, &base, &token, &[("htm", json!("POST"))]),
        ),
        (
            "htu of another path",
            orders_proof(&app, &key, &base, &token, &[("htu", json!(format!("{base}/other")))]),
        ),
        (
            "a stale iat",
            orders_proof(&app, &key, &base, &token, &[("iat", json!(now - 120))]),
        ),
        (
            "typ JWT",
            key.proof_with(&app, &[("typ", json!("JWT"))], &[("htm", json!("GET"))]),
        ),
        // Arithmetic on these must neither overflow nor wrap into "fresh".
        (
            "an iat of i64::MIN",
            orders_proof(&app, &key, &base, &token, &[("iat", json!(i64::MIN))]),
        ),
        (
            "an iat of i64::MIN + now",
            orders_proof(&app, &key, &base, &token, &[("iat", json!(i64::MIN + now))]),
        ),
    ] {
        let (status, challenges) = answer(&call_with(&base, "DPoP", &token, &[&proof]).await);
        assert_eq!(status, 401, "{case}");
        assert!(
            challenges[0].contains(r#"error="invalid_dpop_proof""#),
            "{case}: {challenges:?}"
        );
    }
    let (status, _) = answer(&call_with(&base, "DPoP", &token, &[]).await);
    assert_eq!(status, 401, "no proof");
}

#[tokio::test]
async fn the_example_refuses_a_bound_token_as_bearer_and_an_unbound_one_as_dpop() {
    let (app, _, service) = setup().await;
    let (_rs, base) = start_resource_server(&app, ORDERS).await;
    let key = Key::new();
    let token = bound_service_token(&app, &service, &key).await;
    let good = orders_proof(&app, &key, &base, &token, &[]);
    assert_eq!(
        call_with(&base, "DPoP", &token, &[&good]).await.status(),
        200,
        "positive control"
    );
    let (status, challenges) = answer(&call_with(&base, "Bearer", &token, &[]).await);
    assert_eq!(
        (status, challenges),
        (
            401,
            vec![
                r#"Bearer error="invalid_token", error_description="the token is bound to a key: use the DPoP scheme with a proof""#
                    .to_owned()
            ]
        )
    );
    let bearer = service_token(&app, &service, ORDERS).await;
    let proof = orders_proof(&app, &key, &base, &bearer, &[]);
    let (status, challenges) = answer(&call_with(&base, "DPoP", &bearer, &[&proof]).await);
    assert_eq!(status, 401);
    assert!(
        challenges[0].starts_with(r#"DPoP error="invalid_token""#),
        "{challenges:?}"
    );
}

/// Ada's token for the orders API, from an exchange of the id_token of a sign-in.
async fn user_token(app: &TestApp, rp: &TestClient) -> String {
    let id_token = app.tokens(rp, "openid", "ada").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let exchanged: Value = app
        .exchange(rp, &id_token, &[("resource", ORDERS)])
        .await
        .json()
        .await
        .unwrap();
    exchanged["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_example_asks_for_a_stronger_sign_in_when_a_token_is_below_its_level() {
    let (app, rp, service) = setup().await;
    let (_rs, base) = start_resource_server_with(&app, ORDERS, &[("MIN_ACR", "mfa")]).await;
    let password = user_token(&app, &rp).await;
    let res = call(&base, Some(&password), reqwest::Method::GET).await;
    assert_eq!(res.status(), 401, "RFC 9470 §3");
    let said = challenge(&res);
    assert!(
        said.contains(r#"error="insufficient_user_authentication""#)
            && said.contains(r#"acr_values="mfa phishing-resistant""#),
        "{said}"
    );
    // A service's own token has no sign-in to judge.
    let own = service_token(&app, &service, ORDERS).await;
    assert_eq!(call(&base, Some(&own), reqwest::Method::GET).await.status(), 200);
    // After the second step with an authenticator code, the level is reached.
    let authenticator = crate::two_step::set_up_authenticator(&app).await;
    let browser = crate::two_step::signed_in_with_code(&app, "ada", &authenticator).await;
    let mfa = user_token(&browser, &rp).await;
    assert_eq!(call(&base, Some(&mfa), reqwest::Method::GET).await.status(), 200);
}
