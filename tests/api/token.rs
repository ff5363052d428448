//! The token endpoint: client authentication, the code grant, refresh.

use chrono::TimeDelta;
use serde_json::Value;

use crate::support::{ClientSpec, TestApp, TestClient, create_client, create_user, error_of, jwt_claims, spawn_app};

async fn app_with_client(spec: ClientSpec<'_>) -> (TestApp, TestClient) {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let client = create_client(&app, spec).await;
    (app, client)
}

#[tokio::test]
async fn token_responses_are_json_and_never_cached() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let (code, auth) = app.code_for(&client, "openid email offline_access", "ada").await;
    let res = app.try_redeem(&client, &code, &auth.verifier).await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["pragma"], "no-cache");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "openid email offline_access");
    assert!(body["refresh_token"].is_string() && body["id_token"].is_string());
    let error = app
        .token(&client, &[("grant_type", "authorization_code"), ("code", "nope")])
        .await;
    assert_eq!(error.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn the_access_token_is_an_rfc_9068_userinfo_token_and_the_id_token_carries_the_oidc_claims() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let (code, auth) = app.code_for(&client, "openid profile email", "ada").await;
    let tokens = app.redeem(&client, &code, &auth.verifier).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(crate::support::jwt_header(access)["typ"], "at+jwt");
    assert_eq!(crate::support::jwt_header(access)["alg"], "ES256");
    let at = jwt_claims(access);
    assert_eq!(at["aud"], app.url("/userinfo"));
    assert_eq!(at["client_id"], client.id.as_str());
    assert_eq!(at["scope"], "openid profile email");
    assert!(at["jti"].is_string() && at["grant_id"].is_string() && at["auth_time"].is_i64());
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    for claim in [
        "iss",
        "sub",
        "aud",
        "azp",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "at_hash",
        "sid",
        "amr",
    ] {
        assert!(!id[claim].is_null(), "id_token has {claim}: {id}");
    }
    assert_eq!(id["aud"], client.id.as_str());
    assert_eq!(id["nonce"], auth.nonce.as_str());
    assert_eq!(id["name"], "ada Example");
    assert_eq!(id["email"], "ada@example.com");
    assert!(id["phone_number"].is_null(), "phone was not granted");
    assert_ne!(id["sid"], Value::Null);
}

#[tokio::test]
async fn a_pure_oauth_request_gets_no_id_token() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let tokens = app.tokens(&client, "email", "ada").await;
    assert!(tokens["id_token"].is_null());
    assert!(tokens["access_token"].is_string());
}

#[tokio::test]
async fn bad_client_credentials_are_401_invalid_client_with_a_basic_challenge() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let res = app
        .client
        .post(app.url("/token"))
        .basic_auth(&client.id, Some("wrong"))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .unwrap();
    assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    assert_eq!(error_of(res).await, (401, "invalid_client".into()));
    // Without Basic, no Basic challenge.
    let res = app
        .client
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client.id.as_str()),
            ("client_secret", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("www-authenticate").is_none());
    assert_eq!(error_of(res).await, (401, "invalid_client".into()));
}

#[tokio::test]
async fn a_method_the_client_did_not_register_is_invalid_client() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    // Registered client_secret_basic; sends client_secret_post with the right secret.
    let secret = client.secret.clone().unwrap();
    let res = app
        .client
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", &client.id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await, (401, "invalid_client".into()));
    // A confidential client that sends no secret at all.
    let res = app
        .client
        .post(app.url("/token"))
        .form(&[("grant_type", "authorization_code"), ("client_id", &client.id)])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await, (401, "invalid_client".into()));
}

#[tokio::test]
async fn a_client_secret_in_the_body_beside_basic_is_invalid_request() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let secret = client.secret.clone().unwrap();
    let res = app
        .client
        .post(app.url("/token"))
        .basic_auth(&client.id, Some(&secret))
        .form(&[("grant_type", "authorization_code"), ("client_secret", &secret)])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await, (400, "invalid_request".into()));
    // A body client_id beside Basic is fine (it gets as far as the grant).
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &client.id),
                ("code", "x"),
                ("redirect_uri", "https://x"),
            ],
        )
        .await;
    assert_eq!(error_of(res).await, (400, "invalid_grant".into()));
}

