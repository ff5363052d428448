//! Delegation down a chain of APIs (RFC 8693 §2.1, §4.1): an API's resource
//! server exchanges the user's access token for one to the next API, with
//! `act` naming who acts, nested through every hop.

use serde_json::{Value, json};

use crate::dpop::Key;
use crate::dpop_grants::token_with;
use crate::support::{
    ClientSpec, EXCHANGE, TestApp, TestClient, allow, create_api, create_client, create_service, create_user, error_of,
    jwt_claims, spawn_app,
};

const A: &str = "https://a.example";
const B: &str = "https://b.example";
const C: &str = "https://c.example";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// An app signed in to A; A's resource server `rs-a` may call B, B's `rs-b` may call C.
struct Chain {
    app: TestApp,
    rp: TestClient,
    rs_a: TestClient,
    rs_b: TestClient,
    /// The user's token for A (from an exchange of the app's id_token).
    token_a: String,
}

async fn resource_server(app: &TestApp, id: &str) -> TestClient {
    let spec = ClientSpec {
        id,
        grants: &[EXCHANGE],
        scopes: &["openid"],
        ..Default::default()
    };
    create_client(app, spec).await
}

async fn chain() -> Chain {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let rp = create_client(&app, ClientSpec::exchanging()).await;
    let rs_a = resource_server(&app, "rs-a").await;
    let rs_b = resource_server(&app, "rs-b").await;
    create_api(&app, A, &["read"], None, &["rs-a"]).await;
    create_api(&app, B, &["read", "write"], None, &["rs-b"]).await;
    create_api(&app, C, &["read"], None, &[]).await;
    allow(&app, "rp", A, &["read"]).await;
    allow(&app, "rs-a", B, &["read"]).await;
    allow(&app, "rs-b", C, &["read"]).await;
    let id_token = app.tokens(&rp, "openid", "ada").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let token_a = app.assert_exchanges(&rp, &id_token, &[("resource", A)]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    Chain {
        app,
        rp,
        rs_a,
        rs_b,
        token_a,
    }
}

/// `caller` delegates `subject` to the API `to`, with these extra parameters.
async fn delegate(
    c: &Chain,
    caller: &TestClient,
    subject: &str,
    to: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("resource", to),
    ];
    form.extend_from_slice(extra);
    token_with(&c.app, caller, &form, None).await
}

