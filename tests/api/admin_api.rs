//! The JSON admin API: admin-scoped tokens only; a client round-trips.

use serde_json::{Value, json};

use crate::helpers::{TestApp, allow, create_api, create_service, spawn_app};

/// A service allowed `scopes` of the built-in admin API, and a token for it.
async fn token_with(app: &TestApp, id: &str, audience: &str, scopes: &[&str]) -> String {
    let svc = create_service(app, id).await;
    allow(app, id, audience, scopes).await;
    let res = app
        .token(&svc, &[("grant_type", "client_credentials"), ("resource", audience)])
        .await;
    res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(&format!("/admin/api/v1{path}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_admin_api_refuses_no_token_another_apis_token_and_a_token_without_admin() {
    let app = spawn_app().await;
    let admin_api = app.url("/admin");
    let (status, body) = call(&app, reqwest::Method::GET, "/clients", None, None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    create_api(&app, "https://orders.example", &["read"], None, &[]).await;
    let other = token_with(&app, "orders-svc", "https://orders.example", &["read"]).await;
    assert_eq!(
        call(&app, reqwest::Method::GET, "/clients", Some(&other), None).await.0,
        401
    );
    sqlx::query("INSERT INTO api_scopes (api_id, name) SELECT id, 'read' FROM apis WHERE audience = $1")
        .bind(&admin_api)
        .execute(&app.pool)
        .await
        .unwrap();
    app.settle().await;
    let reader = token_with(&app, "reader", &admin_api, &["read"]).await;
    let (status, body) = call(&app, reqwest::Method::GET, "/clients", Some(&reader), None).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
}

#[tokio::test]
async fn a_client_round_trips_create_get_update_rotate_delete() {
    let app = spawn_app().await;
    let token = token_with(&app, "ops", &app.url("/admin"), &["admin"]).await;
    let t = Some(token.as_str());
    let created = json!({ "client_id": "shop", "redirect_uris": ["https://shop.example/cb"], "grant_types": ["authorization_code"], "scopes": ["openid"] });
    let (status, body) = call(&app, reqwest::Method::POST, "/clients", t, Some(created.clone())).await;
    assert_eq!(status, 201);
    let first_secret = body["client_secret"].as_str().unwrap().to_owned();
    let (status, body) = call(&app, reqwest::Method::POST, "/clients", t, Some(created)).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("conflict")));
    let (status, body) = call(&app, reqwest::Method::GET, "/clients/shop", t, None).await;
    assert_eq!(
        (status, body["redirect_uris"].clone()),
        (200, json!(["https://shop.example/cb"]))
    );
    assert!(body.get("client_secret").is_none(), "never the secret again");
    let bad = json!({ "redirect_uris": ["http://shop.example/cb"], "grant_types": ["authorization_code"] });
    let (status, body) = call(&app, reqwest::Method::PUT, "/clients/shop", t, Some(bad)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_field")),
        "the same validation as the CLI"
    );
    let change = json!({ "name": "Shop", "redirect_uris": ["https://shop.example/new"], "grant_types": ["authorization_code"], "scopes": ["openid", "email"] });
    let (status, body) = call(&app, reqwest::Method::PUT, "/clients/shop", t, Some(change)).await;
    assert_eq!(
        (status, body["name"].as_str(), body["scopes"].clone()),
        (200, Some("Shop"), json!(["openid", "email"]))
    );
    let (status, body) = call(&app, reqwest::Method::POST, "/clients/shop/secret", t, None).await;
    assert_eq!(status, 200);
    assert_ne!(body["client_secret"].as_str().unwrap(), first_secret);
    assert_eq!(
        call(&app, reqwest::Method::DELETE, "/clients/shop", t, None).await.0,
        204
    );
    let (status, body) = call(&app, reqwest::Method::GET, "/clients/shop", t, None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let actors: Vec<String> = sqlx::query_scalar("SELECT DISTINCT actor FROM audit_events WHERE kind = 'admin'")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(actors, ["api:ops"], "changes are audited with the calling service");
}

#[tokio::test]
async fn the_admin_api_is_described_by_openapi() {
    let app = spawn_app().await;
    let doc: Value = app.get_json("/admin/api/v1/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/clients/{id}/secret"]["post"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["lanyard"]["flows"]["clientCredentials"]["tokenUrl"],
        app.url("/token")
    );
}

#[tokio::test]
async fn users_and_keys_are_managed_through_the_api() {
    let app = spawn_app().await;
    let token = token_with(&app, "ops", &app.url("/admin"), &["admin"]).await;
    let t = Some(token.as_str());
    let (status, body) = call(
        &app,
        reqwest::Method::POST,
        "/users",
        t,
        Some(json!({ "username": "grace", "password": "cobol" })),
    )
    .await;
    assert_eq!(status, 201);
    let sub = body["sub"].as_str().unwrap().to_owned();
    let (status, body) = call(
        &app,
        reqwest::Method::POST,
        "/users",
        t,
        Some(json!({ "username": "GRACE", "password": "x" })),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("conflict")));
    let (_, body) = call(&app, reqwest::Method::GET, "/users", t, None).await;
    assert_eq!(body["users"][0]["username"], "grace");
    assert_eq!(
        call(&app, reqwest::Method::GET, &format!("/users/{sub}"), t, None)
            .await
            .0,
        200
    );
    sqlx::query("UPDATE signing_keys SET created_at = now() WHERE state = 'next'")
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, body) = call(&app, reqwest::Method::POST, "/keys/rotate", t, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("conflict")),
        "too soon: {body}"
    );
    let (_, body) = call(&app, reqwest::Method::POST, "/keys/rotate?force=true", t, None).await;
    assert_eq!(body["changes"].as_array().unwrap().len(), 9);
    let (_, body) = call(&app, reqwest::Method::GET, "/audit?kind=admin", t, None).await;
    assert!(body["events"].as_array().unwrap().len() >= 2);
}
