//! DPoP proofs at the token endpoint (RFC 9449 §4–5): each rule of a proof
//! its own test; a bound token names its key (`cnf.jkt`) and is `DPoP`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsHeader};
use lanyard::clock::Clock as _;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::support::{
    ClientSpec, EXCHANGE, ID_TOKEN_TYPE, TestApp, TestClient, allow, create_api, create_client, create_service,
    create_user, error_of, jwt_claims, spawn_app,
};

pub const API: &str = "https://orders.example";

/// A client's DPoP key pair (also used by `dpop_grants` and `dpop_resources`).
pub struct Key {
    private: Jwk,
    public: Jwk,
}

impl Key {
    pub fn new() -> Self {
        let pair = ES256.generate_key_pair().unwrap();
        Key {
            private: pair.to_jwk_private_key(),
            public: pair.to_jwk_public_key(),
        }
    }

    /// The RFC 7638 thumbprint, computed here independently of Lanyard.
    pub fn thumbprint(&self) -> String {
        let p = |m: &str| self.public.parameter(m).unwrap().as_str().unwrap().to_owned();
        let canonical = format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            p("crv"),
            p("x"),
            p("y")
        );
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// A proof with these header and claim changes over a good one.
    pub fn proof_with(&self, app: &TestApp, header: &[(&str, Value)], claims: &[(&str, Value)]) -> String {
        let mut h = JwsHeader::new();
        h.set_token_type("dpop+jwt");
        h.set_jwk(self.public.clone());
        for (name, value) in header {
            h.set_claim(name, Some(value.clone())).unwrap();
        }
        let mut c = json!({
            "jti": uuid::Uuid::new_v4().to_string(), "htm": "POST", "htu": app.url("/token"),
            "iat": app.clock.now().timestamp(),
        });
        for (name, value) in claims {
            c[*name] = value.clone();
        }
        let signer = ES256.signer_from_jwk(&self.private).unwrap();
        josekit::jws::serialize_compact(c.to_string().as_bytes(), &h, &signer).unwrap()
    }

    pub fn proof(&self, app: &TestApp) -> String {
        self.proof_with(app, &[], &[])
    }
}

/// A service allowed `read` of the API.
pub async fn service(app: &TestApp) -> TestClient {
    create_api(app, API, &["read"], None, &[]).await;
    let svc = create_service(app, "svc").await;
    allow(app, "svc", API, &["read"]).await;
    svc
}