async fn delegated(c: &Chain, caller: &TestClient, subject: &str, to: &str) -> Value {
    let res = delegate(c, caller, subject, to, &[]).await;
    assert_eq!(res.status(), 200, "positive control");
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_resource_server_delegates_the_users_token_to_the_next_api_with_act() {
    let c = chain().await;
    let answer = delegated(&c, &c.rs_a, &c.token_a, B).await;
    assert_eq!(answer["issued_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(answer["token_type"], "Bearer");
    let (a, b) = (
        jwt_claims(&c.token_a),
        jwt_claims(answer["access_token"].as_str().unwrap()),
    );
    assert_eq!(b["aud"], B, "names B alone");
    assert_eq!(b["sub"], a["sub"], "on the same user's behalf");
    assert_eq!(b["client_id"], "rs-a");
    assert_eq!(b["scope"], "read", "no wider than rs-a's allowance for B");
    assert_eq!(b["act"], json!({ "sub": "rs-a" }), "RFC 8693 §4.1");
    assert!(
        b["exp"].as_i64() <= a["exp"].as_i64(),
        "never outlives the subject token"
    );
}

#[tokio::test]
async fn act_nests_through_two_hops() {
    let c = chain().await;
    let token_b = delegated(&c, &c.rs_a, &c.token_a, B).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let token_c = delegated(&c, &c.rs_b, &token_b, C).await;
    let claims = jwt_claims(token_c["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], C);
    assert_eq!(
        claims["act"],
        json!({ "sub": "rs-b", "act": { "sub": "rs-a" } }),
        "the current actor outermost"
    );
    // Introspection by C's caller says who acts, as the token does.
    let answer: Value = c
        .app
        .client
        .post(c.app.url("/introspect"))
        .basic_auth(&c.rs_b.id, c.rs_b.secret.as_deref())
        .form(&[("token", token_c["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["act"], claims["act"], "{answer}");
}

#[tokio::test]
async fn delegation_is_refused_without_the_allowance() {
    let c = chain().await;
    delegated(&c, &c.rs_a, &c.token_a, B).await;
    let (status, error) = error_of(delegate(&c, &c.rs_a, &c.token_a, C, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_target"), "rs-a may not call C");
    let (status, error) = error_of(delegate(&c, &c.rs_a, &c.token_a, B, &[("scope", "write")]).await).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_scope"),
        "write is not allowed to rs-a"
    );
}

#[tokio::test]
async fn delegation_is_refused_for_a_client_that_is_not_the_apis_resource_server() {
    let c = chain().await;
    allow(&c.app, "rs-b", B, &["read"]).await;
    delegated(&c, &c.rs_a, &c.token_a, B).await;
    let (status, error) = error_of(delegate(&c, &c.rs_b, &c.token_a, B, &[]).await).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_request"),
        "rs-b is not A's resource server"
    );
    // Nor may the app that holds the token delegate it: it is no resource server.
    allow(&c.app, "rp", B, &["read"]).await;
    let (status, error) = error_of(delegate(&c, &c.rp, &c.token_a, B, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
}

#[tokio::test]
async fn a_services_own_token_cannot_be_delegated() {
    let c = chain().await;
    let svc = create_service(&c.app, "svc").await;
    allow(&c.app, "svc", A, &["read"]).await;
    let own: Value = c
        .app
        .token(&svc, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    let (status, error) = error_of(delegate(&c, &c.rs_a, own["access_token"].as_str().unwrap(), B, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
}

#[tokio::test]
async fn revoking_the_users_grant_ends_the_whole_chain() {
    let c = chain().await;
    let token_b = delegated(&c, &c.rs_a, &c.token_a, B).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let token_c = delegated(&c, &c.rs_b, &token_b, C).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let active = |caller: &TestClient, token: String| {
        let req = c
            .app
            .client
            .post(c.app.url("/introspect"))
            .basic_auth(&caller.id, caller.secret.as_deref());
        async move {
            req.form(&[("token", token)])
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()["active"]
                .clone()
        }
    };
    // rs-b introspects B's tokens (its API's) and C's token (issued to it).
    assert_eq!(active(&c.rs_b, token_b.clone()).await, json!(true), "positive control");
    assert_eq!(active(&c.rs_b, token_c.clone()).await, json!(true), "positive control");
    let revoked = c
        .app
        .client
        .post(c.app.url("/revoke"))
        .basic_auth(&c.rp.id, c.rp.secret.as_deref());
    assert_eq!(
        revoked
            .form(&[("token", c.token_a.as_str())])
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        active(&c.rs_b, token_b.clone()).await,
        json!(false),
        "the first hop ended"
    );
    assert_eq!(active(&c.rs_b, token_c.clone()).await, json!(false));
    let (status, error) = error_of(delegate(&c, &c.rs_b, &token_b, C, &[]).await).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_request"),
        "no new hop on a revoked chain"
    );
}

#[tokio::test]
async fn delegation_to_the_subjects_own_api_is_refused() {
    let c = chain().await;
    delegated(&c, &c.rs_a, &c.token_a, B).await;
    // Even a caller allowed every scope of A cannot trade the user's A token
    // for a wider one to A itself.
    allow(&c.app, "rs-a", A, &["read"]).await;
    let (status, error) = error_of(delegate(&c, &c.rs_a, &c.token_a, A, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_target"));
}

#[tokio::test]
async fn a_bound_subject_is_delegated_only_with_a_proof() {
    let c = chain().await;
    // The user's token for A, bound to the app's key.
    let id_token = c.app.tokens(&c.rp, "openid", "ada").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let app_key = Key::new();
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", id_token.as_str()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"),
        ("resource", A),
    ];
    let bound: Value = token_with(&c.app, &c.rp, &form, Some(app_key.proof(&c.app)))
        .await
        .json()
        .await
        .unwrap();
    let bound = bound["access_token"].as_str().unwrap();
    let (status, error) = error_of(delegate(&c, &c.rs_a, bound, B, &[]).await).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_dpop_proof"),
        "the binding follows the grant"
    );
    let rs_key = Key::new();
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", bound),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("resource", B),
    ];
    let res = token_with(&c.app, &c.rs_a, &form, Some(rs_key.proof(&c.app))).await;
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(
        jwt_claims(answer["access_token"].as_str().unwrap())["cnf"]["jkt"],
        rs_key.thumbprint()
    );
}

#[tokio::test]
async fn a_delegated_token_is_bound_to_the_callers_dpop_key() {
    let c = chain().await;
    let key = Key::new();
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", c.token_a.as_str()),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("resource", B),
    ];
    let res = token_with(&c.app, &c.rs_a, &form, Some(key.proof(&c.app))).await;
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["token_type"], "DPoP");
    assert_eq!(
        jwt_claims(answer["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.thumbprint()
    );
}
