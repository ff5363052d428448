//! Two `lanyard serve` processes on one database behave as one provider.

use std::time::Duration;

use serde_json::Value;

use crate::support::{
    TestClient, create_user_on, eventually, fetch_json, fresh_db, lanyard, master_key, new_browser, pkce_pair,
    query_param, serve_listening, sign_in_form,
};

const ISSUER: &str = "http://localhost:9";

async fn node(db: &crate::support::TestDb) -> (tokio::process::Child, String) {
    let cmd = lanyard(&["serve"])
        .db(db)
        .env("LANYARD_BIND", "127.0.0.1:0")
        .env("LANYARD_ISSUER", ISSUER);
    let (child, address) = serve_listening(cmd).await;
    (child, format!("http://{address}"))
}

#[tokio::test]
async fn two_nodes_on_one_database_behave_as_one_provider() {
    let db = fresh_db().await;
    let pool = lanyard::store::connect(&db.url, 2).await.unwrap();
    let clock = lanyard::clock::SystemClock;
    create_user_on(&pool, "ada").await;
    let input = lanyard::admin::clients::NewClientInput {
        client_id: "web".into(),
        redirect_uris: vec!["https://web.example/cb".into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec!["openid".into(), "offline_access".into()],
        first_party: true,
        ..Default::default()
    };
    let secret = lanyard::admin::clients::create(&pool, &clock, &mut rand::rng(), input)
        .await
        .unwrap()
        .client_secret
        .unwrap();
    let web = TestClient {
        id: "web".into(),
        secret: Some(secret),
        redirect_uri: "https://web.example/cb".into(),
    };
    let (mut a_proc, a) = node(&db).await;
    let (mut b_proc, b) = node(&db).await;
    let browser = new_browser();

    // Sign in on A.
    let (verifier, challenge) = pkce_pair();
    let mut url = url::Url::parse(&format!("{a}/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", "web"),
        ("redirect_uri", "https://web.example/cb"),
        ("scope", "openid offline_access"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let form = sign_in_form(&browser, url.as_str(), "ada").await;
    let res = browser.post(format!("{a}/signin")).form(&form).send().await.unwrap();
    let next = res.headers()["location"].to_str().unwrap().to_owned();
    let res = browser.get(format!("{a}{next}")).send().await.unwrap();
    let code = query_param(res.headers()["location"].to_str().unwrap(), "code").unwrap();

    // Redeem the code on B, refresh on A.
    let token = |node: String, form: Vec<(&'static str, String)>| {
        let web = web.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{node}/token"))
                .basic_auth(&web.id, web.secret.as_deref())
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let res = token(
        b.clone(),
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code.clone()),
            ("redirect_uri", web.redirect_uri.clone()),
            ("code_verifier", verifier.clone()),
        ],
    )
    .await;
    assert_eq!(res.status(), 200, "a code from A redeems on B");
    let tokens: Value = res.json().await.unwrap();
    assert_eq!(
        crate::support::jwt_claims(tokens["id_token"].as_str().unwrap())["iss"],
        ISSUER
    );
    let refresh = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap().to_owned()),
    ];
    let res = token(a.clone(), refresh).await;
    assert_eq!(res.status(), 200, "the refresh token from B works on A");
    let rotated: Value = res.json().await.unwrap();
    let reuse = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code),
        ("redirect_uri", web.redirect_uri.clone()),
        ("code_verifier", verifier),
    ];
    assert_eq!(
        token(a.clone(), reuse).await.status(),
        400,
        "the code stays single-use across nodes"
    );
    let refresh = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", rotated["refresh_token"].as_str().unwrap().to_owned()),
    ];
    assert_eq!(
        token(b.clone(), refresh).await.status(),
        400,
        "the reuse on A revoked the grant for B too"
    );

    // A key rotation made through one node is in force on the other.
    let before = fetch_json(&format!("{b}/jwks")).await["keys"].as_array().unwrap().len();
    lanyard::keys::rotate(&pool, &clock, &master_key(), true).await.unwrap();
    let seen = eventually(Duration::from_secs(10), || async {
        fetch_json(&format!("{b}/jwks")).await["keys"].as_array().unwrap().len() == before + 3
            && fetch_json(&format!("{a}/jwks")).await["keys"].as_array().unwrap().len() == before + 3
    })
    .await;
    assert!(seen, "both nodes publish the rotated keys");

    // A client edit (here a new secret, as `lanyard client rotate-secret` makes)
    // is in force on both nodes: the old secret stops working, the new one works.
    let fresh = lanyard::admin::clients::rotate_secret(&pool, &clock, &mut rand::rng(), "web")
        .await
        .unwrap();
    let probe = |node: String, secret: String| async move {
        reqwest::Client::new()
            .post(format!("{node}/revoke"))
            .basic_auth("web", Some(secret))
            .form(&[("token", "nothing")])
            .send()
            .await
            .unwrap()
            .status()
    };
    let old = web.secret.clone().unwrap();
    let seen = eventually(Duration::from_secs(10), || async {
        probe(a.clone(), old.clone()).await == 401
            && probe(b.clone(), old.clone()).await == 401
            && probe(a.clone(), fresh.clone()).await == 200
            && probe(b.clone(), fresh.clone()).await == 200
    })
    .await;
    assert!(seen, "both nodes know the client's new secret");
    a_proc.kill().await.ok();
    b_proc.kill().await.ok();
}