#[tokio::test]
async fn unknown_and_unregistered_grant_types_are_refused() {
    let (app, client) = app_with_client(ClientSpec {
        grants: &["authorization_code"],
        ..Default::default()
    })
    .await;
    let res = app.token(&client, &[("grant_type", "password")]).await;
    assert_eq!(error_of(res).await, (400, "unsupported_grant_type".into()));
    let res = app
        .token(&client, &[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .await;
    assert_eq!(error_of(res).await, (400, "unauthorized_client".into()));
    let res = app.token(&client, &[]).await;
    assert_eq!(error_of(res).await, (400, "invalid_request".into()));
}

#[tokio::test]
async fn a_code_is_single_use_and_its_reuse_revokes_what_it_issued() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let (code, auth) = app.code_for(&client, "openid offline_access", "ada").await;
    let tokens = app.redeem(&client, &code, &auth.verifier).await;
    // Positive controls: what the reuse must revoke works until then.
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        app.userinfo(access).await.status(),
        200,
        "positive control: the access token works"
    );
    let rotated = app
        .assert_refreshes(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    let res = app.try_redeem(&client, &code, &auth.verifier).await;
    assert_eq!(error_of(res).await, (400, "invalid_grant".into()));
    let res = app
        .refresh(&client, rotated["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(
        error_of(res).await,
        (400, "invalid_grant".into()),
        "the refresh family is revoked"
    );
    let res = app.userinfo(access).await;
    assert_eq!(res.status(), 401, "the access token is revoked");
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE kind = 'code_reuse'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(events, 1, "reuse detection is an audit event");
}

#[tokio::test]
async fn a_code_is_bound_to_its_redirect_uri_verifier_and_client() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let other = create_client(
        &app,
        ClientSpec {
            id: "other",
            ..Default::default()
        },
    )
    .await;
    // Positive controls: both clients redeem codes of their own.
    app.assert_redeemable(&client, "openid", "ada").await;
    app.assert_redeemable(&other, "openid", "ada").await;
    let (code, auth) = app.code_for(&client, "openid", "ada").await;
    let wrong_redirect = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://127.0.0.1/cb"),
        ("code_verifier", auth.verifier.as_str()),
    ];
    assert_eq!(
        error_of(app.token(&client, &wrong_redirect).await).await,
        (400, "invalid_grant".into())
    );
    let (other_verifier, _) = crate::support::pkce_pair();
    assert_eq!(
        error_of(app.try_redeem(&client, &code, &other_verifier).await).await,
        (400, "invalid_grant".into())
    );
    let no_verifier = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
    ];
    assert_eq!(
        error_of(app.token(&client, &no_verifier).await).await,
        (400, "invalid_grant".into())
    );
    let for_other = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", other.redirect_uri.as_str()),
        ("code_verifier", auth.verifier.as_str()),
    ];
    assert_eq!(
        error_of(app.token(&other, &for_other).await).await,
        (400, "invalid_grant".into())
    );
    // None of those burned the code.
    app.redeem(&client, &code, &auth.verifier).await;
}

#[tokio::test]
async fn a_verifier_for_a_code_issued_without_a_challenge_is_invalid_grant() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid"),
    ]);
    let code_without_challenge = || async {
        let res = app.authorize(url.as_str(), "ada").await;
        crate::support::query_param(&crate::support::location(&res), "code").unwrap()
    };
    // Positive control: such a code redeems without a verifier.
    let code = code_without_challenge().await;
    let without_verifier = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
    ];
    assert_eq!(
        app.token(&client, &without_verifier).await.status(),
        200,
        "positive control: no challenge, no verifier"
    );
    let code = code_without_challenge().await;
    let (verifier, _) = crate::support::pkce_pair();
    assert_eq!(
        error_of(app.try_redeem(&client, &code, &verifier).await).await,
        (400, "invalid_grant".into())
    );
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let (young, young_auth) = app.code_for(&client, "openid", "ada").await;
    let (code, auth) = app.code_for(&client, "openid", "ada").await;
    // Positive control: a code of the same age still within its lifetime redeems.
    app.clock.advance(TimeDelta::seconds(59));
    app.redeem(&client, &young, &young_auth.verifier).await;
    app.clock.advance(TimeDelta::seconds(2));
    assert_eq!(
        error_of(app.try_redeem(&client, &code, &auth.verifier).await).await,
        (400, "invalid_grant".into())
    );
}

#[tokio::test]
async fn refresh_rotates_and_reusing_a_rotated_token_revokes_the_grant() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let tokens = app.tokens(&client, "openid offline_access", "ada").await;
    let first = tokens["refresh_token"].as_str().unwrap();
    let res = app.refresh(&client, first, None).await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    let second_token = second["refresh_token"].as_str().unwrap();
    assert_ne!(first, second_token);
    let id = jwt_claims(second["id_token"].as_str().unwrap());
    assert!(id["nonce"].is_null(), "no nonce on refresh (OIDC Core §12.2)");
    let reuse = app.refresh(&client, first, None).await;
    assert_eq!(error_of(reuse).await, (400, "invalid_grant".into()));
    let res = app.refresh(&client, second_token, None).await;
    assert_eq!(
        error_of(res).await,
        (400, "invalid_grant".into()),
        "the whole family is revoked"
    );
    assert_eq!(
        app.userinfo(second["access_token"].as_str().unwrap()).await.status(),
        401
    );
}

