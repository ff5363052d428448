//! `/healthz`, `/readyz` and unknown paths.

use std::time::Duration;

use crate::support::{TestApp, eventually, own_cluster, spawn_app};

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
    let app = TestApp::builder().on(db).spawn().await;
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
