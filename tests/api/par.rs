//! Pushed authorization requests (RFC 9126), one test per rule.

use chrono::TimeDelta;
use lanyard::clock::Clock;
use serde_json::{Value, json};

use crate::dpop::Key;
use crate::support::{
    ClientSpec, PASSWORD, TestApp, TestClient, create_client, create_public_client, create_user, error_of,
    hidden_field, jwt_claims, location, pkce_pair, query_param, spawn_app,
};

const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// A request to push: what `auth_url` would put in the query.
struct Request {
    form: Vec<(String, String)>,
    verifier: String,
    nonce: String,
}

impl Request {
    fn new(client: &TestClient) -> Self {
        let (verifier, challenge) = pkce_pair();
        let nonce = lanyard::crypto::secret::random_token(&mut rand::rng());
        let form = [
            ("response_type", "code"),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("scope", "openid profile"),
            ("state", "st&te"),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Request { form, verifier, nonce }
    }

    fn with(mut self, name: &str, value: &str) -> Self {
        self.form.retain(|(k, _)| k != name);
        if !value.is_empty() {
            self.form.push((name.into(), value.into()));
        }
        self
    }

    fn pairs(&self) -> Vec<(&str, &str)> {
        self.form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }
}

async fn setup() -> (TestApp, TestClient) {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let client = create_client(&app, ClientSpec::default()).await;
    (app, client)
}

/// POST /par as `client` (Basic, or its id in the body when public).
async fn push_as(app: &TestApp, client: &TestClient, request: &Request) -> reqwest::Response {
    push_with(app, client, request, None).await
}

async fn push_with(app: &TestApp, client: &TestClient, request: &Request, proof: Option<String>) -> reqwest::Response {
    let mut form = request.pairs();
    let mut req = app.client.post(app.url("/par"));
    match &client.secret {
        Some(secret) => req = req.basic_auth(&client.id, Some(secret)),
        None => form.push(("client_id", &client.id)),
    }
    if let Some(proof) = proof {
        req = req.header("DPoP", proof);
    }
    req.form(&form).send().await.unwrap()
}

/// Pushes and returns the `request_uri`.
async fn push(app: &TestApp, client: &TestClient, request: &Request) -> String {
    let res = push_as(app, client, request).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    body["request_uri"].as_str().unwrap().to_owned()
}

/// The /authorize URL for a pushed request.
fn authorize_url(app: &TestApp, client_id: &str, request_uri: &str) -> String {
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri);
    url.to_string()
}

/// Signs in through the pushed request; the code it leaves with.
async fn code_via(app: &TestApp, client: &TestClient, request_uri: &str) -> String {
    let res = app.authorize(&authorize_url(app, &client.id, request_uri), "ada").await;
    let to = location(&res);
    assert!(to.starts_with(&client.redirect_uri), "{to}");
    assert_eq!(query_param(&to, "state").as_deref(), Some("st&te"));
    query_param(&to, "code").expect("a code")
}

/// The error page a request is refused with (never a redirect).
async fn assert_error_page(app: &TestApp, url: &str, case: &str) {
    let res = app.visit(url).await;
    assert_eq!(res.status(), 400, "{case}: an error page, not a redirect");
    assert!(res.headers().get("location").is_none(), "{case}");
}

#[tokio::test]
async fn a_pushed_request_is_authorized_and_its_code_redeemed() {
    let (app, client) = setup().await;
    let request = Request::new(&client);
    let res = push_as(&app, &client, &request).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["expires_in"], 60);
    let request_uri = body["request_uri"].as_str().unwrap();
    let reference = request_uri.strip_prefix(PREFIX).expect("the RFC 9126 URN");
    assert_eq!(reference.len(), 43, "256 random bits");
    // The reference is stored only as its hash.
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM par_requests WHERE id_hash = sha256($1::bytea)")
        .bind(reference.as_bytes())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);

    let code = code_via(&app, &client, request_uri).await;
    let tokens = app.redeem(&client, &code, &request.verifier).await;
    let id_token = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["nonce"], request.nonce.as_str(), "the pushed nonce");
    assert_eq!(id_token["aud"], client.id.as_str());
}

