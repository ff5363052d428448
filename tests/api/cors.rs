//! CORS: registered redirect origins may call /token and /userinfo.

use crate::support::{ClientSpec, create_client, spawn_app};

#[tokio::test]
async fn token_and_userinfo_answer_cors_only_for_registered_origins() {
    let app = spawn_app().await;
    create_client(&app, ClientSpec::default()).await;
    for path in ["/token", "/userinfo"] {
        let res = app
            .client
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("Origin", "https://rp.example")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204, "{path}");
        assert_eq!(res.headers()["access-control-allow-origin"], "https://rp.example");
        assert!(res.headers()["vary"].to_str().unwrap().contains("Origin"));
        let res = app
            .client
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("Origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert!(res.headers().get("access-control-allow-origin").is_none(), "{path}");
        let res = app
            .client
            .post(app.url(path))
            .header("Origin", "https://rp.example")
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["access-control-allow-origin"], "https://rp.example");
    }
}
