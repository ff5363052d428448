//! Rotating a client's secret with a grace period: one test per rule.

use chrono::{DateTime, TimeDelta, Utc};
use lanyard::clock::Clock;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{
    ClientSpec, TestApp, TestClient, create_client, create_service, hidden_field, lanyard, spawn_app,
};

/// Whether `secret` authenticates client `rp` now (at /introspect: 200 when
/// it does, 401 `invalid_client` when it does not).
async fn works(app: &TestApp, client: &TestClient, secret: &str) -> bool {
    let res = app
        .client
        .post(app.url("/introspect"))
        .basic_auth(&client.id, Some(secret))
        .form(&[("token", "not-a-token")])
        .send()
        .await
        .unwrap();
    match res.status().as_u16() {
        200 => true,
        401 => false,
        other => panic!("unexpected {other}"),
    }
}

async fn setup() -> (TestApp, TestClient, String) {
    let app = spawn_app().await;
    let client = create_client(&app, ClientSpec::default()).await;
    let old = client.secret.clone().unwrap();
    (app, client, old)
}

async fn rotate(app: &TestApp, grace: Option<TimeDelta>) -> lanyard::admin::clients::Rotated {
    let rotated =
        lanyard::admin::clients::rotate_secret_with_grace(&app.pool, &app.clock, &mut rand::rng(), "rp", grace)
            .await
            .unwrap();
    app.settle().await;
    rotated
}

#[tokio::test]
async fn both_secrets_work_during_the_grace_and_the_old_one_fails_after_it() {
    let (app, client, old) = setup().await;
    let rotated = rotate(&app, Some(TimeDelta::hours(1))).await;
    assert_eq!(
        rotated.previous_secret_valid_until,
        Some(app.clock.now() + TimeDelta::hours(1))
    );
    assert!(works(&app, &client, &rotated.client_secret).await, "the new secret");
    assert!(works(&app, &client, &old).await, "the old secret, during the grace");
    assert!(!works(&app, &client, "a-wrong-secret").await, "positive control");
    // No catalog reload: the clock alone ends the grace.
    app.clock.advance(TimeDelta::hours(1));
    assert!(
        !works(&app, &client, &old).await,
        "the old secret, once the grace is over"
    );
    assert!(works(&app, &client, &rotated.client_secret).await);
}

#[tokio::test]
async fn without_a_grace_the_old_secret_fails_at_once() {
    let (app, client, old) = setup().await;
    let rotated = rotate(&app, None).await;
    assert_eq!(rotated.previous_secret_valid_until, None);
    assert!(!works(&app, &client, &old).await);
    assert!(works(&app, &client, &rotated.client_secret).await);
}

#[tokio::test]
async fn a_second_rotation_ends_the_grace_of_the_first_secret() {
    let (app, client, first) = setup().await;
    let second = rotate(&app, Some(TimeDelta::hours(1))).await.client_secret;
    let third = rotate(&app, Some(TimeDelta::hours(1))).await.client_secret;
    assert!(!works(&app, &client, &first).await, "only one previous secret is kept");
    assert!(works(&app, &client, &second).await);
    assert!(works(&app, &client, &third).await);
}

#[tokio::test]
async fn ending_the_grace_early_stops_the_old_secret_at_once_and_is_audited() {
    let (app, client, old) = setup().await;
    rotate(&app, Some(TimeDelta::days(1))).await;
    let token = crate::admin_api::token_with(&app, "ops", &app.url("/admin"), &["admin"]).await;
    let (status, _) =
        crate::admin_api::call(&app, Method::DELETE, "/clients/rp/secret/grace", Some(&token), None).await;
    assert_eq!(status, 204);
    assert!(!works(&app, &client, &old).await);
    let (status, body) =
        crate::admin_api::call(&app, Method::DELETE, "/clients/rp/secret/grace", Some(&token), None).await;
    assert_eq!(status, 400, "no grace left to end: {body}");
    let (status, _) =
        crate::admin_api::call(&app, Method::DELETE, "/clients/nobody/secret/grace", Some(&token), None).await;
    assert_eq!(status, 404);
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE kind = 'admin' AND reason = 'ended a client secret''s grace'
         AND client_id = 'rp'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(ended, 1);
}

