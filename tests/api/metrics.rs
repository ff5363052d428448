//! `/metrics` in the Prometheus text format (0.0.4).

use crate::support::{
    ClientSpec, PASSWORD, TestApp, allow, auth_url, create_api, create_client, create_service, create_user, spawn_app,
};

const ORDERS: &str = "https://orders.example";

async fn metrics(app: &TestApp) -> String {
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    res.text().await.unwrap()
}

fn assert_line(text: &str, line: &str) {
    assert!(text.lines().any(|l| l == line), "no line `{line}` in:\n{text}");
}

#[tokio::test]
async fn metrics_count_issued_tokens_by_grant_type_and_algorithm() {
    let app = spawn_app().await;
    let svc = create_service(&app, "svc").await;
    create_api(&app, ORDERS, &["read"], None, &[]).await;
    create_api(&app, "https://ledger.example", &["read"], Some("EdDSA"), &[]).await;
    allow(&app, "svc", ORDERS, &["read"]).await;
    allow(&app, "svc", "https://ledger.example", &["read"]).await;
    for resource in [ORDERS, ORDERS, "https://ledger.example"] {
        let res = app
            .token(&svc, &[("grant_type", "client_credentials"), ("resource", resource)])
            .await;
        assert_eq!(res.status(), 200);
    }
    let text = metrics(&app).await;
    assert_line(
        &text,
        "lanyard_tokens_issued_total{grant_type=\"client_credentials\",alg=\"ES256\"} 2",
    );
    assert_line(
        &text,
        "lanyard_tokens_issued_total{grant_type=\"client_credentials\",alg=\"EdDSA\"} 1",
    );
    assert_line(
        &text,
        "lanyard_tokens_issued_total{grant_type=\"client_credentials\",alg=\"RS256\"} 0",
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_and_status_with_a_latency_histogram() {
    let app = spawn_app().await;
    app.get("/jwks").await;
    app.get("/jwks").await;
    app.get("/no/such/path").await;
    app.get("/admin/clients/some-client-id").await;
    let text = metrics(&app).await;
    let h = "lanyard_http_request_duration_seconds";
    assert_line(&text, &format!("# TYPE {h} histogram"));
    assert_line(&text, &format!("{h}_count{{route=\"/jwks\",status=\"200\"}} 2"));
    assert_line(
        &text,
        &format!("{h}_bucket{{route=\"/jwks\",status=\"200\",le=\"+Inf\"}} 2"),
    );
    assert_line(&text, &format!("{h}_count{{route=\"unmatched\",status=\"404\"}} 1"));
    assert!(
        text.contains("route=\"/admin/clients/{id}\"") && !text.contains("some-client-id"),
        "routes are patterns, never raw paths:\n{text}"
    );
}

#[tokio::test]
async fn metrics_count_exchange_decisions_by_outcome_and_reason() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let rp = create_client(
        &app,
        ClientSpec {
            grants: &["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"],
            ..Default::default()
        },
    )
    .await;
    create_api(&app, ORDERS, &["read", "write"], None, &[]).await;
    allow(&app, &rp.id, ORDERS, &["read"]).await;
    let id_token = app.tokens(&rp, "openid", "ada").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let ok = app
        .exchange(&rp, &id_token, &[("resource", ORDERS), ("scope", "read")])
        .await;
    assert_eq!(ok.status(), 200);
    let denied = app
        .exchange(&rp, &id_token, &[("resource", ORDERS), ("scope", "write")])
        .await;
    assert_eq!(denied.status(), 400);
    let text = metrics(&app).await;
    assert_line(
        &text,
        "lanyard_token_exchanges_total{outcome=\"allowed\",reason=\"\"} 1",
    );
    assert_line(
        &text,
        "lanyard_token_exchanges_total{outcome=\"denied\",reason=\"invalid_scope\"} 1",
    );
}

#[tokio::test]
async fn metrics_count_sign_ins_by_outcome() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let rp = create_client(&app, ClientSpec::default()).await;
    let auth = auth_url(&app, &rp, "openid", &[]);
    let page = app.visit(&auth.url).await.text().await.unwrap();
    let res = app.sign_in_on(&page, "ada", "wrong password").await;
    assert_eq!(res.status(), 401, "a wrong password is refused");
    let page = app.visit(&auth.url).await.text().await.unwrap();
    app.sign_in_on(&page, "ada", PASSWORD).await;
    let text = metrics(&app).await;
    assert_line(&text, "lanyard_sign_ins_total{outcome=\"failed\"} 1");
    assert_line(&text, "lanyard_sign_ins_total{outcome=\"ok\"} 1");
}

#[tokio::test]
async fn metrics_count_reuse_detection() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let rp = create_client(&app, ClientSpec::default()).await;
    let (code, auth) = app.code_for(&rp, "openid", "ada").await;
    assert_eq!(app.try_redeem(&rp, &code, &auth.verifier).await.status(), 200);
    assert_eq!(app.try_redeem(&rp, &code, &auth.verifier).await.status(), 400);
    let text = metrics(&app).await;
    assert_line(&text, "lanyard_reuse_detected_total{kind=\"code_reuse\"} 1");
}

#[tokio::test]
async fn metrics_report_the_audit_buffer_the_pool_and_active_key_ages() {
    let app = spawn_app().await;
    let text = metrics(&app).await;
    assert_line(&text, "lanyard_audit_buffer_depth 0");
    assert_line(&text, "lanyard_database_up 1");
    assert!(
        text.lines()
            .any(|l| l.starts_with("lanyard_database_connections_in_use ")),
        "{text}"
    );
    assert_line(&text, "lanyard_signing_keys_published 6");
    for alg in ["RS256", "ES256", "EdDSA"] {
        let age: i64 = text
            .lines()
            .find(|l| l.starts_with(&format!("lanyard_signing_key_age_seconds{{alg=\"{alg}\",kid=\"")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no age for the active {alg} key:\n{text}"));
        assert!(age >= 0, "{alg}: {age}");
    }
}

#[tokio::test]
async fn metrics_can_have_an_address_of_their_own() {
    let app = TestApp::builder()
        .config(|c| c.metrics_bind = Some("127.0.0.1:0".parse().unwrap()))
        .spawn()
        .await;
    assert_eq!(app.get("/metrics").await.status(), 404, "not on the main address");
    let address = app.metrics_address.expect("a metrics address");
    let res = reqwest::get(format!("http://{address}/metrics")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("lanyard_database_up 1"));
}

#[tokio::test]
async fn metrics_count_the_clients_in_this_nodes_catalog() {
    let app = spawn_app().await;
    for id in ["one", "two"] {
        let input = lanyard::admin::clients::NewClientInput {
            client_id: id.into(),
            grant_types: vec!["client_credentials".into()],
            ..Default::default()
        };
        lanyard::admin::clients::create(&app.pool, &lanyard::clock::SystemClock, &mut rand::rng(), input)
            .await
            .unwrap();
    }
    app.settle().await;
    let in_db: i64 = sqlx::query_scalar("SELECT count(*) FROM clients")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(in_db >= 2);
    let text = metrics(&app).await;
    assert_line(&text, &format!("lanyard_catalog_clients {in_db}"));
}