/// client_credentials with these `DPoP` header fields.
async fn cc(app: &TestApp, svc: &TestClient, proofs: &[&str]) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/token"))
        .basic_auth(&svc.id, svc.secret.as_deref())
        .form(&[("grant_type", "client_credentials")]);
    for proof in proofs {
        req = req.header("DPoP", *proof);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_client_credentials_token_with_a_dpop_proof_is_bound_to_its_key() {
    let app = spawn_app().await;
    let svc = service(&app).await;
    // Positive control: without a proof, a bearer token with no cnf.
    let bearer: Value = cc(&app, &svc, &[]).await.json().await.unwrap();
    assert_eq!(bearer["token_type"], "Bearer");
    assert!(jwt_claims(bearer["access_token"].as_str().unwrap())["cnf"].is_null());

    let key = Key::new();
    let res = cc(&app, &svc, &[&key.proof(&app)]).await;
    assert_eq!(res.status(), 200);
    let bound: Value = res.json().await.unwrap();
    assert_eq!(bound["token_type"], "DPoP", "RFC 9449 §5");
    let claims = jwt_claims(bound["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint(), "RFC 9449 §6.1");
}

#[tokio::test]
async fn each_rule_of_a_dpop_proof_is_checked() {
    let app = spawn_app().await;
    let svc = service(&app).await;
    let key = Key::new();
    assert_eq!(
        cc(&app, &svc, &[&key.proof(&app)]).await.status(),
        200,
        "positive control"
    );
    let now = app.clock.now().timestamp();
    let mut private_jwk: Map<String, Value> = key.private.as_ref().clone();
    private_jwk.remove("kid");
    let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let good = key.proof(&app);
    let (good_header, good_claims) = (good.split('.').next().unwrap(), good.split('.').nth(1).unwrap());
    let cases: Vec<(&str, String)> = vec![
        ("wrong htm", key.proof_with(&app, &[], &[("htm", json!("GET"))])),
        (
            "wrong htu",
            key.proof_with(&app, &[], &[("htu", json!(app.url("/userinfo")))]),
        ),
        ("stale iat", key.proof_with(&app, &[], &[("iat", json!(now - 120))])),
        ("future iat", key.proof_with(&app, &[], &[("iat", json!(now + 120))])),
        ("no jti", key.proof_with(&app, &[], &[("jti", Value::Null)])),
        ("typ JWT", key.proof_with(&app, &[("typ", json!("JWT"))], &[])),
        (
            "private key in the jwk",
            key.proof_with(&app, &[("jwk", Value::Object(private_jwk))], &[]),
        ),
        (
            "alg none",
            format!(
                "{}.{good_claims}.",
                b64(json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.public.as_ref()}))
            ),
        ),
        (
            "HS256",
            format!(
                "{}.{good_claims}.AAAA",
                b64(json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}}))
            ),
        ),
        (
            "bad signature",
            format!(
                "{good_header}.{}.{}",
                b64(json!({"jti": "x", "htm": "POST", "htu": app.url("/token"), "iat": now})),
                good.split('.').nth(2).unwrap()
            ),
        ),
        ("not a JWT", "abc".to_owned()),
    ];
    for (case, proof) in cases {
        let (status, error) = error_of(cc(&app, &svc, &[&proof]).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_dpop_proof"), "{case}");
    }
    let (a, b) = (key.proof(&app), key.proof(&app));
    let (status, error) = error_of(cc(&app, &svc, &[&a, &b]).await).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_dpop_proof"),
        "two DPoP headers"
    );
}

#[tokio::test]
async fn a_dpop_proof_is_accepted_once_across_nodes() {
    let app = spawn_app().await;
    let svc = service(&app).await;
    let key = Key::new();
    let proof = key.proof(&app);
    assert_eq!(cc(&app, &svc, &[&proof]).await.status(), 200, "first use");
    let (status, error) = error_of(cc(&app, &svc, &[&proof]).await).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_dpop_proof"),
        "replayed to the same node"
    );

    // A second node behind the same issuer (so the same `htu`), on the same database.
    let second = app.second_node().await;
    let fresh = key.proof(&app);
    assert_eq!(
        cc(&second, &svc, &[&fresh]).await.status(),
        200,
        "positive control: the second node"
    );
    let (status, error) = error_of(cc(&second, &svc, &[&proof]).await).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_dpop_proof"),
        "replayed to another node"
    );
    let (status, _) = error_of(cc(&app, &svc, &[&fresh]).await).await;
    assert_eq!(status, 400, "seen by the second node, refused by the first");
}

#[tokio::test]
async fn discovery_advertises_the_dpop_algorithms() {
    let app = spawn_app().await;
    let doc = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        doc["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA", "RS256", "PS256"])
    );
}