#[tokio::test]
async fn the_parameters_of_the_authorize_url_are_ignored_but_client_id() {
    let (app, client) = setup().await;
    let request = Request::new(&client);
    let request_uri = push(&app, &client, &request).await;
    let url = format!(
        "{}&redirect_uri=https%3A%2F%2Fevil.example%2F&state=other&scope=openid%20email",
        authorize_url(&app, &client.id, &request_uri)
    );
    let to = location(&app.authorize(&url, "ada").await);
    assert!(to.starts_with(&client.redirect_uri), "the pushed redirect_uri: {to}");
    assert_eq!(query_param(&to, "state").as_deref(), Some("st&te"), "the pushed state");
}

#[tokio::test]
async fn the_push_authenticates_the_client_as_the_token_endpoint_does() {
    let (app, client) = setup().await;
    let request = Request::new(&client);
    let wrong = TestClient {
        secret: Some("not-the-secret".into()),
        ..client.clone()
    };
    let (status, error) = error_of(push_as(&app, &wrong, &request).await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"), "a wrong secret");
    let res = app
        .client
        .post(app.url("/par"))
        .form(&request.pairs())
        .send()
        .await
        .unwrap();
    let (status, error) = error_of(res).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"), "no credentials");
    // client_secret_post is the client's method only if registered so.
    let mut form = request.pairs();
    form.extend([
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret.as_deref().unwrap()),
    ]);
    let res = app.client.post(app.url("/par")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 401, "client_secret_post for a client_secret_basic client");
}

#[tokio::test]
async fn a_private_key_jwt_client_pushes_with_an_assertion() {
    use crate::private_key_jwt::{JWT_BEARER, Key as ClientKey, jwks};
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let key = ClientKey::es256("k1");
    let redirect_uri = "https://pkj.example/callback".to_owned();
    let input = lanyard::admin::clients::NewClientInput {
        client_id: "pkj".into(),
        auth_method: Some("private_key_jwt".into()),
        grant_types: vec!["authorization_code".into()],
        redirect_uris: vec![redirect_uri.clone()],
        scopes: vec!["openid".into(), "profile".into()],
        first_party: true,
        jwks: Some(jwks(&[&key])),
        ..Default::default()
    };
    lanyard::admin::clients::create(&app.pool, &app.clock, &mut rand::rng(), input)
        .await
        .unwrap();
    // Made beside the app: its catalog learns of it now, not when NOTIFY arrives.
    app.settle().await;
    let client = TestClient {
        id: "pkj".into(),
        secret: None,
        redirect_uri,
    };
    let request = Request::new(&client);
    let now = app.clock.now().timestamp();
    let assertion = |aud: &str| {
        key.sign(&json!({
            "iss": "pkj", "sub": "pkj", "aud": aud, "exp": now + 60, "iat": now,
            "jti": uuid::Uuid::new_v4().to_string(),
        }))
    };
    for aud in [app.url("/par"), app.address.clone()] {
        let assertion = assertion(&aud);
        let mut form = request.pairs();
        form.extend([
            ("client_id", "pkj"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion.as_str()),
        ]);
        let res = app.client.post(app.url("/par")).form(&form).send().await.unwrap();
        assert_eq!(res.status(), 201, "an assertion for {aud}");
    }
    let mut form = request.pairs();
    form.push(("client_id", "pkj"));
    let (status, error) = error_of(app.client.post(app.url("/par")).form(&form).send().await.unwrap()).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"), "no assertion");
}

