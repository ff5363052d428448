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
    assert_eq!(statuses, [302, 400], "one goes on to its continuation, one error page");
}

#[tokio::test]
async fn a_pushed_request_survives_sign_in_without_being_spent_twice_or_altered() {
    let (app, client) = setup().await;
    let request = Request::new(&client);
    let request_uri = push(&app, &client, &request).await;
    let html = page_at(&app, &authorize_url(&app, &client.id, &request_uri))
        .await
        .text()
        .await
        .unwrap();
    let carried = hidden_field(&html, "request").expect("the sign-in page carries the request");
    assert!(!carried.contains("request_uri"), "not the spent reference: {carried}");
    assert!(
        !carried.contains("scope") && !carried.contains("redirect_uri"),
        "a reference to the pushed request, not the request: {carried}"
    );
    // A continuation altered on the way (another row, or none): refused.
    for (case, altered) in [
        ("another row", carried.replacen("pushed=", "pushed=A", 1)),
        (
            "another client",
            carried.replace(&format!("client_id={}", client.id), "client_id=other"),
        ),
    ] {
        let csrf = hidden_field(&html, "csrf").unwrap();
        let form = [
            ("csrf", csrf.as_str()),
            ("request", altered.as_str()),
            ("username", "ada"),
            ("password", PASSWORD),
        ];
        let res = app.submit("/signin", &form).await;
        assert_eq!(res.status(), 400, "{case}: an altered continuation is refused");
    }
    // As carried, it finishes (the request_uri already spent at the first visit).
    let to = location(&app.sign_in_on(&html, "ada", PASSWORD).await);
    let to = if to.starts_with("/authorize") {
        location(&app.visit(&to).await)
    } else {
        to
    };
    let code = query_param(&to, "code").unwrap_or_else(|| panic!("a code: {to}"));
    let tokens = app.redeem(&client, &code, &request.verifier).await;
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["nonce"],
        request.nonce.as_str()
    );
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
    let admin = lanyard::admin::clients::view(&app.pool, &app.clock, &client.id)
        .await
        .unwrap();
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

// ---- pushes per address, the per-client cap (RFC 9126 §2.3, RFC 6585 §4) ----

/// An app that believes the test's `X-Forwarded-For` (the address a push comes from).
async fn proxied_app() -> TestApp {
    TestApp::builder()
        .config(|c| c.trusted_proxies = vec![lanyard::config::Cidr::parse("127.0.0.1").unwrap()])
        .spawn()
        .await
}

/// A public client's push, from `ip`.
async fn push_from(app: &TestApp, client: &TestClient, request: &Request, ip: &str) -> reqwest::Response {
    let mut form = request.pairs();
    form.push(("client_id", &client.id));
    app.client
        .post(app.url("/par"))
        .header("x-forwarded-for", ip)
        .form(&form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn one_address_past_the_push_throttle_gets_429_and_another_still_pushes() {
    let app = proxied_app().await;
    let spa = create_public_client(&app, "spa").await;
    let request = Request::new(&spa);
    let mut throttled = None;
    for n in 1..=100 {
        // One /64: the addresses of one subscriber count together.
        let res = push_from(&app, &spa, &request, &format!("2001:db8:1:1::{n:x}")).await;
        if res.status() != 201 {
            throttled = Some(res);
            break;
        }
    }
    let res = throttled.expect("one address is throttled before it fills the client's cap");
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some(), "RFC 6585 §4: Retry-After");
    let (_, error) = error_of(res).await;
    assert_eq!(error, "slow_down");
    let other = push_from(&app, &spa, &request, "192.0.2.10").await;
    assert_eq!(other.status(), 201, "another address still pushes");
}

#[tokio::test]
async fn the_per_client_cap_no_longer_blocks_a_second_address() {
    let app = proxied_app().await;
    let spa = create_public_client(&app, "spa").await;
    let request = Request::new(&spa);
    // 125 waiting pushes, none past its address's budget.
    for a in 1..=5 {
        for _ in 0..25 {
            let res = push_from(&app, &spa, &request, &format!("198.51.100.{a}")).await;
            assert_eq!(res.status(), 201, "address {a}");
        }
    }
    let res = push_from(&app, &spa, &request, "203.0.113.77").await;
    assert_eq!(res.status(), 201, "a new address pushes for the same client");
}

// ---- what /authorize does with a resolved push (RFC 9126 §4) ----

/// Follows redirects within Lanyard (`/authorize…`) to the page they end on.
async fn page_at(app: &TestApp, url: &str) -> reqwest::Response {
    let mut res = app.visit(url).await;
    for _ in 0..3 {
        if !res.status().is_redirection() || !location(&res).starts_with("/authorize") {
            break;
        }
        res = app.visit(&location(&res)).await;
    }
    res
}

/// Whether a response (followed within Lanyard) hands the client a code.
async fn yields_code(app: &TestApp, res: reqwest::Response) -> bool {
    let mut res = res;
    for _ in 0..3 {
        if !res.status().is_redirection() {
            return false;
        }
        let to = location(&res);
        if !to.starts_with("/authorize") {
            return query_param(&to, "code").is_some();
        }
        res = app.visit(&to).await;
    }
    false
}

#[tokio::test]
async fn a_pushed_prompt_cannot_be_dropped_or_altered_on_the_way() {
    let (app, client) = setup().await;
    app.code_for(&client, "openid", "ada").await;
    let request = Request::new(&client).with("prompt", "login");
    let request_uri = push(&app, &client, &request).await;
    let res = page_at(&app, &authorize_url(&app, &client.id, &request_uri)).await;
    let html = res.text().await.unwrap();
    assert!(
        html.contains("action=\"/signin\""),
        "prompt=login asks again though ada is signed in"
    );
    let carried = hidden_field(&html, "request").expect("the page carries the request");
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(carried.as_bytes()).into_owned().collect();
    let encode = |pairs: &[(String, String)]| {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            out.append_pair(k, v);
        }
        out.finish()
    };
    // The prompt dropped from the parameters.
    let dropped: Vec<_> = pairs.iter().filter(|(k, _)| k != "prompt").cloned().collect();
    // The tag's next-to-last field (what it says of the prompt) changed.
    let retagged: Vec<_> = pairs
        .iter()
        .map(|(k, v)| {
            if k != "pushed" {
                return (k.clone(), v.clone());
            }
            let mut fields: Vec<&str> = v.split('~').collect();
            let at = fields.len() - 2;
            fields[at] = if fields[at].is_empty() { "login" } else { "" };
            (k.clone(), fields.join("~"))
        })
        .collect();
    for (case, altered) in [("prompt dropped", dropped), ("tag altered", retagged)] {
        let res = app.visit(&format!("/authorize?{}", encode(&altered))).await;
        assert!(
            !yields_code(&app, res).await,
            "{case}: no code without the pushed prompt=login"
        );
    }
    // Unaltered, and signed in again, it finishes.
    let to = location(&app.sign_in_on(&html, "ada", PASSWORD).await);
    assert!(yields_code(&app, app.visit(&to).await).await, "positive control");
}