#[tokio::test]
async fn the_json_api_rotates_with_a_grace_and_bounds_it() {
    let (app, client, old) = setup().await;
    let token = crate::admin_api::token_with(&app, "ops", &app.url("/admin"), &["admin"]).await;
    let t = Some(token.as_str());
    let too_long = json!({ "grace_seconds": 30 * 86400 + 1 });
    let (status, _) = crate::admin_api::call(&app, Method::POST, "/clients/rp/secret", t, Some(too_long)).await;
    assert_eq!(status, 400, "more than 30 days");
    assert!(works(&app, &client, &old).await, "a refused rotation changes nothing");
    let body = json!({ "grace_seconds": 600 });
    let (status, answer) = crate::admin_api::call(&app, Method::POST, "/clients/rp/secret", t, Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    let until: DateTime<Utc> = answer["previous_secret_valid_until"].as_str().unwrap().parse().unwrap();
    assert_eq!(until, app.clock.now() + TimeDelta::seconds(600));
    assert!(works(&app, &client, answer["client_secret"].as_str().unwrap()).await);
    assert!(works(&app, &client, &old).await);
    let (_, view) = crate::admin_api::call(&app, Method::GET, "/clients/rp", t, None).await;
    let shown: DateTime<Utc> = view["previous_secret_valid_until"].as_str().unwrap().parse().unwrap();
    assert_eq!(shown.timestamp_millis(), until.timestamp_millis(), "the client's view");
    // Without a body: no grace, as before.
    let (status, answer) = crate::admin_api::call(&app, Method::POST, "/clients/rp/secret", t, None).await;
    assert_eq!(
        (status, answer["previous_secret_valid_until"].clone()),
        (200, Value::Null)
    );
}

#[tokio::test]
async fn the_cli_rotates_with_a_grace_and_prints_json() {
    let (app, client, old) = setup().await;
    let run = lanyard(&["client", "rotate-secret", "rp", "--grace", "3600", "--json"])
        .run_on(&app.db)
        .await;
    let out = run.assert_ok().json();
    assert_eq!(out["client_id"], "rp");
    let until: DateTime<Utc> = out["previous_secret_valid_until"].as_str().unwrap().parse().unwrap();
    let expected = Utc::now() + TimeDelta::hours(1);
    assert!((until - expected).num_seconds().abs() < 60, "{until}");
    app.settle().await;
    assert!(works(&app, &client, out["client_secret"].as_str().unwrap()).await);
    assert!(works(&app, &client, &old).await);
    let audited: Value = sqlx::query_scalar(
        "SELECT details FROM audit_events WHERE reason = 'rotated a client secret' AND actor = 'cli'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        audited["previous_secret_valid_until"],
        out["previous_secret_valid_until"]
    );
    assert!(
        !audited.to_string().contains(out["client_secret"].as_str().unwrap()),
        "never the secret"
    );
    lanyard(&["client", "rotate-secret", "rp", "--grace", "2592001"])
        .run_on(&app.db)
        .await
        .assert_refused("grace");
}

#[tokio::test]
async fn the_client_page_shows_when_the_grace_ends_and_ends_it_in_one_click() {
    let app = crate::admin::admin_app().await;
    let old = crate::admin::register_web(&app).await;
    let client = TestClient {
        id: "web".into(),
        secret: None,
        redirect_uri: String::new(),
    };
    let html = crate::admin::page(&app, "/admin/clients/web").await;
    assert!(!html.contains("End the grace now"), "no grace yet");
    let csrf = hidden_field(&html, "csrf").unwrap();
    let res = app
        .submit(
            "/admin/clients/web/secret",
            &[("csrf", &csrf), ("grace_seconds", "7200")],
        )
        .await;
    assert_eq!(res.status(), 200);
    app.settle().await;
    assert!(works(&app, &client, &old).await, "the old secret during the grace");
    let html = crate::admin::page(&app, "/admin/clients/web").await;
    let until = (app.clock.now() + TimeDelta::hours(2))
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string();
    assert!(
        html.contains(&format!("valid until <time>{until}</time>")),
        "the end time is shown"
    );
    let res = app
        .submit("/admin/clients/web/secret/end-grace", &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 303);
    assert!(!works(&app, &client, &old).await, "ended at once");
    let html = crate::admin::page(&app, "/admin/clients/web").await;
    assert!(!html.contains("End the grace now"));
    let res = app.submit("/admin/clients/web/secret/end-grace", &[]).await;
    assert_eq!(res.status(), 400, "no CSRF token: refused");
}

/// ops: a service allowed the admin API and `https://orders.example`,
/// its secret rotated with a day's grace; (app, ops with its old secret, the new secret).
async fn rotated_admin_service() -> (TestApp, TestClient, String) {
    let app = spawn_app().await;
    let admin = app.url("/admin");
    let ops = create_service(&app, "ops").await;
    crate::support::create_api(&app, "https://orders.example", &["read"], None, &[]).await;
    for (audience, scope) in [(admin.as_str(), "admin"), ("https://orders.example", "read")] {
        lanyard::admin::clients::allow(&app.pool, &app.clock, "ops", audience, &[scope.into()])
            .await
            .unwrap();
    }
    app.settle().await;
    let rotated = lanyard::admin::clients::rotate_secret_with_grace(
        &app.pool,
        &app.clock,
        &mut rand::rng(),
        "ops",
        Some(TimeDelta::days(1)),
    )
    .await
    .unwrap();
    app.settle().await;
    app.clock.advance(TimeDelta::seconds(1));
    (app, ops, rotated.client_secret)
}

async fn service_token(app: &TestApp, ops: &TestClient, secret: &str, resource: &str) -> reqwest::Response {
    let with = TestClient {
        secret: Some(secret.to_owned()),
        ..ops.clone()
    };
    app.token(&with, &[("grant_type", "client_credentials"), ("resource", resource)])
        .await
}

#[tokio::test]
async fn the_previous_secret_gets_no_admin_api_token_so_it_cannot_rotate_or_end_the_grace() {
    let (app, ops, new) = rotated_admin_service().await;
    let old = ops.secret.clone().unwrap();
    let admin = app.url("/admin");
    // The grace still serves the client's other APIs.
    let res = service_token(&app, &ops, &old, "https://orders.example").await;
    assert_eq!(res.status(), 200, "the old secret, for another API");
    // Not the admin API: with it, a stolen old secret could rotate the
    // secret again or end the grace and take the client over.
    let (status, error) = crate::support::error_of(service_token(&app, &ops, &old, &admin).await).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_target"),
        "the old secret, for the admin API"
    );
    // The current secret gets one, and rotates (positive control).
    let res = service_token(&app, &ops, &new, &admin).await;
    assert_eq!(res.status(), 200);
    let token = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) =
        crate::admin_api::call(&app, Method::DELETE, "/clients/ops/secret/grace", Some(&token), None).await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn each_use_of_a_previous_secret_is_audited_and_counted() {
    let (app, client, old) = setup().await;
    let rotated = rotate(&app, Some(TimeDelta::hours(1))).await;
    assert!(works(&app, &client, &rotated.client_secret).await);
    assert!(works(&app, &client, &old).await);
    assert!(works(&app, &client, &old).await);
    app.audit_written().await;
    let uses: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE kind = 'client_auth' AND reason = 'previous secret used'
         AND client_id = 'rp'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(uses, 2, "each use of the old secret, not the new one's");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("lanyard_previous_secret_uses_total{endpoint=\"/introspect\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_grace_that_has_passed_is_not_shown() {
    let (app, _client, _old) = setup().await;
    rotate(&app, Some(TimeDelta::hours(1))).await;
    let token = crate::admin_api::token_with(&app, "ops", &app.url("/admin"), &["admin"]).await;
    let (_, view) = crate::admin_api::call(&app, Method::GET, "/clients/rp", Some(&token), None).await;
    assert!(
        view["previous_secret_valid_until"].is_string(),
        "during the grace: {view}"
    );
    app.clock.advance(TimeDelta::hours(2));
    let token = crate::admin_api::token_with(&app, "ops2", &app.url("/admin"), &["admin"]).await;
    let (_, view) = crate::admin_api::call(&app, Method::GET, "/clients/rp", Some(&token), None).await;
    assert_eq!(view["previous_secret_valid_until"], Value::Null, "after it");
}