#[tokio::test]
async fn every_check_of_authorize_runs_at_push_time() {
    let (app, client) = setup().await;
    let public = create_public_client(&app, "spa").await;
    for (who, request, expected, case) in [
        (
            &client,
            Request::new(&client).with("redirect_uri", "https://evil.example/cb"),
            "invalid_request",
            "an unregistered redirect_uri",
        ),
        (
            &client,
            Request::new(&client).with("response_type", "token"),
            "unsupported_response_type",
            "response_type",
        ),
        (
            &client,
            Request::new(&client).with("scope", "openid admin"),
            "invalid_scope",
            "an unknown scope",
        ),
        (
            &client,
            Request::new(&client).with("prompt", "sometimes"),
            "invalid_request",
            "prompt",
        ),
        (
            &client,
            Request::new(&client).with("dpop_jkt", "short"),
            "invalid_request",
            "dpop_jkt",
        ),
        (
            &client,
            Request::new(&client).with("resource", "https://nowhere.example"),
            "invalid_target",
            "resource",
        ),
        (
            &public,
            Request::new(&public)
                .with("code_challenge", "")
                .with("code_challenge_method", ""),
            "invalid_request",
            "a public client without PKCE",
        ),
        (
            &client,
            Request::new(&client).with("request_uri", &format!("{PREFIX}abc")),
            "invalid_request",
            "a request_uri inside a push",
        ),
        (
            &client,
            Request::new(&client).with("request", "eyJhbGciOiJub25lIn0.e30."),
            "request_not_supported",
            "a request object",
        ),
    ] {
        let res = push_as(&app, who, &request).await;
        assert!(res.headers().get("location").is_none(), "{case}: never a redirect");
        let (status, error) = error_of(res).await;
        assert_eq!((status, error.as_str()), (400, expected), "{case}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM par_requests")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing refused was stored");
}

#[tokio::test]
async fn a_request_uri_is_used_once() {
    let (app, client) = setup().await;
    let request = Request::new(&client);
    let request_uri = push(&app, &client, &request).await;
    code_via(&app, &client, &request_uri).await;
    assert_error_page(&app, &authorize_url(&app, &client.id, &request_uri), "reused").await;
}

#[tokio::test]
async fn a_request_uri_opened_at_once_twice_starts_one_authorization() {
    let (app, client) = setup().await;
    let request_uri = push(&app, &client, &Request::new(&client)).await;
    let url = authorize_url(&app, &client.id, &request_uri);
    let (a, b) = tokio::join!(app.visit(&url), app.visit(&url));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "one sign-in page, one error page");
}

