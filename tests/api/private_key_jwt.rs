//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OIDC Core
//! §9): each rule of an assertion its own test; keys registered inline or
//! fetched from a `jwks_uri`; a client's secret and keys never coexist.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, EdDSA, HS256, JwsHeader, PS256, RS256};
use lanyard::admin::clients::{ClientUpdate, NewClientInput};
use lanyard::clock::Clock as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{TestApp, allow, create_api, error_of, spawn_app};

const API: &str = "https://orders.example";
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A key pair of the client's, with its `kid` and `alg`.
pub struct Key {
    alg: &'static str,
    kid: String,
    private: Jwk,
    public: Jwk,
}

impl Key {
    fn new(alg: &'static str, kid: &str) -> Self {
        let (mut private, mut public) = match alg {
            "ES256" => {
                let p = ES256.generate_key_pair().unwrap();
                (p.to_jwk_private_key(), p.to_jwk_public_key())
            }
            "EdDSA" => {
                let p = EdDSA
                    .generate_key_pair(josekit::jwk::alg::ed::EdCurve::Ed25519)
                    .unwrap();
                (p.to_jwk_private_key(), p.to_jwk_public_key())
            }
            "PS256" => {
                let p = PS256.generate_key_pair(2048).unwrap();
                (p.to_jwk_private_key(), p.to_jwk_public_key())
            }
            _ => {
                let p = RS256.generate_key_pair(2048).unwrap();
                (p.to_jwk_private_key(), p.to_jwk_public_key())
            }
        };
        private.set_key_id(kid);
        public.set_key_id(kid);
        Key {
            alg,
            kid: kid.into(),
            private,
            public,
        }
    }

    pub fn es256(kid: &str) -> Self {
        Key::new("ES256", kid)
    }

    /// A JWT signed with this key (its `alg` and `kid` in the header).
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        header.set_key_id(&self.kid);
        let payload = claims.to_string();
        match self.alg {
            "ES256" => josekit::jws::serialize_compact(
                payload.as_bytes(),
                &header,
                &ES256.signer_from_jwk(&self.private).unwrap(),
            ),
            "EdDSA" => josekit::jws::serialize_compact(
                payload.as_bytes(),
                &header,
                &EdDSA.signer_from_jwk(&self.private).unwrap(),
            ),
            "PS256" => josekit::jws::serialize_compact(
                payload.as_bytes(),
                &header,
                &PS256.signer_from_jwk(&self.private).unwrap(),
            ),
            _ => josekit::jws::serialize_compact(
                payload.as_bytes(),
                &header,
                &RS256.signer_from_jwk(&self.private).unwrap(),
            ),
        }
        .unwrap()
    }

    /// A good assertion for `/token` of client `id`, with these claim changes.
    fn assertion_with(&self, app: &TestApp, id: &str, changes: &[(&str, Value)]) -> String {
        let mut claims = good_claims(app, id);
        for (name, value) in changes {
            claims[*name] = value.clone();
        }
        self.sign(&claims)
    }

    fn assertion(&self, app: &TestApp, id: &str) -> String {
        self.assertion_with(app, id, &[])
    }
}

