//! DPoP at Lanyard's own protected resources (RFC 9449 §7): UserInfo and the
//! admin API take a DPoP-bound token under the `DPoP` scheme with a proof
//! for that request (`htm`, `htu`, `ath`, the bound key, `jti` once), refuse
//! it as a bearer, and say so in their `WWW-Authenticate` challenges. Each
//! rule its own test, each after a positive control.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lanyard::clock::Clock as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::dpop::Key;
use crate::support::{
    ClientSpec, TestApp, TestClient, allow, auth_url, create_client, create_service, create_user, error_of, jwt_claims,
    location, query_param, spawn_app,
};

/// The algorithms every `DPoP` challenge lists.
const ALGS: &str = r#"algs="ES256 EdDSA RS256 PS256""#;

/// RFC 9449 §4.2: `ath` is the base64url SHA-256 of the access token.
fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// A signed-in user, a bound grant and its UserInfo token.
struct Bound {
    app: TestApp,
    client: TestClient,
    key: Key,
    /// An unbound UserInfo token of another grant of the same user.
    bearer: String,
    /// The UserInfo token of a code flow redeemed with a proof of `key`
    /// (RFC 9449 §5): bound to it.
    token: String,
}

async fn bound(scope: &str) -> Bound {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let client = create_client(&app, ClientSpec::default()).await;
    let bearer = app.tokens(&client, scope, "ada").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = Key::new();
    let auth = auth_url(&app, &client, scope, &[]);
    let code = query_param(&location(&app.authorize(&auth.url, "ada").await), "code").unwrap();
    let res = app
        .client
        .post(app.url("/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .header("DPoP", key.proof(&app))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("code_verifier", auth.verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let tokens: Value = res.json().await.unwrap();
    assert_eq!(tokens["token_type"], "DPoP", "{tokens}");
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_claims(&token)["cnf"]["jkt"], key.thumbprint());
    Bound {
        app,
        client,
        key,
        bearer,
        token,
    }
}

impl Bound {
    /// A good proof for `GET /userinfo` with this token.
    fn proof(&self) -> String {
        self.proof_with(&[])
    }

    fn proof_with(&self, changes: &[(&str, Value)]) -> String {
        let mut claims = vec![
            ("htm", json!("GET")),
            ("htu", json!(self.app.url("/userinfo"))),
            ("ath", json!(ath(&self.token))),
        ];
        claims.extend(changes.iter().cloned());
        self.key.proof_with(&self.app, &[], &claims)
    }

    /// `GET /userinfo` with `Authorization: <scheme> <token>` and these proofs.
    async fn get(&self, scheme: &str, token: &str, proofs: &[&str]) -> reqwest::Response {
        let mut req = self
            .app
            .client
            .get(self.app.url("/userinfo"))
            .header("Authorization", format!("{scheme} {token}"));
        for proof in proofs {
            req = req.header("DPoP", *proof);
        }
        req.send().await.unwrap()
    }

    /// The positive control: the bound token and a fresh good proof pass.
    async fn assert_accepted(&self) {
        let res = self.get("DPoP", &self.token, &[&self.proof()]).await;
        assert_eq!(res.status(), 200, "positive control");
    }
}

/// Every `WWW-Authenticate` field of a response.
fn challenges(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The status, the error and the one challenge of a refusal.
async fn refusal(res: reqwest::Response) -> (u16, String, String) {
    let challenges = challenges(&res);
    assert_eq!(challenges.len(), 1, "one challenge: {challenges:?}");
    let (status, error) = error_of(res).await;
    (status, error, challenges[0].clone())
}

#[tokio::test]
async fn userinfo_answers_a_bound_token_with_a_good_proof() {
    let b = bound("openid email").await;
    let res = b.get("DPoP", &b.token, &[&b.proof()]).await;
    assert_eq!(res.status(), 200);
    let claims: Value = res.json().await.unwrap();
    assert_eq!(claims["sub"], jwt_claims(&b.token)["sub"]);
    assert_eq!(claims["email"], "ada@example.com");
    // The scheme is case-insensitive (RFC 9110 §11.1), and POST works too.
    assert_eq!(b.get("dpop", &b.token, &[&b.proof()]).await.status(), 200);
    let post = b.proof_with(&[("htm", json!("POST"))]);
    let res = b
        .app
        .client
        .post(b.app.url("/userinfo"))
        .header("Authorization", format!("DPoP {}", b.token))
        .header("DPoP", post)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "POST with a proof for POST");
}

#[tokio::test]
async fn userinfo_refuses_a_proof_with_a_wrong_ath() {
    let b = bound("openid").await;
    b.assert_accepted().await;
    for (case, proof) in [
        (
            "the hash of another token",
            b.proof_with(&[("ath", json!(ath(&b.bearer)))]),
        ),
        ("no ath", b.proof_with(&[("ath", Value::Null)])),
    ] {
        let (status, error, challenge) = refusal(b.get("DPoP", &b.token, &[&proof]).await).await;
        assert_eq!((status, error.as_str()), (401, "invalid_dpop_proof"), "{case}");
        assert!(
            challenge.starts_with("DPoP ") && challenge.contains("ath"),
            "{case}: {challenge}"
        );
    }
}

#[tokio::test]
async fn userinfo_refuses_a_proof_by_another_key() {
    let b = bound("openid").await;
    b.assert_accepted().await;
    let thief = Key::new();
    let proof = thief.proof_with(
        &b.app,
        &[],
        &[
            ("htm", json!("GET")),
            ("htu", json!(b.app.url("/userinfo"))),
            ("ath", json!(ath(&b.token))),
        ],
    );
    let (status, error, challenge) = refusal(b.get("DPoP", &b.token, &[&proof]).await).await;
    // RFC 9449 §7.1's own example: the key binding fails, so the token is invalid.
    assert_eq!((status, error.as_str()), (401, "invalid_token"));
    assert!(
        challenge.starts_with("DPoP ") && challenge.contains("bound to"),
        "{challenge}"
    );
}

#[tokio::test]
async fn userinfo_refuses_a_replayed_proof() {
    let b = bound("openid").await;
    let proof = b.proof();
    assert_eq!(b.get("DPoP", &b.token, &[&proof]).await.status(), 200, "first use");
    let (status, error, challenge) = refusal(b.get("DPoP", &b.token, &[&proof]).await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_dpop_proof"));
    assert!(challenge.contains("replayed"), "{challenge}");
}

#[tokio::test]
async fn userinfo_refuses_a_proof_for_another_method_or_url() {
    let b = bound("openid").await;
    b.assert_accepted().await;
    let stale = b.app.clock.now().timestamp() - 120;
    for (case, proof) in [
        ("htm POST on a GET", b.proof_with(&[("htm", json!("POST"))])),
        (
            "htu of the token endpoint",
            b.proof_with(&[("htu", json!(b.app.url("/token")))]),
        ),
        (
            "htu of another host",
            b.proof_with(&[("htu", json!("https://evil.example/userinfo"))]),
        ),
        ("a stale iat", b.proof_with(&[("iat", json!(stale))])),
    ] {
        let (status, error, _) = refusal(b.get("DPoP", &b.token, &[&proof]).await).await;
        assert_eq!((status, error.as_str()), (401, "invalid_dpop_proof"), "{case}");
    }
}

#[tokio::test]
async fn userinfo_refuses_a_bound_token_presented_as_bearer() {
    let b = bound("openid").await;
    assert_eq!(
        b.app.userinfo(&b.bearer).await.status(),
        200,
        "positive control: a bearer token"
    );
    for (case, res) in [
        ("the Bearer scheme", b.get("Bearer", &b.token, &[]).await),
        (
            "the Bearer scheme with a proof",
            b.get("Bearer", &b.token, &[&b.proof()]).await,
        ),
        (
            "the form body",
            b.app
                .client
                .post(b.app.url("/userinfo"))
                .header("DPoP", b.proof_with(&[("htm", json!("POST"))]))
                .form(&[("access_token", b.token.as_str())])
                .send()
                .await
                .unwrap(),
        ),
    ] {
        let (status, error, challenge) = refusal(res).await;
        assert_eq!((status, error.as_str()), (401, "invalid_token"), "{case}");
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains("DPoP scheme"),
            "{case}: {challenge}"
        );
    }
}

#[tokio::test]
async fn userinfo_refuses_the_dpop_scheme_without_a_proof() {
    let b = bound("openid").await;
    b.assert_accepted().await;
    let (status, error, challenge) = refusal(b.get("DPoP", &b.token, &[]).await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_dpop_proof"));
    assert!(challenge.starts_with("DPoP "), "{challenge}");
    let (a, c) = (b.proof(), b.proof());
    let (status, error, _) = refusal(b.get("DPoP", &b.token, &[&a, &c]).await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_dpop_proof"), "two proofs");
}

#[tokio::test]
async fn userinfo_refuses_an_unbound_token_under_the_dpop_scheme() {
    let b = bound("openid").await;
    b.assert_accepted().await;
    let proof = b.proof_with(&[("ath", json!(ath(&b.bearer)))]);
    let (status, error, challenge) = refusal(b.get("DPoP", &b.bearer, &[&proof]).await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_token"));
    assert!(
        challenge.starts_with("DPoP ") && challenge.contains("not bound"),
        "{challenge}"
    );
}

#[tokio::test]
async fn userinfo_keeps_insufficient_scope_under_the_dpop_scheme() {
    let b = bound("email").await;
    let res = b.get("DPoP", &b.token, &[&b.proof()]).await;
    let (status, error, challenge) = refusal(res).await;
    assert_eq!((status, error.as_str()), (403, "insufficient_scope"));
    assert_eq!(
        challenge,
        format!(
            r#"DPoP realm="lanyard", error="insufficient_scope", error_description="UserInfo needs the openid scope", {ALGS}"#
        )
    );
}

#[tokio::test]
async fn userinfo_challenges_are_exactly_these() {
    let b = bound("openid").await;
    // No credentials: both schemes (RFC 9449 §7.2), one field each.
    let res = b.app.get("/userinfo").await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        challenges(&res),
        [
            r#"Bearer realm="lanyard""#.to_owned(),
            format!(r#"DPoP realm="lanyard", {ALGS}"#)
        ]
    );
    // A bound token as a bearer: the Bearer challenge names the error.
    let res = b.get("Bearer", &b.token, &[]).await;
    assert_eq!(
        challenges(&res),
        [
            r#"Bearer realm="lanyard", error="invalid_token", error_description="the token is bound to a key: present it with the DPoP scheme and a proof""#
        ]
    );
    // No proof: the DPoP challenge names invalid_dpop_proof and the algorithms.
    let res = b.get("DPoP", &b.token, &[]).await;
    assert_eq!(
        challenges(&res),
        [format!(
            r#"DPoP realm="lanyard", error="invalid_dpop_proof", error_description="a DPoP-bound token needs a DPoP proof (the DPoP header)", {ALGS}"#
        )]
    );
    // A page on a registered origin may read the challenge (CORS).
    let res = b
        .app
        .client
        .get(b.app.url("/userinfo"))
        .header("Origin", "https://rp.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "https://rp.example");
    assert_eq!(
        res.headers()["access-control-expose-headers"],
        "WWW-Authenticate, DPoP-Nonce"
    );
}

#[tokio::test]
async fn a_revoked_bound_token_is_refused_at_userinfo_and_inactive_at_introspection() {
    let b = bound("openid").await;
    let introspect = || {
        b.app
            .client
            .post(b.app.url("/introspect"))
            .basic_auth(&b.client.id, b.client.secret.as_deref())
            .form(&[("token", b.token.as_str())])
            .send()
    };
    b.assert_accepted().await;
    let before: Value = introspect().await.unwrap().json().await.unwrap();
    assert_eq!(
        (before["active"].as_bool(), before["token_type"].as_str()),
        (Some(true), Some("DPoP"))
    );
    assert_eq!(before["cnf"]["jkt"], b.key.thumbprint(), "RFC 9449 §6.2");

    let res = b
        .app
        .client
        .post(b.app.url("/revoke"))
        .basic_auth(&b.client.id, b.client.secret.as_deref())
        .form(&[("token", b.token.as_str()), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let (status, error, challenge) = refusal(b.get("DPoP", &b.token, &[&b.proof()]).await).await;
    assert_eq!(
        (status, error.as_str()),
        (401, "invalid_token"),
        "a good proof, a revoked token"
    );
    assert!(
        challenge.starts_with("DPoP ") && challenge.contains("revoked"),
        "{challenge}"
    );
    let after: Value = introspect().await.unwrap().json().await.unwrap();
    assert_eq!(after, json!({"active": false}));
}

/// A service's DPoP-bound token for the admin API, and its key.
async fn bound_admin_token(app: &TestApp) -> (String, Key) {
    let admin = app.url("/admin");
    let svc = create_service(app, "ops").await;
    allow(app, "ops", &admin, &["admin"]).await;
    let key = Key::new();
    let res = app
        .client
        .post(app.url("/token"))
        .basic_auth(&svc.id, svc.secret.as_deref())
        .header("DPoP", key.proof_with(app, &[], &[]))
        .form(&[("grant_type", "client_credentials"), ("resource", admin.as_str())])
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP", "{body}");
    (body["access_token"].as_str().unwrap().to_owned(), key)
}

#[tokio::test]
async fn the_admin_api_takes_a_bound_token_with_a_proof_for_that_request() {
    let app = spawn_app().await;
    let (token, key) = bound_admin_token(&app).await;
    let url = app.url("/admin/api/v1/clients");
    let proof = |htm: &str, htu: &str, token: &str| {
        key.proof_with(
            &app,
            &[],
            &[("htm", json!(htm)), ("htu", json!(htu)), ("ath", json!(ath(token)))],
        )
    };
    let call = |scheme: &str, proof: Option<String>| {
        let mut req = app
            .client
            .get(&url)
            .header("Authorization", format!("{scheme} {token}"));
        if let Some(p) = proof {
            req = req.header("DPoP", p);
        }
        req.send()
    };
    let res = call("DPoP", Some(proof("GET", &url, &token))).await.unwrap();
    assert_eq!(res.status(), 200, "a proof for GET {url}");

    for (case, scheme, proof, code) in [
        ("as a bearer", "Bearer", None, "invalid_token"),
        ("without a proof", "DPoP", None, "invalid_dpop_proof"),
        (
            "a proof for another admin URL",
            "DPoP",
            Some(proof("GET", &app.url("/admin/api/v1/apis"), &token)),
            "invalid_dpop_proof",
        ),
        (
            "a proof for POST",
            "DPoP",
            Some(proof("POST", &url, &token)),
            "invalid_dpop_proof",
        ),
        (
            "a wrong ath",
            "DPoP",
            Some(proof("GET", &url, "another")),
            "invalid_dpop_proof",
        ),
    ] {
        let res = call(scheme, proof).await.unwrap();
        let challenges = challenges(&res);
        assert_eq!(res.status(), 401, "{case}");
        assert_eq!(challenges.len(), 1, "{case}: {challenges:?}");
        assert!(
            challenges[0].starts_with(&format!("{scheme} ")) && challenges[0].contains(&format!("error=\"{code}\"")),
            "{case}: {challenges:?}"
        );
    }
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(challenges(&res).len(), 2, "no token: both schemes");
}
