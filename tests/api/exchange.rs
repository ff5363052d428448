//! RFC 8693 token exchange: an id_token for an access token to one API.

use chrono::TimeDelta;
use serde_json::Value;

use crate::support::{
    ClientSpec, TestApp, TestClient, allow, create_api, create_client, create_user, error_of, jwt_claims, jwt_header,
};

const ORDERS: &str = "https://orders.example";

/// A first-party client allowed `read write` of the orders API, and ada's id_token for it.
async fn setup() -> (TestApp, TestClient, String) {
    setup_with(|_| {}).await
}

/// `setup` on an app with its configuration changed (lifetimes).
async fn setup_with(
    tweak: impl FnOnce(&mut lanyard::config::Config) + Send + 'static,
) -> (TestApp, TestClient, String) {
    let app = TestApp::builder().config(tweak).spawn().await;
    create_user(&app, "ada").await;
    let client = create_client(&app, ClientSpec::exchanging()).await;
    create_api(&app, ORDERS, &["read", "write", "admin"], None, &[]).await;
    allow(&app, &client.id, ORDERS, &["read", "write"]).await;
    let tokens = app.tokens(&client, "openid", "ada").await;
    (app, client, tokens["id_token"].as_str().unwrap().to_owned())
}

async fn audit_outcomes(app: &TestApp) -> Vec<(String, String)> {
    app.audit_written().await;
    sqlx::query_as(
        "SELECT outcome, coalesce(reason, '') FROM audit_events WHERE kind = 'token_exchange' ORDER BY occurred_at",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_id_token_is_exchanged_for_an_rfc_9068_access_token_for_one_api() {
    let (app, client, id_token) = setup().await;
    let res = app.exchange(&client, &id_token, &[("resource", ORDERS)]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "read write", "no scope asked: everything allowed");
    assert_eq!(body["expires_in"], 900);
    assert!(body["refresh_token"].is_null() && body["id_token"].is_null());
    let token = body["access_token"].as_str().unwrap();
    let header = jwt_header(token);
    assert_eq!(
        (header["typ"].as_str(), header["alg"].as_str()),
        (Some("at+jwt"), Some("ES256"))
    );
    assert!(header["kid"].is_string());
    let claims = jwt_claims(token);
    let subject = jwt_claims(&id_token);
    assert_eq!(claims["aud"], ORDERS, "exactly one audience");
    assert_eq!(claims["sub"], subject["sub"]);
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["iss"], app.address.as_str());
    for claim in ["exp", "iat", "jti", "auth_time", "grant_id"] {
        assert!(!claims[claim].is_null(), "{claim}");
    }
    assert_eq!(audit_outcomes(&app).await[0].0, "allowed");
}

#[tokio::test]
async fn audience_names_the_api_as_well_as_resource() {
    let (app, client, id_token) = setup().await;
    let res = app
        .exchange(&client, &id_token, &[("audience", ORDERS), ("resource", ORDERS)])
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn scopes_only_narrow() {
    let (app, client, id_token) = setup().await;
    let body: Value = app
        .exchange(&client, &id_token, &[("resource", ORDERS), ("scope", "read")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["scope"], "read");
    // `admin` exists on the API but is not allowed to this client.
    let res = app
        .exchange(&client, &id_token, &[("resource", ORDERS), ("scope", "read admin")])
        .await;
    assert_eq!(error_of(res).await, (400, "invalid_scope".into()));
}

#[tokio::test]
async fn client_authentication_is_checked_first() {
    let (app, client, _) = setup().await;
    let wrong = TestClient {
        secret: Some("wrong".into()),
        ..client
    };
    let res = app
        .exchange(&wrong, "not-a-token", &[("resource", "https://nowhere.example")])
        .await;
    assert_eq!(error_of(res).await, (401, "invalid_client".into()));
}

#[tokio::test]
async fn a_client_without_the_exchange_grant_is_unauthorized_client() {
    let (app, client, id_token) = setup().await;
    app.assert_exchanges(&client, &id_token, &[("resource", ORDERS)]).await;

    let plain = create_client(
        &app,
        ClientSpec {
            id: "plain",
            ..Default::default()
        },
    )
    .await;
    let res = app.exchange(&plain, &id_token, &[("resource", ORDERS)]).await;
    assert_eq!(error_of(res).await, (400, "unauthorized_client".into()));
}

#[tokio::test]
async fn a_public_client_cannot_exchange() {
    let (app, client, id_token) = setup().await;
    app.assert_exchanges(&client, &id_token, &[("resource", ORDERS)]).await;
    sqlx::query("UPDATE clients SET auth_method = 'none', secret_hash = NULL WHERE client_id = $1")
        .bind(&client.id)
        .execute(&app.pool)
        .await
        .unwrap();
    app.settle().await;
    let public = TestClient { secret: None, ..client };
    let res = app.exchange(&public, &id_token, &[("resource", ORDERS)]).await;
    assert_eq!(error_of(res).await, (400, "unauthorized_client".into()));
}

#[tokio::test]
async fn bad_parameters_are_invalid_request() {
    let (app, client, id_token) = setup().await;
    // Positive control: the whole request, each case below lacks or spoils one part.
    let whole = [
        ("grant_type", crate::support::EXCHANGE),
        ("subject_token", id_token.as_str()),
        ("subject_token_type", crate::support::ID_TOKEN_TYPE),
        ("resource", ORDERS),
    ];
    assert_eq!(app.token(&client, &whole).await.status(), 200, "positive control");
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("grant_type", crate::support::EXCHANGE),
            ("subject_token_type", crate::support::ID_TOKEN_TYPE),
            ("resource", ORDERS),
        ],
        vec![
            ("grant_type", crate::support::EXCHANGE),
            ("subject_token", &id_token),
            ("resource", ORDERS),
        ],
        vec![
            ("grant_type", crate::support::EXCHANGE),
            ("subject_token", &id_token),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
            ("resource", ORDERS),
        ],
    ];
    for form in cases {
        assert_eq!(
            error_of(app.token(&client, &form).await).await,
            (400, "invalid_request".into()),
            "{form:?}"
        );
    }
    for extra in [
        [
            ("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"),
            ("resource", ORDERS),
        ],
        [("actor_token", id_token.as_str()), ("resource", ORDERS)],
        [("scope", "read"), ("scope", "write")],
    ] {
        assert_eq!(
            error_of(app.exchange(&client, &id_token, &extra).await).await,
            (400, "invalid_request".into()),
            "{extra:?}"
        );
    }
    let res = app.exchange(&client, &id_token, &[]).await;
    assert_eq!(error_of(res).await, (400, "invalid_request".into()), "no API named");
}

#[tokio::test]
async fn unacceptable_subject_tokens_are_invalid_request() {
    let (app, client, id_token) = setup().await;
    app.assert_exchanges(&client, &id_token, &[("resource", ORDERS)]).await;
    let access = app.tokens(&client, "openid", "ada").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = format!("{}AAAA", &id_token[..id_token.len() - 4]);
    for (subject, why) in [
        (access.as_str(), "an access token"),
        (forged.as_str(), "a forged signature"),
        ("garbage", "not a JWT"),
    ] {
        let res = app.exchange(&client, subject, &[("resource", ORDERS)]).await;
        assert_eq!(error_of(res).await, (400, "invalid_request".into()), "{why}");
    }
    app.clock.advance(TimeDelta::seconds(901));
    let res = app.exchange(&client, &id_token, &[("resource", ORDERS)]).await;
    assert_eq!(error_of(res).await, (400, "invalid_request".into()), "expired");
}

#[tokio::test]
async fn an_id_token_of_another_client_needs_that_client_to_be_trusted() {
    let (app, client, id_token) = setup().await;
    let backend = create_client(
        &app,
        ClientSpec {
            id: "backend",
            grants: &["client_credentials", crate::support::EXCHANGE],
            ..Default::default()
        },
    )
    .await;
    allow(&app, &backend.id, ORDERS, &["read"]).await;
    let rp = TestClient {
        id: "rp".into(),
        ..client
    };
    app.assert_exchanges(&rp, &id_token, &[("resource", ORDERS)]).await;
    let res = app.exchange(&backend, &id_token, &[("resource", ORDERS)]).await;
    assert_eq!(
        error_of(res).await,
        (400, "invalid_request".into()),
        "issued to another client"
    );
    lanyard::admin::clients::trust(&app.pool, &lanyard::clock::SystemClock, "backend", "rp")
        .await
        .unwrap();
    app.settle().await;
    let body: Value = app
        .exchange(&backend, &id_token, &[("resource", ORDERS)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["scope"], "read");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["client_id"],
        "backend"
    );
}

#[tokio::test]
async fn a_signed_out_session_or_a_disabled_user_is_invalid_request() {
    let (app, client, id_token) = setup().await;
    let sub = uuid::Uuid::parse_str(jwt_claims(&id_token)["sub"].as_str().unwrap()).unwrap();
    app.assert_exchanges(&client, &id_token, &[("resource", ORDERS)]).await;
    let mut conn = app.pool.acquire().await.unwrap();
    lanyard::store::users::set_disabled(&mut conn, sub, Some(chrono::Utc::now()))
        .await
        .unwrap();
    assert_eq!(
        error_of(app.exchange(&client, &id_token, &[("resource", ORDERS)]).await).await,
        (400, "invalid_request".into())
    );
    lanyard::store::users::set_disabled(&mut conn, sub, None).await.unwrap();
    assert_eq!(
        app.exchange(&client, &id_token, &[("resource", ORDERS)]).await.status(),
        200
    );
    app.visit(&format!("/logout?id_token_hint={id_token}")).await;
    assert_eq!(
        error_of(app.exchange(&client, &id_token, &[("resource", ORDERS)]).await).await,
        (400, "invalid_request".into())
    );
}

#[tokio::test]
async fn a_signed_out_session_is_invalid_request_even_when_the_target_or_scope_is_wrong_too() {
    let (app, client, id_token) = setup().await;
    let cases: [(&[(&str, &str)], &str); 2] = [
        (&[("resource", "https://nowhere.example")], "invalid_target"),
        (&[("resource", ORDERS), ("scope", "admin")], "invalid_scope"),
    ];
    // Positive controls: while signed in, each case gets its own code.
    app.assert_exchanges(&client, &id_token, &[("resource", ORDERS)]).await;
    for (extra, own) in cases {
        let res = app.exchange(&client, &id_token, extra).await;
        assert_eq!(error_of(res).await, (400, own.into()), "signed in: {extra:?}");
    }
    app.visit(&format!("/logout?id_token_hint={id_token}")).await;
    for (extra, _) in cases {
        let res = app.exchange(&client, &id_token, extra).await;
        assert_eq!(
            error_of(res).await,
            (400, "invalid_request".into()),
            "the subject token's check comes first: {extra:?}"
        );
    }
}

#[tokio::test]
async fn an_api_the_client_may_not_target_is_invalid_target() {
    let (app, client, id_token) = setup().await;
    app.assert_exchanges(&client, &id_token, &[("resource", ORDERS)]).await;
    create_api(&app, "https://billing.example", &["pay"], None, &[]).await;
    for resource in [
        "https://billing.example",
        "https://nowhere.example",
        "https://orders.example/",
    ] {
        let res = app.exchange(&client, &id_token, &[("resource", resource)]).await;
        assert_eq!(error_of(res).await, (400, "invalid_target".into()), "{resource}");
    }
    let two = app
        .exchange(
            &client,
            &id_token,
            &[("resource", ORDERS), ("audience", "https://billing.example")],
        )
        .await;
    assert_eq!(error_of(two).await, (400, "invalid_target".into()), "one API per token");
}

#[tokio::test]
async fn checks_run_in_order_so_each_failure_gets_its_code() {
    let (app, client, id_token) = setup().await;
    app.assert_exchanges(&client, &id_token, &[("resource", ORDERS)]).await;
    // A bad subject token and an unknown API: the subject token answers first.
    let res = app
        .exchange(&client, "garbage", &[("resource", "https://nowhere.example")])
        .await;
    assert_eq!(error_of(res).await.1, "invalid_request");
    // An unknown API and a bad scope: the API answers first.
    let res = app
        .exchange(
            &client,
            &id_token,
            &[("resource", "https://nowhere.example"), ("scope", "admin")],
        )
        .await;
    assert_eq!(error_of(res).await.1, "invalid_target");
}

/// A third-party client allowed `read` of the orders API.
async fn third_party_allowed_read(app: &TestApp) -> TestClient {
    let third = create_client(
        app,
        ClientSpec {
            id: "third",
            first_party: false,
            grants: crate::support::EXCHANGE_GRANTS,
            ..Default::default()
        },
    )
    .await;
    allow(app, &third.id, ORDERS, &["read"]).await;
    third
}

#[tokio::test]
async fn a_third_party_sign_in_covers_only_what_the_user_consented_to() {
    let (app, _, _) = setup().await;
    let third = third_party_allowed_read(&app).await;
    // Positive control: grace consents to `read` of the API; her sign-in is exchanged.
    create_user(&app, "grace").await;
    let consented = app.with_browser(crate::support::new_browser());
    let auth = crate::support::auth_url(&app, &third, "openid read", &[("resource", ORDERS)]);
    let res = consented.authorize(&auth.url, "grace").await;
    let code = crate::support::query_param(&crate::support::location(&res), "code").unwrap();
    let tokens = consented.redeem(&third, &code, &auth.verifier).await;
    app.assert_exchanges(&third, tokens["id_token"].as_str().unwrap(), &[("resource", ORDERS)])
        .await;
    let id_token = app.tokens(&third, "openid", "ada").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app.exchange(&third, &id_token, &[("resource", ORDERS)]).await;
    assert_eq!(
        error_of(res).await,
        (400, "invalid_scope".into()),
        "no consent to the API's scopes"
    );
}

#[tokio::test]
async fn every_decision_allowed_or_denied_is_audited_with_its_reason() {
    let (app, client, id_token) = setup().await;
    app.exchange(&client, &id_token, &[("resource", ORDERS)]).await;
    app.exchange(&client, &id_token, &[("resource", "https://nowhere.example")])
        .await;
    let mut events = audit_outcomes(&app).await;
    events.sort();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].0, "allowed");
    assert_eq!(events[1].0, "denied");
    assert!(events[1].1.starts_with("invalid_target"), "{:?}", events[1]);
}