#[tokio::test]
async fn a_pushed_request_cannot_be_used_for_two_codes() {
    let (app, client) = setup().await;
    let request_uri = push(&app, &client, &Request::new(&client)).await;
    let html = page_at(&app, &authorize_url(&app, &client.id, &request_uri))
        .await
        .text()
        .await
        .unwrap();
    let continuation = location(&app.sign_in_on(&html, "ada", PASSWORD).await);
    assert!(continuation.starts_with("/authorize"), "{continuation}");
    assert!(
        yields_code(&app, app.visit(&continuation).await).await,
        "the first code"
    );
    let again = app.visit(&continuation).await;
    assert!(
        !yields_code(&app, again).await,
        "the same pushed request again: no second code"
    );

    // Two at once: one code (prompt=login, so the sign-in page comes first).
    let request_uri = push(&app, &client, &Request::new(&client).with("prompt", "login")).await;
    let html = page_at(&app, &authorize_url(&app, &client.id, &request_uri))
        .await
        .text()
        .await
        .unwrap();
    let continuation = location(&app.sign_in_on(&html, "ada", PASSWORD).await);
    let (a, b) = tokio::join!(app.visit(&continuation), app.visit(&continuation));
    let codes = [yields_code(&app, a).await, yields_code(&app, b).await];
    assert_eq!(codes.iter().filter(|c| **c).count(), 1, "{codes:?}");
}

#[tokio::test]
async fn a_large_pushed_request_survives_sign_in() {
    let (app, client) = setup().await;
    let names: Vec<String> = (0..1800).map(|i| format!("\"x_claim_{i:05}\":null")).collect();
    let claims = format!("{{\"userinfo\":{{{}}}}}", names.join(","));
    let request = Request::new(&client).with("claims", &claims);
    let request_uri = push(&app, &client, &request).await;
    let code = code_via(&app, &client, &request_uri).await;
    app.redeem(&client, &code, &request.verifier).await;
}

#[tokio::test]
async fn reloading_the_page_a_pushed_request_opened_shows_it_again() {
    let (app, client) = setup().await;
    let request_uri = push(&app, &client, &Request::new(&client)).await;
    let url = authorize_url(&app, &client.id, &request_uri);
    let first = app.visit(&url).await;
    // Where the browser is now: the URL it was sent on to, or the one it opened.
    let here = match first.status().is_redirection() {
        true => app.url(&location(&first)),
        false => url,
    };
    let shown = app.visit(&here).await;
    assert_eq!(shown.status(), 200);
    let reloaded = app.visit(&here).await;
    assert_eq!(reloaded.status(), 200, "RFC 9126 §4: a reload");
    assert!(reloaded.text().await.unwrap().contains("action=\"/signin\""));
}

#[tokio::test]
async fn housekeeping_keeps_a_pushed_request_while_its_sign_in_may_finish_then_deletes_it() {
    let (app, client) = setup().await;
    push(&app, &client, &Request::new(&client)).await;
    let opened = push(&app, &client, &Request::new(&client)).await;
    let res = page_at(&app, &authorize_url(&app, &client.id, &opened)).await;
    assert_eq!(res.status(), 200, "its sign-in page");
    let continuation = res.url().to_string();
    let rows = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM par_requests")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    let housekeep = || async {
        let limits = lanyard::maintenance::Housekeeping::default();
        for _ in 0..100 {
            if lanyard::maintenance::housekeep(&app.provider, &limits)
                .await
                .unwrap()
                .is_some()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("housekeeping never got its lock");
    };
    app.clock.advance(TimeDelta::minutes(2));
    housekeep().await;
    assert_eq!(
        rows().await,
        1,
        "the unopened push went; the one being signed in to stays"
    );
    assert_eq!(app.visit(&continuation).await.status(), 200, "its sign-in goes on");
    app.clock.advance(TimeDelta::minutes(30));
    housekeep().await;
    assert_eq!(rows().await, 0, "past its sign-in's time");
}