#[tokio::test]
async fn a_pushed_request_survives_sign_in_without_being_spent_twice_or_altered() {
    let (app, client) = setup().await;
    let request = Request::new(&client);
    let request_uri = push(&app, &client, &request).await;
    let html = app
        .visit(&authorize_url(&app, &client.id, &request_uri))
        .await
        .text()
        .await
        .unwrap();
    let carried = hidden_field(&html, "request").expect("the sign-in page carries the request");
    assert!(
        !carried.contains("request_uri"),
        "the resolved request, not the reference: {carried}"
    );
    // Altered on the way (a scope the client may ask for, but not pushed): refused.
    assert!(carried.contains("openid+profile"), "{carried}");
    let altered = carried.replace("openid+profile", "openid+email");
    let csrf = hidden_field(&html, "csrf").unwrap();
    let res = app
        .submit(
            "/signin",
            &[
                ("csrf", &csrf),
                ("request", &altered),
                ("username", "ada"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 400, "an altered pushed request is refused");
    // As carried, it finishes (the row already spent at the first visit).
    let to = location(&app.sign_in_on(&html, "ada", PASSWORD).await);
    let to = if to.starts_with("/authorize") {
        location(&app.visit(&to).await)
    } else {
        to
    };
    let code = query_param(&to, "code").unwrap_or_else(|| panic!("a code: {to}"));
    app.redeem(&client, &code, &request.verifier).await;
}

#[tokio::test]
async fn a_request_uri_expires_after_60_seconds() {
    let (app, client) = setup().await;
    let request_uri = push(&app, &client, &Request::new(&client)).await;
    app.clock.advance(TimeDelta::seconds(61));
    assert_error_page(&app, &authorize_url(&app, &client.id, &request_uri), "expired").await;
}

#[tokio::test]
async fn another_clients_request_uri_is_refused() {
    let (app, client) = setup().await;
    let other = create_client(
        &app,
        ClientSpec {
            id: "other",
            ..Default::default()
        },
    )
    .await;
    let request_uri = push(&app, &client, &Request::new(&client)).await;
    assert_error_page(&app, &authorize_url(&app, &other.id, &request_uri), "another client's").await;
    assert_error_page(
        &app,
        &app.url(&format!("/authorize?request_uri={request_uri}")),
        "no client_id",
    )
    .await;
    // The refusals spent nothing: its own client still uses it.
    code_via(&app, &client, &request_uri).await;
}

/// A plain request from `client` is redirected back with `invalid_request`.
async fn assert_plain_request_refused(app: &TestApp, client: &TestClient) {
    let auth = crate::support::auth_url(app, client, "openid", &[]);
    let to = location(&app.visit(&auth.url).await);
    assert!(to.starts_with(&client.redirect_uri), "{to}");
    assert_eq!(query_param(&to, "error").as_deref(), Some("invalid_request"), "{to}");
}

#[tokio::test]
async fn a_client_that_requires_par_is_refused_a_plain_request() {
    let (app, client) = setup().await;
    let admin = lanyard::admin::clients::view(&app.pool, &client.id).await.unwrap();
    assert!(!admin.require_pushed_authorization_requests, "off by default");
    sqlx::query("UPDATE clients SET require_par = true WHERE client_id = $1")
        .bind(&client.id)
        .execute(&app.pool)
        .await
        .unwrap();
    app.settle().await;
    assert_plain_request_refused(&app, &client).await;
    let request = Request::new(&client);
    let code = code_via(&app, &client, &push(&app, &client, &request).await).await;
    app.redeem(&client, &code, &request.verifier).await;
}

#[tokio::test]
async fn lanyard_require_par_refuses_every_plain_request() {
    let app = TestApp::builder().config(|c| c.require_par = true).spawn().await;
    create_user(&app, "ada").await;
    let client = create_client(&app, ClientSpec::default()).await;
    assert_plain_request_refused(&app, &client).await;
    let metadata = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(metadata["require_pushed_authorization_requests"], true);
    let request = Request::new(&client);
    code_via(&app, &client, &push(&app, &client, &request).await).await;
}

/// Redeems a code with an optional DPoP proof.
async fn redeem_with(
    app: &TestApp,
    client: &TestClient,
    code: &str,
    verifier: &str,
    proof: Option<String>,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/token"))
        .basic_auth(&client.id, client.secret.as_deref());
    if let Some(proof) = proof {
        req = req.header("DPoP", proof);
    }
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("code_verifier", verifier),
    ];
    req.form(&form).send().await.unwrap()
}

#[tokio::test]
async fn a_pushed_dpop_jkt_binds_the_code() {
    let (app, client) = setup().await;
    let key = Key::new();
    let request = Request::new(&client).with("dpop_jkt", &key.thumbprint());
    let code = code_via(&app, &client, &push(&app, &client, &request).await).await;
    let (status, error) = error_of(redeem_with(&app, &client, &code, &request.verifier, None).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_dpop_proof"), "no proof");
    let res = redeem_with(&app, &client, &code, &request.verifier, Some(key.proof(&app))).await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    assert_eq!(
        jwt_claims(tokens["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.thumbprint()
    );
}

#[tokio::test]
async fn a_dpop_proof_sent_with_the_push_binds_the_code() {
    let (app, client) = setup().await;
    let key = Key::new();
    let request = Request::new(&client);
    let proof = key.proof_with(&app, &[], &[("htu", json!(app.url("/par")))]);
    let res = push_with(&app, &client, &request, Some(proof)).await;
    assert_eq!(res.status(), 201);
    let request_uri = res.json::<Value>().await.unwrap()["request_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_via(&app, &client, &request_uri).await;
    let (status, error) = error_of(redeem_with(&app, &client, &code, &request.verifier, None).await).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_dpop_proof"),
        "bound to the push's key"
    );
    let res = redeem_with(&app, &client, &code, &request.verifier, Some(key.proof(&app))).await;
    assert_eq!(res.status(), 200);
    // A proof for another key than the pushed dpop_jkt is refused.
    let other = Key::new();
    let proof = other.proof_with(&app, &[], &[("htu", json!(app.url("/par")))]);
    let request = Request::new(&client).with("dpop_jkt", &key.thumbprint());
    let (status, error) = error_of(push_with(&app, &client, &request, Some(proof)).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_dpop_proof"));
}

#[tokio::test]
async fn discovery_names_the_par_endpoint() {
    let app = spawn_app().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let metadata = app.get_json(path).await;
        assert_eq!(metadata["pushed_authorization_request_endpoint"], app.url("/par"));
        assert_eq!(metadata["require_pushed_authorization_requests"], false);
    }
}

#[tokio::test]
async fn require_par_is_set_by_the_cli_and_shown_as_client_metadata() {
    let (app, client) = setup().await;
    let run = crate::support::lanyard(&["client", "update", "rp", "--require-par", "--json"])
        .run_on(&app.db)
        .await;
    assert_eq!(run.assert_ok().json()["require_pushed_authorization_requests"], true);
    app.settle().await;
    assert_plain_request_refused(&app, &client).await;
    let run = crate::support::lanyard(&["client", "update", "rp", "--require-par=false", "--json"])
        .run_on(&app.db)
        .await;
    assert_eq!(run.assert_ok().json()["require_pushed_authorization_requests"], false);
    app.settle().await;
    let auth = crate::support::auth_url(&app, &client, "openid", &[]);
    let to = location(&app.authorize(&auth.url, "ada").await);
    assert!(query_param(&to, "code").is_some(), "a plain request works again: {to}");
}