fn good_claims(app: &TestApp, id: &str) -> Value {
    let now = app.clock.now().timestamp();
    json!({
        "iss": id, "sub": id, "aud": app.url("/token"), "exp": now + 60, "iat": now,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// A JWK Set of these keys' public halves.
pub fn jwks(keys: &[&Key]) -> Value {
    json!({ "keys": keys.iter().map(|k| Value::Object(k.public.as_ref().clone())).collect::<Vec<_>>() })
}

/// Registers a service that authenticates with private_key_jwt (with its
/// keys inline or at a URI), allowed `read` of the API.
async fn register(app: &TestApp, id: &str, jwks: Option<Value>, jwks_uri: Option<String>) {
    if lanyard::store::apis::find_by_audience(&mut app.pool.acquire().await.unwrap(), API)
        .await
        .unwrap()
        .is_none()
    {
        create_api(app, API, &["read"], None, &[]).await;
    }
    let input = NewClientInput {
        client_id: id.into(),
        auth_method: Some("private_key_jwt".into()),
        grant_types: vec!["client_credentials".into()],
        jwks,
        jwks_uri,
        ..Default::default()
    };
    let created = lanyard::admin::clients::create(&app.pool, &app.clock, &mut rand::rng(), input)
        .await
        .expect("client created");
    assert_eq!(created.client_secret, None, "a private_key_jwt client holds no secret");
    allow(app, id, API, &["read"]).await;
}

/// A service `svc` with one ES256 key registered inline.
async fn service(app: &TestApp) -> Key {
    let key = Key::es256("k1");
    register(app, "svc", Some(jwks(&[&key])), None).await;
    key
}

/// POSTs a form to an endpoint of the app, with no Basic credentials.
async fn post(app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.client.post(app.url(path)).form(form).send().await.unwrap()
}

/// client_credentials authenticated by this assertion.
async fn cc(app: &TestApp, assertion: &str) -> reqwest::Response {
    post(
        app,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ],
    )
    .await
}

#[track_caller]
fn assert_invalid_client(answer: (u16, String), case: &str) {
    assert_eq!((answer.0, answer.1.as_str()), (401, "invalid_client"), "{case}");
}

#[tokio::test]
async fn a_client_authenticates_with_private_key_jwt_at_token_introspection_and_revocation() {
    let app = spawn_app().await;
    let key = service(&app).await;

    let res = cc(&app, &key.assertion(&app, "svc")).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(crate::support::jwt_claims(&token)["client_id"], "svc");

    // Introspection: `aud` may be the introspection endpoint, or the token
    // endpoint (OIDC Core §9), or the issuer.
    for aud in [app.url("/introspect"), app.url("/token"), app.address.clone()] {
        let assertion = key.assertion_with(&app, "svc", &[("aud", json!(aud))]);
        let res = post(
            &app,
            "/introspect",
            &[
                ("token", token.as_str()),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion),
                ("client_id", "svc"),
            ],
        )
        .await;
        assert_eq!(res.status(), 200, "{aud}");
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer["active"], true, "{aud}: {answer}");
    }

    let assertion = key.assertion_with(&app, "svc", &[("aud", json!(app.url("/revoke")))]);
    let res = post(
        &app,
        "/revoke",
        &[
            ("token", token.as_str()),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    let assertion = key.assertion_with(&app, "svc", &[("aud", json!(app.url("/introspect")))]);
    let answer: Value = post(
        &app,
        "/introspect",
        &[
            ("token", token.as_str()),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(answer["active"], false, "revoked with private_key_jwt");
}

#[tokio::test]
async fn assertions_signed_with_es256_eddsa_rs256_and_ps256_are_accepted() {
    let app = spawn_app().await;
    let keys =
        [("ES256", "es"), ("EdDSA", "ed"), ("RS256", "rs"), ("PS256", "ps")].map(|(alg, kid)| Key::new(alg, kid));
    register(&app, "svc", Some(jwks(&keys.iter().collect::<Vec<_>>())), None).await;
    for key in &keys {
        let res = cc(&app, &key.assertion(&app, "svc")).await;
        assert_eq!(res.status(), 200, "{}", key.alg);
    }
}

#[tokio::test]
async fn an_assertion_signed_with_an_unregistered_key_is_refused() {
    let app = spawn_app().await;
    let key = service(&app).await;
    assert_eq!(
        cc(&app, &key.assertion(&app, "svc")).await.status(),
        200,
        "positive control"
    );
    // Another key under the registered kid, and another key with its own kid.
    for other in [Key::es256("k1"), Key::es256("k2")] {
        let answer = error_of(cc(&app, &other.assertion(&app, "svc")).await).await;
        assert_invalid_client(answer, &other.kid);
    }
}

#[tokio::test]
async fn an_expired_assertion_is_refused() {
    let app = spawn_app().await;
    let key = service(&app).await;
    let now = app.clock.now().timestamp();
    assert_eq!(
        cc(&app, &key.assertion(&app, "svc")).await.status(),
        200,
        "positive control"
    );
    let expired = key.assertion_with(&app, "svc", &[("exp", json!(now - 120)), ("iat", json!(now - 180))]);
    assert_invalid_client(error_of(cc(&app, &expired).await).await, "exp passed");
    // A good assertion, presented after its exp.
    let later = key.assertion(&app, "svc");
    app.clock.advance(TimeDelta::seconds(120));
    assert_invalid_client(error_of(cc(&app, &later).await).await, "presented late");
    let missing = key.assertion_with(&app, "svc", &[("exp", Value::Null)]);
    assert_invalid_client(error_of(cc(&app, &missing).await).await, "no exp");
}

#[tokio::test]
async fn an_assertion_whose_exp_is_more_than_five_minutes_ahead_is_refused() {
    let app = spawn_app().await;
    let key = service(&app).await;
    let now = app.clock.now().timestamp();
    let near = key.assertion_with(&app, "svc", &[("exp", json!(now + 300))]);
    assert_eq!(cc(&app, &near).await.status(), 200, "positive control: five minutes");
    let far = key.assertion_with(&app, "svc", &[("exp", json!(now + 3600))]);
    assert_invalid_client(error_of(cc(&app, &far).await).await, "an hour ahead");
}

#[tokio::test]
async fn an_assertion_for_another_audience_is_refused() {
    let app = spawn_app().await;
    let key = service(&app).await;
    assert_eq!(
        cc(&app, &key.assertion(&app, "svc")).await.status(),
        200,
        "positive control"
    );
    for aud in [
        json!("https://other.example/token"),
        json!(app.url("/introspect")),
        json!(app.url("/userinfo")),
        json!(format!("{}/", app.address)),
        Value::Null,
    ] {
        let assertion = key.assertion_with(&app, "svc", &[("aud", aud.clone())]);
        assert_invalid_client(error_of(cc(&app, &assertion).await).await, &aud.to_string());
    }
}

#[tokio::test]
async fn an_assertion_whose_iss_is_not_its_sub_is_refused() {
    let app = spawn_app().await;
    let key = service(&app).await;
    register(&app, "other", Some(jwks(&[&Key::es256("o")])), None).await;
    assert_eq!(
        cc(&app, &key.assertion(&app, "svc")).await.status(),
        200,
        "positive control"
    );
    for (iss, sub) in [("other", "svc"), ("svc", "other")] {
        let assertion = key.assertion_with(&app, "svc", &[("iss", json!(iss)), ("sub", json!(sub))]);
        assert_invalid_client(error_of(cc(&app, &assertion).await).await, &format!("{iss} {sub}"));
    }
    // The request's client_id must be the assertion's too.
    let assertion = key.assertion(&app, "svc");
    let res = post(
        &app,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "other"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_invalid_client(error_of(res).await, "client_id of another client");
}

#[tokio::test]
async fn a_replayed_assertion_is_refused_on_every_node() {
    let app = spawn_app().await;
    let key = service(&app).await;
    let assertion = key.assertion(&app, "svc");
    assert_eq!(cc(&app, &assertion).await.status(), 200, "first use");
    assert_invalid_client(error_of(cc(&app, &assertion).await).await, "replayed to the same node");

    // A second node behind the same issuer (so the same `aud`), on the same database.
    let second = app.second_node().await;
    let fresh = key.assertion(&app, "svc");
    assert_eq!(
        cc(&second, &fresh).await.status(),
        200,
        "positive control: the second node"
    );
    assert_invalid_client(
        error_of(cc(&second, &assertion).await).await,
        "replayed to another node",
    );
    assert_invalid_client(
        error_of(cc(&app, &fresh).await).await,
        "seen by the second, refused by the first",
    );

    // Fired at once, at both nodes: one is accepted.
    let once = key.assertion(&app, "svc");
    let answers = futures_util::future::join_all((0..6).map(|i| {
        let node = if i % 2 == 0 { &app } else { &second };
        cc(node, &once)
    }))
    .await;
    let accepted = answers.iter().filter(|r| r.status() == 200).count();
    assert_eq!(
        accepted,
        1,
        "{:?}",
        answers.iter().map(|r| r.status()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn an_unsigned_assertion_alg_none_is_refused() {
    let app = spawn_app().await;
    let key = service(&app).await;
    let good = key.assertion(&app, "svc");
    assert_eq!(cc(&app, &good).await.status(), 200, "positive control");
    let claims = URL_SAFE_NO_PAD.encode(good_claims(&app, "svc").to_string());
    for header in [json!({"alg": "none"}), json!({"alg": "none", "kid": "k1"})] {
        let unsigned = format!("{}.{claims}.", URL_SAFE_NO_PAD.encode(header.to_string()));
        assert_invalid_client(error_of(cc(&app, &unsigned).await).await, &header.to_string());
    }
}

#[tokio::test]
async fn an_hs256_assertion_is_refused() {
    let app = spawn_app().await;
    let key = service(&app).await;
    assert_eq!(
        cc(&app, &key.assertion(&app, "svc")).await.status(),
        200,
        "positive control"
    );
    // Keyed with the client's public key (the classic confusion) and with a plain secret.
    let public_json = serde_json::to_string(key.public.as_ref()).unwrap();
    for secret in [public_json.as_bytes(), b"some shared secret of 32 bytes!!".as_slice()] {
        let mut header = JwsHeader::new();
        header.set_key_id("k1");
        let signer = HS256.signer_from_bytes(secret).unwrap();
        let jwt =
            josekit::jws::serialize_compact(good_claims(&app, "svc").to_string().as_bytes(), &header, &signer).unwrap();
        assert_invalid_client(error_of(cc(&app, &jwt).await).await, "HS256");
    }
}

#[tokio::test]
async fn a_wrong_client_assertion_type_is_refused() {
    let app = spawn_app().await;
    let key = service(&app).await;
    assert_eq!(
        cc(&app, &key.assertion(&app, "svc")).await.status(),
        200,
        "positive control"
    );
    for assertion_type in [
        Some("urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer "),
        Some("URN:IETF:PARAMS:OAUTH:CLIENT-ASSERTION-TYPE:JWT-BEARER"),
        None,
    ] {
        let assertion = key.assertion(&app, "svc");
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_assertion", assertion.as_str()),
        ];
        form.extend(assertion_type.map(|t| ("client_assertion_type", t)));
        assert_invalid_client(
            error_of(post(&app, "/token", &form).await).await,
            &format!("{assertion_type:?}"),
        );
    }
    // The type without an assertion.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "svc"),
        ("client_assertion_type", JWT_BEARER),
    ];
    assert_invalid_client(error_of(post(&app, "/token", &form).await).await, "no assertion");
}

#[tokio::test]
async fn an_assertion_with_a_secret_or_basic_credentials_is_refused() {
    let app = spawn_app().await;
    let key = service(&app).await;
    assert_eq!(
        cc(&app, &key.assertion(&app, "svc")).await.status(),
        200,
        "positive control"
    );
    let assertion = key.assertion(&app, "svc");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion.as_str()),
        ("client_secret", "anything"),
    ];
    assert_invalid_client(error_of(post(&app, "/token", &form).await).await, "with client_secret");
    let res = app
        .client
        .post(app.url("/token"))
        .basic_auth("svc", Some("anything"))
        .form(&form[..3])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers().get("www-authenticate").map(|v| v.to_str().unwrap()),
        Some("Basic realm=\"lanyard\""),
        "Basic was used: the 401 challenges Basic (RFC 6749 §5.2)"
    );
    assert_invalid_client(error_of(res).await, "with Basic");
    // Neither attempt spent the assertion's jti: it still works alone.
    assert_eq!(cc(&app, &assertion).await.status(), 200);
}

#[tokio::test]
async fn a_private_key_jwt_client_cannot_authenticate_by_its_id_alone_or_a_secret() {
    let app = spawn_app().await;
    service(&app).await;
    let by_id = post(
        &app,
        "/token",
        &[("grant_type", "client_credentials"), ("client_id", "svc")],
    )
    .await;
    assert_invalid_client(error_of(by_id).await, "client_id alone");
    let by_post = post(
        &app,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "svc"),
            ("client_secret", ""),
        ],
    )
    .await;
    assert_eq!(by_post.status(), 401, "an empty secret");
    let basic = app
        .client
        .post(app.url("/token"))
        .basic_auth("svc", Some(""))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_invalid_client(error_of(basic).await, "Basic with an empty secret");
}

#[tokio::test]
async fn discovery_advertises_private_key_jwt_and_its_algorithms() {
    let app = spawn_app().await;
    let doc = app.get_json("/.well-known/openid-configuration").await;
    let algs = json!(["ES256", "EdDSA", "RS256", "PS256"]);
    for endpoint in ["token", "introspection", "revocation"] {
        let methods = doc[format!("{endpoint}_endpoint_auth_methods_supported")]
            .as_array()
            .unwrap();
        assert!(methods.contains(&json!("private_key_jwt")), "{endpoint}: {methods:?}");
        assert_eq!(
            doc[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")],
            algs,
            "{endpoint}"
        );
    }
}

// ---- keys at a jwks_uri ----

/// A tiny HTTP server publishing a JWK Set that the test may change, and
/// counting the requests it answers.
struct JwksServer {
    url: String,
    body: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(set: &Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}/jwks.json", listener.local_addr().unwrap().port());
        let body = Arc::new(Mutex::new(set.to_string()));
        let hits = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (body.clone(), hits.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let body = served.lock().unwrap().clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/jwk-set+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(body.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        JwksServer { url, body, hits }
    }

    fn publish(&self, set: &Value) {
        *self.body.lock().unwrap() = set.to_string();
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn keys_at_a_jwks_uri_are_fetched_and_a_rotation_is_picked_up_on_an_unknown_kid() {
    let app = spawn_app().await;
    let (a, b, c) = (Key::es256("a"), Key::es256("b"), Key::es256("c"));
    let server = JwksServer::start(&jwks(&[&a])).await;
    register(&app, "svc", None, Some(server.url.clone())).await;

    assert_eq!(
        cc(&app, &a.assertion(&app, "svc")).await.status(),
        200,
        "key a, fetched"
    );
    assert_eq!(cc(&app, &a.assertion(&app, "svc")).await.status(), 200, "key a, cached");
    assert_eq!(server.hits(), 1, "fetched once, then cached");

    // The client rotates to b: an assertion with the unknown kid fetches again.
    server.publish(&jwks(&[&b]));
    app.clock.advance(TimeDelta::seconds(61));
    assert_eq!(
        cc(&app, &b.assertion(&app, "svc")).await.status(),
        200,
        "key b, refetched"
    );
    assert_eq!(server.hits(), 2);
    assert_invalid_client(error_of(cc(&app, &a.assertion(&app, "svc")).await).await, "a is gone");

    // A second rotation within the minute is not fetched yet…
    server.publish(&jwks(&[&c]));
    assert_invalid_client(
        error_of(cc(&app, &c.assertion(&app, "svc")).await).await,
        "c, within a minute of the last fetch",
    );
    assert_eq!(server.hits(), 2, "at most one fetch a minute");
    // …and is a minute later.
    app.clock.advance(TimeDelta::seconds(61));
    assert_eq!(
        cc(&app, &c.assertion(&app, "svc")).await.status(),
        200,
        "key c, a minute later"
    );
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn a_jwks_uri_document_over_the_size_limit_is_refused() {
    let app = spawn_app().await;
    let key = Key::es256("k1");
    let mut big = jwks(&[&key]);
    big["padding"] = json!("x".repeat(70 * 1024));
    let server = JwksServer::start(&big).await;
    register(&app, "svc", None, Some(server.url.clone())).await;
    assert_invalid_client(error_of(cc(&app, &key.assertion(&app, "svc")).await).await, "70 KiB");
    // Positive control: the same keys, small, a minute later.
    server.publish(&jwks(&[&key]));
    app.clock.advance(TimeDelta::seconds(61));
    assert_eq!(cc(&app, &key.assertion(&app, "svc")).await.status(), 200);
}

// ---- a secret or keys, never both ----

#[tokio::test]
async fn a_clients_secret_and_keys_never_coexist() {
    let app = spawn_app().await;
    let key = service(&app).await;
    let change = |method: &str, jwks: Option<Value>| ClientUpdate {
        auth_method: Some(method.into()),
        grant_types: vec!["client_credentials".into()],
        jwks,
        ..Default::default()
    };
    let stored = || async {
        sqlx::query_as::<_, (Option<Vec<u8>>, Option<Value>)>(
            "SELECT secret_hash, jwks FROM clients WHERE client_id = 'svc'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    let (secret, keys) = stored().await;
    assert!(secret.is_none() && keys.is_some());

    // To a secret method: the keys go, a secret is made (shown once) and works.
    let updated = lanyard::admin::clients::update(
        &app.pool,
        &app.clock,
        &mut rand::rng(),
        "svc",
        change("client_secret_basic", None),
    )
    .await
    .unwrap();
    app.settle().await;
    let secret = updated.client_secret.expect("a secret made");
    let (hash, keys) = stored().await;
    assert!(hash.is_some() && keys.is_none(), "the keys are dropped");
    let res = app
        .client
        .post(app.url("/token"))
        .basic_auth("svc", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the new secret works");
    assert_invalid_client(
        error_of(cc(&app, &key.assertion(&app, "svc")).await).await,
        "the old key",
    );

    // Keys with a secret method are refused.
    let refused = lanyard::admin::clients::update(
        &app.pool,
        &app.clock,
        &mut rand::rng(),
        "svc",
        change("client_secret_basic", Some(jwks(&[&key]))),
    )
    .await;
    assert!(refused.is_err(), "keys with client_secret_basic");

    // Back to private_key_jwt: the secret goes.
    let updated = lanyard::admin::clients::update(
        &app.pool,
        &app.clock,
        &mut rand::rng(),
        "svc",
        change("private_key_jwt", Some(jwks(&[&key]))),
    )
    .await
    .unwrap();
    app.settle().await;
    assert_eq!(updated.client_secret, None);
    let (hash, keys) = stored().await;
    assert!(hash.is_none() && keys.is_some(), "the secret is dropped");
    let res = app
        .client
        .post(app.url("/token"))
        .basic_auth("svc", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_invalid_client(error_of(res).await, "the old secret");
    assert_eq!(
        cc(&app, &key.assertion(&app, "svc")).await.status(),
        200,
        "the key works again"
    );

    // The database holds the rule too.
    let both = sqlx::query("UPDATE clients SET secret_hash = $1 WHERE client_id = 'svc'")
        .bind(vec![0u8; 32])
        .execute(&app.pool)
        .await;
    assert!(both.is_err(), "a CHECK constraint refuses a secret beside keys");
}

#[tokio::test]
async fn a_jwk_set_with_private_or_symmetric_keys_is_refused() {
    let app = spawn_app().await;
    let key = Key::es256("k1");
    let private = json!({ "keys": [Value::Object(key.private.as_ref().clone())] });
    let symmetric = json!({ "keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}] });
    for (case, set) in [
        ("private", private),
        ("symmetric", symmetric),
        ("empty", json!({"keys": []})),
    ] {
        let input = NewClientInput {
            client_id: "svc".into(),
            auth_method: Some("private_key_jwt".into()),
            grant_types: vec!["client_credentials".into()],
            jwks: Some(set),
            ..Default::default()
        };
        let refused = lanyard::admin::clients::create(&app.pool, &app.clock, &mut rand::rng(), input).await;
        assert!(refused.is_err(), "{case}");
    }
    let input = NewClientInput {
        client_id: "svc".into(),
        auth_method: Some("private_key_jwt".into()),
        grant_types: vec!["client_credentials".into()],
        jwks_uri: Some("http://keys.example/jwks".into()),
        ..Default::default()
    };
    let refused = lanyard::admin::clients::create(&app.pool, &app.clock, &mut rand::rng(), input).await;
    assert!(refused.is_err(), "http off loopback");
}

#[tokio::test]
async fn an_accepted_assertions_jti_is_kept_until_it_expires_then_pruned() {
    use lanyard::maintenance::{Housekeeping, housekeep};
    let app = spawn_app().await;
    let key = service(&app).await;
    assert_eq!(cc(&app, &key.assertion(&app, "svc")).await.status(), 200);
    let rows = || crate::support::count_rows(&app.db, "client_assertion_jtis");
    assert_eq!(rows().await, 1, "the jti is remembered");
    let limits = Housekeeping {
        batch: 100,
        max_batches: 10,
    };
    let run = || async {
        for _ in 0..100 {
            if housekeep(&app.provider, &limits).await.unwrap().is_some() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("housekeeping never got its lock");
    };
    run().await;
    assert_eq!(rows().await, 1, "kept while the assertion could be replayed");
    app.clock.advance(TimeDelta::days(100));
    run().await;
    assert_eq!(rows().await, 0, "pruned once past its exp and the retention");
}

#[tokio::test]
async fn while_the_database_is_away_an_assertion_answers_503_not_invalid_client() {
    let (cluster, db) = crate::support::own_cluster().await;
    let app = TestApp::builder().on(db).spawn().await;
    let key = service(&app).await;
    assert_eq!(
        cc(&app, &key.assertion(&app, "svc")).await.status(),
        200,
        "positive control"
    );
    cluster.stop().await;
    let (status, error) = error_of(cc(&app, &key.assertion(&app, "svc")).await).await;
    assert_eq!((status, error.as_str()), (503, "temporarily_unavailable"), "at /token");
    let assertion = key.assertion_with(&app, "svc", &[("aud", json!(app.url("/introspect")))]);
    let res = post(
        &app,
        "/introspect",
        &[
            ("token", "x.y.z"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_eq!(error_of(res).await.0, 503, "at /introspect");
    cluster.start().await;
    assert!(
        crate::support::eventually(std::time::Duration::from_secs(10), || async {
            cc(&app, &key.assertion(&app, "svc")).await.status() == 200
        })
        .await,
        "back once the database is"
    );
}

#[tokio::test]
async fn a_jwks_uri_that_never_answers_is_given_up_without_holding_up_other_requests() {
    let app = spawn_app().await;
    // A server that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}/jwks", listener.local_addr().unwrap().port());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let key = Key::es256("k1");
    register(&app, "svc", None, Some(url)).await;
    let other = crate::support::create_service(&app, "plain").await;
    allow(&app, "plain", API, &["read"]).await;

    let started = std::time::Instant::now();
    let assertion = key.assertion(&app, "svc");
    let hanging = cc(&app, &assertion);
    let meanwhile = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let asked = std::time::Instant::now();
        let res = app.token(&other, &[("grant_type", "client_credentials")]).await;
        (res.status().as_u16(), asked.elapsed())
    };
    let (refused, (status, took)) = tokio::join!(hanging, meanwhile);
    assert_eq!(
        (status, took < std::time::Duration::from_secs(1)),
        (200, true),
        "the app's one worker kept serving ({took:?})"
    );
    assert_invalid_client(error_of(refused).await, "the fetch timed out");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= std::time::Duration::from_secs(4) && elapsed < std::time::Duration::from_secs(8),
        "given up after the 5 s limit: {elapsed:?}"
    );
}