/// A rotated token replayed is reuse whatever else the request says: a
/// repeated `scope` (itself `invalid_request`) must not let the replay slip
/// past reuse detection.
#[tokio::test]
async fn a_replayed_refresh_token_revokes_its_grant_even_in_a_malformed_request() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let tokens = app.tokens(&client, "openid offline_access", "ada").await;
    let first = tokens["refresh_token"].as_str().unwrap();
    let rotated = app.assert_refreshes(&client, first).await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", first),
        ("scope", "openid"),
        ("scope", "openid"),
    ];
    let replay = app.token(&client, &form).await;
    assert_eq!(error_of(replay).await, (400, "invalid_grant".into()));
    let res = app
        .refresh(&client, rotated["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(
        error_of(res).await,
        (400, "invalid_grant".into()),
        "the family is revoked"
    );
}

#[tokio::test]
async fn a_narrower_refresh_scope_narrows_only_the_access_token_and_a_wider_one_is_invalid_scope() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let tokens = app.tokens(&client, "openid email offline_access", "ada").await;
    let res = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap(), Some("openid"))
        .await;
    let narrowed: Value = res.json().await.unwrap();
    assert_eq!(narrowed["scope"], "openid");
    assert_eq!(
        jwt_claims(narrowed["access_token"].as_str().unwrap())["scope"],
        "openid"
    );
    // The new refresh token keeps the grant's scope (RFC 6749 §6).
    let res = app
        .refresh(&client, narrowed["refresh_token"].as_str().unwrap(), None)
        .await;
    let full: Value = res.json().await.unwrap();
    assert_eq!(full["scope"], "openid email offline_access");
    let res = app
        .refresh(&client, full["refresh_token"].as_str().unwrap(), Some("openid phone"))
        .await;
    assert_eq!(error_of(res).await, (400, "invalid_scope".into()));
}