#[tokio::test]
async fn signing_out_makes_exchanged_tokens_inactive() {
    let (app, client, id_token) = setup().await;
    let body: Value = app
        .exchange(&client, &id_token, &[("resource", ORDERS)])
        .await
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().unwrap();
    let active = |answer: Value| answer["active"].as_bool();
    let answer: Value = app
        .post_as(&client, "/introspect", &[("token", token)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(active(answer), Some(true));
    app.visit(&format!("/logout?id_token_hint={id_token}")).await;
    let answer: Value = app
        .post_as(&client, "/introspect", &[("token", token)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer, serde_json::json!({"active": false}));
}

/// The exchanged access token of a successful exchange.
async fn exchanged(app: &TestApp, client: &TestClient, id_token: &str) -> Value {
    let res = app.exchange(client, id_token, &[("resource", ORDERS)]).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn is_active(app: &TestApp, client: &TestClient, token: &str) -> bool {
    let answer: Value = app
        .post_as(client, "/introspect", &[("token", token)])
        .await
        .json()
        .await
        .unwrap();
    answer["active"] == true
}

#[tokio::test]
async fn an_id_token_whose_session_idled_out_is_not_exchanged() {
    let (app, client, id_token) = setup_with(|c| c.lifetimes.session_idle = TimeDelta::seconds(300)).await;
    app.assert_exchanges(&client, &id_token, &[("resource", ORDERS)]).await;
    app.clock.advance(TimeDelta::seconds(301));
    let res = app.exchange(&client, &id_token, &[("resource", ORDERS)]).await;
    assert_eq!(error_of(res).await, (400, "invalid_request".into()));
}

#[tokio::test]
async fn an_id_token_whose_session_passed_its_absolute_lifetime_is_not_exchanged() {
    let (app, client, id_token) = setup_with(|c| {
        c.lifetimes.session_idle = TimeDelta::seconds(600);
        c.lifetimes.session = TimeDelta::seconds(700);
    })
    .await;
    app.clock.advance(TimeDelta::seconds(500));
    assert_eq!(
        app.visit("/signin").await.status(),
        200,
        "the session is used, so not idle"
    );
    app.assert_exchanges(&client, &id_token, &[("resource", ORDERS)]).await;
    app.clock.advance(TimeDelta::seconds(201));
    let res = app.exchange(&client, &id_token, &[("resource", ORDERS)]).await;
    assert_eq!(error_of(res).await, (400, "invalid_request".into()));
}

#[tokio::test]
async fn an_exchanged_token_never_outlives_its_session() {
    let (app, client, id_token) = setup_with(|c| {
        c.lifetimes.session_idle = TimeDelta::seconds(600);
        c.lifetimes.session = TimeDelta::seconds(600);
    })
    .await;
    app.clock.advance(TimeDelta::seconds(100));
    let body = exchanged(&app, &client, &id_token).await;
    assert!(body["expires_in"].as_i64().unwrap() <= 500, "{body}");
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    let signed_in_at = jwt_claims(&id_token)["auth_time"].as_i64().unwrap();
    assert!(claims["exp"].as_i64().unwrap() <= signed_in_at + 600, "{claims}");
}

/// OIDC Core §12.2: refreshing an offline grant gives a new id_token with the
/// sign-in's `sid` after the session is gone. It stands for that grant: it is
/// exchanged while the grant lives, its tokens end with it.
#[tokio::test]
async fn an_id_token_from_refreshing_an_offline_grant_is_exchanged_while_that_grant_lives() {
    let (app, client, _) = setup_with(|c| {
        c.lifetimes.session_idle = TimeDelta::seconds(600);
        c.lifetimes.session = TimeDelta::seconds(600);
    })
    .await;
    let tokens = app.tokens(&client, "openid offline_access", "ada").await;
    app.clock.advance(TimeDelta::seconds(700));
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
    ];
    let refreshed: Value = app.token(&client, &form).await.json().await.unwrap();
    let id_token = refreshed["id_token"].as_str().unwrap();
    let body = exchanged(&app, &client, id_token).await;
    let token = body["access_token"].as_str().unwrap();
    assert!(is_active(&app, &client, token).await);
    // The grant ends (its refresh token revoked): so do its exchanges.
    let refresh = refreshed["refresh_token"].as_str().unwrap();
    let res = app.post_as(&client, "/revoke", &[("token", refresh)]).await;
    assert_eq!(res.status(), 200);
    assert!(
        !is_active(&app, &client, token).await,
        "the exchanged token ended with its grant"
    );
    let res = app.exchange(&client, id_token, &[("resource", ORDERS)]).await;
    assert_eq!(error_of(res).await, (400, "invalid_request".into()));
}

#[tokio::test]
async fn withdrawing_an_allowance_ends_the_tokens_exchanged_under_it() {
    let (app, client, id_token) = setup().await;
    let body = exchanged(&app, &client, &id_token).await;
    let token = body["access_token"].as_str().unwrap();
    assert!(is_active(&app, &client, token).await);
    crate::support::set_access(&app, &client.id, ORDERS, &["read"]).await;
    assert!(!is_active(&app, &client, token).await, "`write` is no longer allowed");
    let narrower = exchanged(&app, &client, &id_token).await;
    assert_eq!(narrower["scope"], "read");
}

#[tokio::test]
async fn withdrawing_consent_ends_the_tokens_exchanged_under_it() {
    let (app, _, _) = setup().await;
    let third = third_party_allowed_read(&app).await;
    let auth = crate::support::auth_url(&app, &third, "openid read", &[("resource", ORDERS)]);
    let res = app.authorize(&auth.url, "ada").await;
    let code = crate::support::query_param(&crate::support::location(&res), "code").unwrap();
    let tokens = app.redeem(&third, &code, &auth.verifier).await;
    let body = exchanged(&app, &third, tokens["id_token"].as_str().unwrap()).await;
    let token = body["access_token"].as_str().unwrap();
    assert!(is_active(&app, &third, token).await);
    let consent: uuid::Uuid = sqlx::query_scalar("SELECT id FROM consents WHERE client_id = 'third'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    lanyard::admin::users::withdraw_consent(&app.pool, &lanyard::clock::SystemClock, consent)
        .await
        .unwrap();
    assert!(!is_active(&app, &third, token).await);
}
