//! `/healthz`, `/readyz` and unknown paths.

use std::time::Duration;

use lanyard::pg_cluster::Cluster;

use crate::helpers::{TestDb, eventually, master_key, spawn_app, spawn_app_on, url_for};

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
    let dir = std::env::temp_dir().join(format!("lanyard-own-{}", uuid::Uuid::new_v4().simple()));
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(&dir, false))
        .await
        .unwrap()
        .unwrap();
    let admin = cluster.url("postgres");
    let pool = lanyard::store::connect(&admin, 1).await.unwrap();
    sqlx::query("CREATE DATABASE lanyard").execute(&pool).await.unwrap();
    pool.close().await;
    let db = TestDb {
        url: url_for(&admin, "lanyard"),
    };
    let pool = lanyard::store::connect(&db.url, 1).await.unwrap();
    lanyard::store::migrate(&pool).await.unwrap();
    lanyard::keys::ensure(&pool, &lanyard::clock::SystemClock, &master_key())
        .await
        .unwrap();
    pool.close().await;
    let app = spawn_app_on(db).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    let cluster = std::sync::Arc::new(cluster);
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.stop()).await.unwrap().unwrap();
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    // Discovery and the JWKS answer from memory meanwhile.
    assert_eq!(app.get("/.well-known/openid-configuration").await.status(), 200);
    assert_eq!(app.get("/jwks").await.status(), 200);
    assert_eq!(app.get("/healthz").await.status(), 200);

    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.start_server())
        .await
        .unwrap()
        .unwrap();
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