#[tokio::test]
async fn a_refresh_token_is_bound_to_its_client() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let other = create_client(
        &app,
        ClientSpec {
            id: "other",
            ..Default::default()
        },
    )
    .await;
    let tokens = app.tokens(&client, "openid offline_access", "ada").await;
    let rotated = app
        .assert_refreshes(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    app.assert_redeemable(&other, "openid offline_access", "ada").await;
    let res = app
        .refresh(&other, rotated["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(error_of(res).await, (400, "invalid_grant".into()));
}

#[tokio::test]
async fn a_disabled_user_cannot_refresh() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let tokens = app.tokens(&client, "openid offline_access", "ada").await;
    let sub = uuid::Uuid::parse_str(
        jwt_claims(tokens["id_token"].as_str().unwrap())["sub"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let rotated = app
        .assert_refreshes(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    let mut conn = app.pool.acquire().await.unwrap();
    lanyard::store::users::set_disabled(&mut conn, sub, Some(chrono::Utc::now()))
        .await
        .unwrap();
    let res = app
        .refresh(&client, rotated["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(error_of(res).await, (400, "invalid_grant".into()));
}

#[tokio::test]
async fn without_offline_access_refresh_ends_with_the_session_and_with_it_outlives_it() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let online = app.tokens(&client, "openid", "ada").await;
    let offline = app.tokens(&client, "openid offline_access", "ada").await;
    let online = app
        .assert_refreshes(&client, online["refresh_token"].as_str().unwrap())
        .await;
    let res = app
        .visit(&format!(
            "/logout?id_token_hint={}",
            offline["id_token"].as_str().unwrap()
        ))
        .await;
    assert_eq!(res.status(), 200, "signed out");
    let res = app
        .refresh(&client, online["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(error_of(res).await, (400, "invalid_grant".into()));
    let res = app
        .refresh(&client, offline["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(res.status(), 200, "offline_access outlives the session (OIDC Core §11)");
}

#[tokio::test]
async fn a_refresh_token_expires_after_its_idle_lifetime() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let tokens = app.tokens(&client, "openid offline_access", "ada").await;
    let rotated = app
        .assert_refreshes(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    app.clock.advance(TimeDelta::seconds(2_592_001));
    let res = app
        .refresh(&client, rotated["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(error_of(res).await, (400, "invalid_grant".into()));
}

#[tokio::test]
async fn a_public_client_redeems_its_code_with_pkce_and_no_secret() {
    let (app, client) = app_with_client(ClientSpec {
        public: true,
        ..Default::default()
    })
    .await;
    let tokens = app.tokens(&client, "openid", "ada").await;
    assert!(tokens["id_token"].is_string());
}

#[tokio::test]
async fn the_claims_parameter_brings_in_the_essential_claims_it_names() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let claims = r#"{"id_token":{"email":{"essential":true}},"userinfo":{"phone_number":{"essential":true}}}"#;
    let auth = crate::support::auth_url(&app, &client, "openid", &[("claims", claims)]);
    let res = app.authorize(&auth.url, "ada").await;
    let code = crate::support::query_param(&crate::support::location(&res), "code").unwrap();
    let tokens = app.redeem(&client, &code, &auth.verifier).await;
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["email"],
        "ada@example.com"
    );
    let info: Value = app
        .userinfo(tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["phone_number"], "+15551234567");
    let bad = crate::support::auth_url(&app, &client, "openid", &[("claims", "not json")]);
    let res = app.visit(&bad.url).await;
    assert_eq!(
        crate::support::query_param(&crate::support::location(&res), "error").as_deref(),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn an_oversized_or_non_form_token_request_is_a_4xx() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let huge = "x".repeat(100 * 1024);
    let res = app
        .token(&client, &[("grant_type", "authorization_code"), ("code", &huge)])
        .await;
    assert_eq!(res.status(), 413);
    let res = app
        .client
        .post(app.url("/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await, (400, "invalid_request".into()));
}

/// Every failed client authentication, whatever failed, answers the same:
/// nothing tells an attacker which client ids exist or how they authenticate.
#[tokio::test]
async fn every_failed_client_authentication_gets_one_answer() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    crate::support::create_public_client(&app, "spa").await;
    let secret = client.secret.clone().unwrap();
    let basic = |id: &str, secret: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    };
    let grant = ("grant_type", "client_credentials");
    // (what fails, the Authorization header, the form)
    type Attempt<'a> = (&'a str, Option<String>, Vec<(&'a str, &'a str)>);
    let attempts: Vec<Attempt> = vec![
        ("unknown client", Some(basic("nobody", "x")), vec![grant]),
        ("wrong secret", Some(basic(&client.id, "wrong")), vec![grant]),
        ("public client with a secret", Some(basic("spa", "x")), vec![grant]),
        ("malformed Basic", Some("Basic !!!".into()), vec![grant]),
        (
            "unregistered method",
            None,
            vec![grant, ("client_id", &client.id), ("client_secret", &secret)],
        ),
        ("no secret", None, vec![grant, ("client_id", &client.id)]),
        ("unknown id in the body", None, vec![grant, ("client_id", "nobody")]),
        ("no credentials at all", None, vec![grant]),
    ];
    let mut answers = Vec::new();
    for (what, authorization, form) in attempts {
        let mut req = app.client.post(app.url("/token")).form(&form);
        if let Some(a) = authorization {
            req = req.header("Authorization", a);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{what}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{what}");
        answers.push((what, body["error_description"].clone()));
    }
    let first = answers[0].1.clone();
    for (what, description) in &answers {
        assert_eq!(*description, first, "{what} answers like the others");
    }
}

/// Takes the RS256 keys away from the app (its id_tokens cannot be signed),
/// then gives new ones back.
async fn without_rs256_keys(app: &TestApp) {
    sqlx::query("DELETE FROM signing_keys WHERE alg = 'RS256'")
        .execute(&app.pool)
        .await
        .unwrap();
    app.provider.keys.reload(&app.pool).await.unwrap();
}

async fn rs256_keys_back(app: &TestApp) {
    lanyard::keys::ensure(&app.pool, &lanyard::clock::SystemClock, &crate::support::master_key())
        .await
        .unwrap();
    app.provider.keys.reload(&app.pool).await.unwrap();
}

/// Redeeming a code and answering with its tokens are one unit: when the
/// tokens cannot be signed the code stays unspent, so the retry gets them —
/// not a reuse verdict that revokes the grant.
#[tokio::test]
async fn a_code_whose_tokens_cannot_be_signed_is_not_spent() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let (code, auth) = app.code_for(&client, "openid offline_access", "ada").await;
    without_rs256_keys(&app).await;
    let res = app.try_redeem(&client, &code, &auth.verifier).await;
    assert_eq!(error_of(res).await, (500, "server_error".into()));
    rs256_keys_back(&app).await;
    let tokens = app.redeem(&client, &code, &auth.verifier).await;
    assert!(tokens["id_token"].is_string() && tokens["refresh_token"].is_string());
    let revoked: i64 = sqlx::query_scalar("SELECT count(*) FROM grants WHERE revoked_at IS NOT NULL")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(revoked, 0);
}

/// The same for a refresh token: it is rotated only when the new tokens go out.
#[tokio::test]
async fn a_refresh_token_whose_tokens_cannot_be_signed_is_not_rotated() {
    let (app, client) = app_with_client(ClientSpec::default()).await;
    let tokens = app.tokens(&client, "openid offline_access", "ada").await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    without_rs256_keys(&app).await;
    let res = app.token(&client, &form).await;
    assert_eq!(error_of(res).await, (500, "server_error".into()));
    rs256_keys_back(&app).await;
    let res = app.token(&client, &form).await;
    assert_eq!(res.status(), 200, "the same refresh token still works");
}
