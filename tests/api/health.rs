//! `/healthz`, `/readyz` and unknown paths.

use std::time::Duration;

use crate::helpers::{eventually, own_cluster, spawn_app, spawn_app_on};

#[tokio::test]
async fn healthz_answers_while_the_process_is_up() {
    let app = spawn_app().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let app = spawn_app().await;
    assert_eq!(app.get("/nope").await.status(), 404);
}

#[tokio::test]
async fn readyz_is_503_while_the_database_is_stopped_and_200_once_it_is_back() {
    // This test stops its database, so it gets a cluster of its own.
    let (cluster, db) = own_cluster().await;
    let app = spawn_app_on(db).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    cluster.stop().await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    // Discovery and the JWKS answer from memory meanwhile.
    assert_eq!(app.get("/.well-known/openid-configuration").await.status(), 200);
    assert_eq!(app.get("/jwks").await.status(), 200);
    assert_eq!(app.get("/healthz").await.status(), 200);

    cluster.start().await;
    let back = eventually(Duration::from_secs(20), || async {
        app.get("/readyz").await.status() == 200
    })
    .await;
    assert!(back, "ready again once the database is back");
}

#[tokio::test]
async fn metrics_count_issued_tokens_in_prometheus_text() {
    let app = spawn_app().await;
    let svc = crate::helpers::create_client(
        &app,
        crate::helpers::ClientSpec {
            id: "svc",
            grants: &["client_credentials"],
            ..Default::default()
        },
    )
    .await;
    crate::helpers::create_api(&app, "https://orders.example", &["read"], None, &[]).await;
    crate::helpers::allow(&app, "svc", "https://orders.example", &["read"]).await;
    for _ in 0..2 {
        app.token(&svc, &[("grant_type", "client_credentials")]).await;
    }
    let res = app.get("/metrics").await;
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = res.text().await.unwrap();
    assert!(
        text.contains("lanyard_tokens_issued_total{grant_type=\"client_credentials\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("lanyard_database_up 1") && text.contains("lanyard_signing_keys_published 6"),
        "{text}"
    );
}