#[tokio::test]
async fn an_exchanged_token_with_a_dpop_proof_is_bound_to_its_key() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let client = create_client(&app, ClientSpec::exchanging()).await;
    create_api(&app, API, &["read"], None, &[]).await;
    allow(&app, &client.id, API, &["read"]).await;
    let id_token = app.tokens(&client, "openid", "ada").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", id_token.as_str()),
        ("subject_token_type", ID_TOKEN_TYPE),
        ("resource", API),
    ];
    let exchange = |proof: Option<String>| {
        let mut req = app
            .client
            .post(app.url("/token"))
            .basic_auth(&client.id, client.secret.as_deref())
            .form(&form);
        if let Some(p) = proof {
            req = req.header("DPoP", p);
        }
        req.send()
    };
    let bearer: Value = exchange(None).await.unwrap().json().await.unwrap();
    assert_eq!(bearer["token_type"], "Bearer", "positive control: {bearer}");
    let key = Key::new();
    let bound: Value = exchange(Some(key.proof(&app))).await.unwrap().json().await.unwrap();
    assert_eq!(bound["token_type"], "DPoP", "{bound}");
    assert_eq!(
        jwt_claims(bound["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.thumbprint()
    );
    let bad = key.proof_with(&app, &[], &[("htm", json!("GET"))]);
    let (status, error) = error_of(exchange(Some(bad)).await.unwrap()).await;
    assert_eq!((status, error.as_str()), (400, "invalid_dpop_proof"));
}

#[tokio::test]
async fn introspection_says_a_token_is_bound_and_to_which_key() {
    let app = spawn_app().await;
    let svc = service(&app).await;
    let introspect = |token: String| {
        app.client
            .post(app.url("/introspect"))
            .basic_auth(&svc.id, svc.secret.as_deref())
            .form(&[("token", token)])
            .send()
    };
    let bearer: Value = cc(&app, &svc, &[]).await.json().await.unwrap();
    let plain: Value = introspect(bearer["access_token"].as_str().unwrap().to_owned())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (plain["active"].as_bool(), plain["token_type"].as_str()),
        (Some(true), Some("Bearer"))
    );
    assert!(plain["cnf"].is_null(), "positive control: {plain}");
    let key = Key::new();
    let bound: Value = cc(&app, &svc, &[&key.proof(&app)]).await.json().await.unwrap();
    let answer: Value = introspect(bound["access_token"].as_str().unwrap().to_owned())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["token_type"], "DPoP", "RFC 9449 §6.2");
    assert_eq!(answer["cnf"]["jkt"], key.thumbprint());
}

/// A forged proof naming someone's public key (with a `kid`, and a bad
/// signature) must not change how that key's genuine proofs are verified:
/// a verifier is kept only after it verified a signature, and is built from
/// the key alone.
#[tokio::test]
async fn a_forged_proof_cannot_lock_a_key_out() {
    let app = spawn_app().await;
    let svc = service(&app).await;
    let victim = Key::new();
    let mut with_kid: Map<String, Value> = victim.public.as_ref().clone();
    with_kid.insert("kid".into(), json!("x"));
    let genuine = victim.proof(&app);
    let mut parts = genuine.split('.');
    let (_, claims, signature) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": with_kid});
    let forged = format!("{}.{claims}.{signature}", URL_SAFE_NO_PAD.encode(header.to_string()));
    let (status, error) = error_of(cc(&app, &svc, &[&forged]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_dpop_proof"), "the forgery");
    assert_eq!(
        cc(&app, &svc, &[&genuine]).await.status(),
        200,
        "the genuine proof still verifies"
    );
    let kid_in_jwk = victim.proof_with(&app, &[("jwk", Value::Object(with_kid))], &[]);
    assert_eq!(
        cc(&app, &svc, &[&kid_in_jwk]).await.status(),
        200,
        "a jwk with a kid is the same key"
    );
}

#[tokio::test]
async fn copies_of_a_proof_sent_at_once_are_accepted_once() {
    let app = spawn_app().await;
    let svc = service(&app).await;
    let proof = Key::new().proof(&app);
    let proofs = [proof.as_str()];
    // Sent together, they share the batches the jtis are recorded in.
    let answers = futures_util::future::join_all((0..6).map(|_| cc(&app, &svc, &proofs))).await;
    let accepted = answers.iter().filter(|r| r.status() == 200).count();
    assert_eq!(
        accepted,
        1,
        "{:?}",
        answers.iter().map(|r| r.status()).collect::<Vec<_>>()
    );
}
