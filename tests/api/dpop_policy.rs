//! What a client and an API ask of DPoP: `dpop_bound_access_tokens` clients
//! (RFC 9449 §5.2), APIs whose tokens are issued only bound, and server
//! nonces (§8) that every node computes alike.

use serde_json::{Value, json};

use crate::dpop::{API, Key, service};
use crate::dpop_grants::token_with;
use crate::support::{
    ClientSpec, EXCHANGE, ID_TOKEN_TYPE, TestApp, allow, create_client, create_user, error_of, jwt_claims, lanyard,
    spawn_app,
};

const CC: [(&str, &str); 1] = [("grant_type", "client_credentials")];

/// Runs the CLI on the app's database and puts the change in force.
async fn cli(app: &TestApp, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let run = lanyard(&all).db(&app.db).run().await;
    run.assert_ok();
    app.settle().await;
    run.json()
}

#[tokio::test]
async fn a_dpop_bound_client_is_refused_without_a_proof() {
    let app = spawn_app().await;
    let svc = service(&app).await;
    assert_eq!(
        token_with(&app, &svc, &CC, None).await.status(),
        200,
        "positive control"
    );
    let shown = cli(&app, &["client", "update", "svc", "--dpop-bound"]).await;
    assert_eq!(shown["dpop_bound_access_tokens"], true, "{shown}");
    let (status, error) = error_of(token_with(&app, &svc, &CC, None).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_dpop_proof"), "RFC 9449 §5.2");
    let key = Key::new();
    let bound: Value = token_with(&app, &svc, &CC, Some(key.proof(&app)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bound["token_type"], "DPoP");
    cli(&app, &["client", "update", "svc", "--dpop-bound=false"]).await;
    assert_eq!(token_with(&app, &svc, &CC, None).await.status(), 200, "undone");
}

#[tokio::test]
async fn an_api_that_requires_dpop_gets_only_bound_tokens() {
    let app = spawn_app().await;
    let svc = service(&app).await;
    create_user(&app, "ada").await;
    let rp = create_client(&app, ClientSpec::exchanging()).await;
    allow(&app, "rp", API, &["read"]).await;
    let id_token = app.tokens(&rp, "openid", "ada").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let exchange = [
        ("grant_type", EXCHANGE),
        ("subject_token", id_token.as_str()),
        ("subject_token_type", ID_TOKEN_TYPE),
        ("resource", API),
    ];
    let shown = cli(&app, &["api", "update", API, "--require-dpop"]).await;
    assert_eq!(shown["require_dpop"], true, "{shown}");
    for (name, client, form) in [("client_credentials", &svc, &CC[..]), ("exchange", &rp, &exchange[..])] {
        let (status, error) = error_of(token_with(&app, client, form, None).await).await;
        assert_eq!(
            (status, error.as_str()),
            (400, "invalid_dpop_proof"),
            "{name} without a proof"
        );
        let key = Key::new();
        let res = token_with(&app, client, form, Some(key.proof(&app))).await;
        assert_eq!(res.status(), 200, "{name} with a proof");
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            jwt_claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
            key.thumbprint()
        );
    }
}

#[tokio::test]
async fn a_client_that_asks_for_nonces_gets_use_dpop_nonce_then_succeeds_with_it() {
    let app = spawn_app().await;
    let svc = service(&app).await;
    cli(&app, &["client", "update", "svc", "--dpop-nonce"]).await;
    let key = Key::new();
    let res = token_with(&app, &svc, &CC, Some(key.proof(&app))).await;
    let nonce = res.headers().get("dpop-nonce").map(|v| v.to_str().unwrap().to_owned());
    let (status, error) = error_of(res).await;
    assert_eq!((status, error.as_str()), (400, "use_dpop_nonce"), "RFC 9449 §8");
    let nonce = nonce.expect("a DPoP-Nonce header");
    let res = token_with(
        &app,
        &svc,
        &CC,
        Some(key.proof_with(&app, &[], &[("nonce", json!(nonce))])),
    )
    .await;
    assert_eq!(res.status(), 200, "with the server's nonce");
    assert!(res.headers().contains_key("dpop-nonce"), "the next nonce (§8.2)");
    let made_up = key.proof_with(&app, &[], &[("nonce", json!("made-up"))]);
    let (status, error) = error_of(token_with(&app, &svc, &CC, Some(made_up)).await).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "use_dpop_nonce"),
        "a nonce not of this server"
    );
    assert_eq!(
        token_with(&app, &svc, &CC, None).await.status(),
        200,
        "nonces are asked of proofs only"
    );
}

#[tokio::test]
async fn a_server_nonce_from_one_node_is_accepted_by_another() {
    let app = spawn_app().await;
    let svc = service(&app).await;
    cli(&app, &["api", "update", API, "--dpop-nonce"]).await;
    let key = Key::new();
    let res = token_with(&app, &svc, &CC, Some(key.proof(&app))).await;
    assert_eq!(res.status(), 400, "the API asks for a nonce");
    let nonce = res.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    // A second node on the same database and master key: no shared state but the key.
    let second = app.second_node().await;
    let proof = key.proof_with(&app, &[], &[("nonce", json!(nonce))]);
    assert_eq!(token_with(&second, &svc, &CC, Some(proof)).await.status(), 200);
}

#[tokio::test]
async fn the_cli_shows_and_changes_what_clients_and_apis_ask_of_dpop() {
    let app = spawn_app().await;
    service(&app).await;
    let shown = cli(&app, &["client", "show", "svc"]).await;
    assert_eq!(
        (shown["dpop_bound_access_tokens"].clone(), shown["dpop_nonce"].clone()),
        (json!(false), json!(false))
    );
    let api = cli(&app, &["api", "update", API, "--require-dpop", "--dpop-nonce"]).await;
    assert_eq!(
        (api["require_dpop"].clone(), api["dpop_nonce"].clone()),
        (json!(true), json!(true))
    );
    let api = cli(&app, &["api", "update", API, "--dpop-nonce=false"]).await;
    assert_eq!(
        (api["require_dpop"].clone(), api["dpop_nonce"].clone()),
        (json!(true), json!(false)),
        "only what is given changes"
    );
}
