//! The JSON admin API: admin-scoped tokens only; a client round-trips.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestApp, allow, create_api, create_service, spawn_app};

/// A service allowed `scopes` of the built-in admin API, and a token for it.
pub async fn token_with(app: &TestApp, id: &str, audience: &str, scopes: &[&str]) -> String {
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

pub async fn call(
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

#[tokio::test]
async fn apis_and_users_are_changed_disabled_and_deleted_through_the_api() {
    let app = spawn_app().await;
    let token = token_with(&app, "ops", &app.url("/admin"), &["admin"]).await;
    let t = Some(token.as_str());
    let api = json!({ "audience": "https://orders.example", "scopes": ["read=Read orders", "write"] });
    let (status, created) = call(&app, Method::POST, "/apis", t, Some(api)).await;
    assert_eq!(status, 201, "positive control: {created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let change = json!({ "scopes": ["read=Read orders"], "alg": "EdDSA" });
    let (status, changed) = call(&app, Method::PUT, &format!("/apis/{id}"), t, Some(change)).await;
    assert_eq!((status, changed["alg"].as_str()), (200, Some("EdDSA")), "{changed}");
    assert_eq!(
        changed["audience"], "https://orders.example",
        "the audience never changes"
    );
    assert_eq!(call(&app, Method::DELETE, &format!("/apis/{id}"), t, None).await.0, 204);
    assert_eq!(call(&app, Method::GET, &format!("/apis/{id}"), t, None).await.0, 404);
    let (_, apis) = call(&app, Method::GET, "/apis", t, None).await;
    let admin_api = apis["apis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["audience"] == app.url("/admin"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = call(&app, Method::DELETE, &format!("/apis/{admin_api}"), t, None).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_field")), "{body}");
    let without_admin = json!({ "scopes": ["read"] });
    let (status, body) = call(&app, Method::PUT, &format!("/apis/{admin_api}"), t, Some(without_admin)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_field")),
        "the admin API keeps `admin`: {body}"
    );

    // Another administrator, so grace may be promoted and then disabled.
    let root = json!({ "username": "root", "password": "x", "admin": true });
    assert_eq!(call(&app, Method::POST, "/users", t, Some(root)).await.0, 201);
    let user = json!({ "username": "grace", "password": "cobol" });
    let sub = call(&app, Method::POST, "/users", t, Some(user)).await.1["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    let change = json!({
        "claims": { "name": "Grace Hopper", "locale": "en-US", "address": { "locality": "Arlington" } },
        "admin": true
    });
    let (status, changed) = call(&app, Method::PUT, &format!("/users/{sub}"), t, Some(change)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (changed["claims"]["name"].as_str(), changed["admin"].as_bool()),
        (Some("Grace Hopper"), Some(true))
    );
    assert_eq!(changed["claims"]["address"]["locality"], "Arlington");
    let (_, disabled) = call(&app, Method::POST, &format!("/users/{sub}/disable"), t, None).await;
    assert_eq!(disabled["disabled"], true);
    let (_, enabled) = call(&app, Method::POST, &format!("/users/{sub}/enable"), t, None).await;
    assert_eq!(enabled["disabled"], false);
    assert_eq!(
        call(&app, Method::DELETE, &format!("/users/{sub}"), t, None).await.0,
        204
    );
    assert_eq!(call(&app, Method::GET, &format!("/users/{sub}"), t, None).await.0, 404);
    let (_, audit) = call(&app, Method::GET, "/audit?kind=admin", t, None).await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    for action in [
        "changed an API",
        "deleted an API",
        "user: claims",
        "user: admin",
        "user: disable",
        "user: enable",
        "deleted a user",
    ] {
        assert!(actions.contains(&action), "{action} is audited: {actions:?}");
    }
}

/// A first-party client that signs users in and (by mistake, say) holds the
/// `admin` scope of the admin API.
async fn sign_in_client_with_admin(app: &TestApp) -> crate::support::TestClient {
    let client = crate::support::create_client(app, crate::support::ClientSpec::exchanging()).await;
    allow(app, &client.id, &app.url("/admin"), &["admin"]).await;
    client
}

/// A code flow for `username` naming the admin API as its resource.
async fn code_flow_for_admin(app: &TestApp, client: &crate::support::TestClient, username: &str) -> reqwest::Response {
    let browser = app.with_browser(crate::support::new_browser());
    let admin_api = app.url("/admin");
    let auth = crate::support::auth_url(app, client, "openid admin", &[("resource", &admin_api)]);
    let res = browser.authorize(&auth.url, username).await;
    let to = crate::support::location(&res);
    match crate::support::query_param(&to, "code") {
        Some(code) => browser.try_redeem(client, &code, &auth.verifier).await,
        None => res,
    }
}

async fn create_admin(app: &TestApp, username: &str) -> uuid::Uuid {
    let sub = crate::support::create_user(app, username).await;
    lanyard::admin::users::set_admin(&app.pool, sub, true).await.unwrap();
    sub
}

#[tokio::test]
async fn a_code_flow_or_an_exchange_never_gives_a_user_who_is_not_an_administrator_the_admin_api() {
    let app = spawn_app().await;
    crate::support::create_user(&app, "ada").await;
    let client = sign_in_client_with_admin(&app).await;
    // Positive control: an administrator gets the admin API through this client.
    create_admin(&app, "root").await;
    let res = code_flow_for_admin(&app, &client, "root").await;
    assert_eq!(res.status(), 200, "positive control: root is an administrator");
    let res = code_flow_for_admin(&app, &client, "ada").await;
    let to = crate::support::location(&res);
    assert_eq!(
        crate::support::query_param(&to, "error").as_deref(),
        Some("invalid_target"),
        "ada is not an administrator: {to}"
    );
    let tokens = app.tokens(&client, "openid", "ada").await;
    let res = app
        .exchange(
            &client,
            tokens["id_token"].as_str().unwrap(),
            &[("resource", &app.url("/admin"))],
        )
        .await;
    assert_eq!(crate::support::error_of(res).await, (400, "invalid_target".into()));
}

#[tokio::test]
async fn a_users_admin_token_works_only_while_the_user_is_an_enabled_administrator() {
    let app = spawn_app().await;
    let root = create_admin(&app, "root").await;
    create_admin(&app, "other-admin").await;
    let client = sign_in_client_with_admin(&app).await;
    let res = code_flow_for_admin(&app, &client, "root").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(
        call(&app, reqwest::Method::GET, "/clients", Some(token), None).await.0,
        200
    );
    lanyard::admin::users::set_admin(&app.pool, root, false).await.unwrap();
    let (status, body) = call(&app, reqwest::Method::GET, "/clients", Some(token), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "no longer an administrator"
    );
}

#[tokio::test]
async fn a_services_admin_token_ends_when_its_allowance_is_withdrawn_its_secret_rotated_or_it_is_deleted() {
    let app = spawn_app().await;
    let admin_api = app.url("/admin");
    let svc = create_service(&app, "ops").await;
    allow(&app, "ops", &admin_api, &["admin"]).await;
    let fresh_token = |svc: crate::support::TestClient| {
        let app = &app;
        let admin_api = admin_api.clone();
        async move {
            let res = app
                .token(&svc, &[("grant_type", "client_credentials"), ("resource", &admin_api)])
                .await;
            let body = res.json::<Value>().await.unwrap();
            body["access_token"]
                .as_str()
                .unwrap_or_else(|| panic!("{body}"))
                .to_owned()
        }
    };
    let works = |token: String| {
        let app = &app;
        async move { call(app, reqwest::Method::GET, "/clients", Some(&token), None).await.0 == 200 }
    };
    // Withdrawn allowance.
    let token = fresh_token(svc.clone()).await;
    assert!(works(token.clone()).await);
    let clock = &app.clock;
    lanyard::admin::clients::set_access(&app.pool, clock, "ops", &admin_api, &[])
        .await
        .unwrap();
    assert!(!works(token).await, "the allowance was withdrawn");
    // Rotated secret: tokens issued before (even a millisecond) stop working.
    allow(&app, "ops", &admin_api, &["admin"]).await;
    let token = fresh_token(svc.clone()).await;
    assert!(works(token.clone()).await);
    clock.advance(chrono::TimeDelta::milliseconds(1));
    let secret = lanyard::admin::clients::rotate_secret(&app.pool, clock, &mut rand::rng(), "ops")
        .await
        .unwrap();
    assert!(!works(token).await, "the secret was rotated");
    app.settle().await;
    let svc = crate::support::TestClient {
        secret: Some(secret),
        ..svc
    };
    let token = fresh_token(svc).await;
    assert!(works(token.clone()).await, "a token from the new secret works");
    // Deleted.
    lanyard::admin::clients::delete(&app.pool, "ops").await.unwrap();
    assert!(!works(token).await, "the client is gone");
}

/// What schemathesis checks against the description, as single rules, and
/// what it found: an undocumented method is 405 with `Allow`, a malformed
/// parameter is 400, an id that cannot exist is 404 — each as the described
/// JSON error; a NUL character anywhere (PostgreSQL refuses it in text, which
/// was once a 500) is bad input, never a server error.
#[tokio::test]
async fn bad_input_is_the_described_json_error_never_a_server_error() {
    let app = spawn_app().await;
    let token = token_with(&app, "ops", &app.url("/admin"), &["admin"]).await;
    let t = Some(token.as_str());
    let doc: Value = app.get_json("/admin/api/v1/openapi.json").await;
    for path in [
        "/clients",
        "/clients/{id}",
        "/clients/{id}/secret",
        "/clients/{id}/apis",
        "/clients/{id}/registration-access-token",
        "/apis",
        "/apis/{id}",
        "/users",
        "/users/{sub}",
        "/users/{sub}/disable",
        "/users/{sub}/enable",
        "/keys",
        "/keys/rotate",
        "/upstreams",
        "/upstreams/{id}",
        "/audit",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is described");
    }
    // Positive control: the token is an admin's; good requests of each shape work.
    for path in ["/clients", "/users", "/audit?limit=1", "/audit?kind=admin"] {
        assert_eq!(
            call(&app, Method::GET, path, t, None).await.0,
            200,
            "positive control: {path}"
        );
    }
    let res = app
        .client
        .patch(app.url("/admin/api/v1/clients"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "GET, POST");
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "method_not_allowed");
    /// What a case must answer: this status and described `code`, or any 4xx.
    enum Answer {
        Error(u16, &'static str),
        Status(u16),
        ClientError,
    }
    use Answer::{ClientError, Error, Status};
    let cases: Vec<(&str, Method, &str, Option<Value>, Answer)> = vec![
        (
            "an id that cannot exist",
            Method::GET,
            "/users/not-a-uuid",
            None,
            Error(404, "not_found"),
        ),
        (
            "a zero limit",
            Method::GET,
            "/audit?limit=0",
            None,
            Error(400, "bad_request"),
        ),
        (
            "a limit that is not a number",
            Method::GET,
            "/audit?limit=lots",
            None,
            Error(400, "bad_request"),
        ),
        (
            "a user that is not a UUID",
            Method::GET,
            "/audit?user=nobody",
            None,
            Error(400, "bad_request"),
        ),
        (
            "a repeated kind",
            Method::GET,
            "/audit?kind=admin&kind=admin",
            None,
            Error(400, "bad_request"),
        ),
        (
            "a repeated q",
            Method::GET,
            "/users?q=a&q=b",
            None,
            Error(400, "bad_request"),
        ),
        (
            "force that is not a boolean",
            Method::POST,
            "/keys/rotate?force=yes",
            None,
            Error(400, "bad_request"),
        ),
        (
            "an unknown field",
            Method::POST,
            "/users",
            Some(json!({ "username": "x", "nope": 1 })),
            Status(400),
        ),
        (
            "a NUL in q",
            Method::GET,
            "/users?q=a%00b",
            None,
            Error(400, "bad_request"),
        ),
        (
            "a NUL in kind",
            Method::GET,
            "/audit?kind=%00",
            None,
            Error(400, "bad_request"),
        ),
        (
            "a NUL in client",
            Method::GET,
            "/audit?client=x%00",
            None,
            Error(400, "bad_request"),
        ),
        ("a NUL in a client id", Method::GET, "/clients/a%00b", None, ClientError),
        ("a NUL in a sub", Method::GET, "/users/a%00b", None, ClientError),
        (
            "a NUL in an allowance's audience",
            Method::PUT,
            "/clients/ops/apis",
            Some(json!({ "audience": "https://a.example/\u{0}", "scopes": [] })),
            ClientError,
        ),
        (
            "a NUL in a new API's audience",
            Method::POST,
            "/apis",
            Some(json!({ "audience": "https://a.example/x\u{0}y", "scopes": ["read"] })),
            ClientError,
        ),
    ];
    for (case, method, path, body, answer) in cases {
        let (status, got) = call(&app, method, path, t, body).await;
        match answer {
            Error(want, code) => assert_eq!((status, got["code"].as_str()), (want, Some(code)), "{case}: {path}"),
            Status(want) => assert_eq!(status, want, "{case}: {path}"),
            ClientError => assert!((400..500).contains(&status), "{case}: {path}: {status}"),
        }
    }
}

/// Found in review: a user's admin token must also end when the client it
/// came through loses the admin allowance (a compromised sign-in client).
#[tokio::test]
async fn a_users_admin_token_ends_when_its_client_loses_the_admin_allowance() {
    let app = spawn_app().await;
    create_admin(&app, "root").await;
    let client = sign_in_client_with_admin(&app).await;
    let res = code_flow_for_admin(&app, &client, "root").await;
    let body: Value = res.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(
        call(&app, reqwest::Method::GET, "/clients", Some(token), None).await.0,
        200
    );
    crate::support::set_access(&app, &client.id, &app.url("/admin"), &[]).await;
    let (status, body) = call(&app, reqwest::Method::GET, "/clients", Some(token), None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")), "revoked");
}

#[tokio::test]
async fn the_admin_api_sets_what_clients_and_apis_ask_of_dpop() {
    let app = spawn_app().await;
    let token = token_with(&app, "ops", &app.url("/admin"), &["admin"]).await;
    let t = Some(token.as_str());
    let client = json!({ "client_id": "svc", "grant_types": ["client_credentials"], "dpop_bound_access_tokens": true });
    assert_eq!(call(&app, Method::POST, "/clients", t, Some(client)).await.0, 201);
    let (_, shown) = call(&app, Method::GET, "/clients/svc", t, None).await;
    assert_eq!(
        (shown["dpop_bound_access_tokens"].clone(), shown["dpop_nonce"].clone()),
        (json!(true), json!(false)),
        "RFC 9449 §5.2 metadata: {shown}"
    );
    let api = json!({ "audience": "https://orders.example", "scopes": ["read"], "require_dpop": true, "dpop_nonce": true, "min_acr": "mfa" });
    let (status, created) = call(&app, Method::POST, "/apis", t, Some(api)).await;
    assert_eq!(
        (status, created["require_dpop"].clone(), created["dpop_nonce"].clone()),
        (201, json!(true), json!(true))
    );
    assert_eq!(created["min_acr"], "mfa", "RFC 9470 level");
}

#[tokio::test]
async fn a_clients_keys_and_auth_method_are_set_through_the_api() {
    let app = spawn_app().await;
    let token = token_with(&app, "ops", &app.url("/admin"), &["admin"]).await;
    let t = Some(token.as_str());
    let pair = josekit::jws::ES256.generate_key_pair().unwrap();
    let set = |jwk: josekit::jwk::Jwk| json!({ "keys": [Value::Object(jwk.as_ref().clone())] });
    let (public, private) = (set(pair.to_jwk_public_key()), set(pair.to_jwk_private_key()));

    let created = json!({ "client_id": "svc", "grant_types": ["client_credentials"], "auth_method": "private_key_jwt", "jwks": public });
    let (status, body) = call(&app, Method::POST, "/clients", t, Some(created)).await;
    assert_eq!((status, body.get("client_secret")), (201, None), "no secret: {body}");
    let (_, body) = call(&app, Method::GET, "/clients/svc", t, None).await;
    assert_eq!(
        (body["auth_method"].as_str(), &body["jwks"]),
        (Some("private_key_jwt"), &public)
    );
    let (status, body) = call(&app, Method::POST, "/clients/svc/secret", t, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_field")),
        "no secret to rotate"
    );

    let bad = json!({ "grant_types": ["client_credentials"], "auth_method": "private_key_jwt", "jwks": private });
    let (status, body) = call(&app, Method::PUT, "/clients/svc", t, Some(bad)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_field")),
        "a private key"
    );
    let to_uri = json!({ "grant_types": ["client_credentials"], "jwks_uri": "https://svc.example/jwks" });
    let (status, body) = call(&app, Method::PUT, "/clients/svc", t, Some(to_uri)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["jwks_uri"].as_str(), body.get("jwks"), body.get("client_secret")),
        (Some("https://svc.example/jwks"), None, None)
    );

    let to_secret = json!({ "grant_types": ["client_credentials"], "auth_method": "client_secret_basic" });
    let (status, body) = call(&app, Method::PUT, "/clients/svc", t, Some(to_secret)).await;
    assert_eq!(
        (status, body["auth_method"].as_str(), body.get("jwks_uri")),
        (200, Some("client_secret_basic"), None)
    );
    let secret = body["client_secret"]
        .as_str()
        .expect("a secret made, shown once")
        .to_owned();
    let svc = crate::support::TestClient {
        id: "svc".into(),
        secret: Some(secret),
        redirect_uri: String::new(),
    };
    create_api(&app, "https://orders.example", &["read"], None, &[]).await;
    allow(&app, "svc", "https://orders.example", &["read"]).await;
    let res = app.token(&svc, &[("grant_type", "client_credentials")]).await;
    assert_eq!(res.status(), 200, "the new secret works");
    let changes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE kind = 'admin' AND reason = 'changed a client' AND actor = 'api:ops'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(changes, 2, "each change audited");
}

#[tokio::test]
async fn invitations_are_made_through_the_api_and_their_link_is_answered_once() {
    // Positive control first: with LANYARD_SIGNUP off the API says why it refuses.
    let off = spawn_app().await;
    let token = token_with(&off, "ops", &off.url("/admin"), &["admin"]).await;
    let body = json!({ "email": "lin@example.com" });
    let (status, refused) = call(&off, Method::POST, "/invitations", Some(&token), Some(body.clone())).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("invalid_field")),
        "{refused}"
    );

    let app = TestApp::builder()
        .config(|c| c.signup = lanyard::config::SignupMode::Invite)
        .spawn()
        .await;
    let token = token_with(&app, "ops", &app.url("/admin"), &["admin"]).await;
    let (status, made) = call(&app, Method::POST, "/invitations", Some(&token), Some(body)).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["email"], "lin@example.com");
    assert_eq!(made["admin"], false);
    assert_eq!(made["mailed"], false, "mail is off");
    let link = made["invitation_url"].as_str().unwrap();
    assert!(link.starts_with(&app.url("/signin/register?invite=")), "{link}");
    let path = link.trim_start_matches(&app.address);
    assert_eq!(
        app.get(path).await.status(),
        200,
        "the link opens the registration page"
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM invitations WHERE created_by = 'api:ops'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 1, "made by the calling service");
    let bad = json!({ "email": "not an address" });
    assert_eq!(
        call(&app, Method::POST, "/invitations", Some(&token), Some(bad))
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn upstream_providers_are_managed_through_the_api_and_their_secret_is_never_shown() {
    let app = spawn_app().await;
    let token = token_with(&app, "ops", &app.url("/admin"), &["admin"]).await;
    let t = Some(token.as_str());
    let created = json!({
        "id": "corp", "name": "Corp SSO", "issuer": "https://login.corp.example",
        "client_id": "lanyard", "client_secret": "api-s3cret", "acr": ["urn:corp:mfa=mfa"],
    });

    let (status, body) = call(&app, Method::POST, "/upstreams", t, Some(created)).await;

    assert_eq!(status, 201, "{body}");
    assert_eq!(body["redirect_uri"], app.url("/signin/upstream/corp/callback"));
    assert_eq!(body["acr"], json!(["urn:corp:mfa=mfa"]));
    assert!(!body.to_string().contains("api-s3cret"), "the secret is never shown");
    let change = json!({ "enabled": false, "scopes": ["openid", "email"] });
    let (status, body) = call(&app, Method::PUT, "/upstreams/corp", t, Some(change)).await;
    assert_eq!(
        (status, body["enabled"].clone(), body["name"].clone()),
        (200, json!(false), json!("Corp SSO"))
    );
    let (status, body) = call(&app, Method::GET, "/upstreams", t, None).await;
    assert_eq!(
        (status, body["upstreams"][0]["scopes"].clone()),
        (200, json!(["openid", "email"]))
    );
    let bad = json!({ "id": "Bad Id", "issuer": "http://example.com", "client_id": "x", "client_secret": "y" });
    assert_eq!(call(&app, Method::POST, "/upstreams", t, Some(bad)).await.0, 400);
    assert_eq!(call(&app, Method::DELETE, "/upstreams/corp", t, None).await.0, 204);
    assert_eq!(call(&app, Method::GET, "/upstreams/corp", t, None).await.0, 404);
    app.audit_written().await;
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT reason FROM audit_events WHERE kind = 'admin' AND reason LIKE '%upstream%' ORDER BY reason",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "changed an upstream provider",
            "created an upstream provider",
            "deleted an upstream provider"
        ],
        "every change audited"
    );
}

/// An app with upstream `corp` (made through the API), and an admin token.
async fn with_upstream_corp() -> (TestApp, String) {
    let app = spawn_app().await;
    let token = token_with(&app, "ops", &app.url("/admin"), &["admin"]).await;
    let created = json!({
        "id": "corp", "issuer": "https://login.corp.example", "client_id": "lanyard", "client_secret": "s",
    });
    let (status, _) = call(&app, Method::POST, "/upstreams", Some(&token), Some(created)).await;
    assert_eq!(status, 201);
    (app, token)
}

#[tokio::test]
async fn an_upstream_that_is_the_only_way_in_is_deleted_or_disabled_only_with_force() {
    let (app, token) = with_upstream_corp().await;
    let t = Some(token.as_str());
    let user = crate::support::create_user(&app, "fed-only").await;
    sqlx::query("UPDATE users SET password_hash = NULL WHERE id = $1")
        .bind(user)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO upstream_links (upstream_id, issuer, subject, user_id, created_at) VALUES ('corp', 'https://login.corp.example', 's', $1, now())")
        .bind(user)
        .execute(&app.pool)
        .await
        .unwrap();

    let (deleted, body) = call(&app, Method::DELETE, "/upstreams/corp", t, None).await;
    let (disabled, _) = call(
        &app,
        Method::PUT,
        "/upstreams/corp",
        t,
        Some(json!({ "enabled": false })),
    )
    .await;

    assert_eq!((deleted, disabled), (409, 409));
    assert!(body.to_string().contains("only way in for 1 account"), "{body}");
    let (forced, _) = call(
        &app,
        Method::PUT,
        "/upstreams/corp?force=true",
        t,
        Some(json!({ "enabled": false })),
    )
    .await;
    assert_eq!(forced, 200);
    assert_eq!(
        call(&app, Method::DELETE, "/upstreams/corp?force=true", t, None)
            .await
            .0,
        204
    );
}

#[tokio::test]
async fn an_upstream_change_is_audited_before_and_after_and_its_id_never_changes() {
    let (app, token) = with_upstream_corp().await;
    let t = Some(token.as_str());

    let (renamed, _) = call(&app, Method::PUT, "/upstreams/corp", t, Some(json!({ "id": "other" }))).await;
    let (changed, _) = call(
        &app,
        Method::PUT,
        "/upstreams/corp",
        t,
        Some(json!({ "id": "corp", "name": "Corp" })),
    )
    .await;

    assert_eq!((renamed, changed), (400, 200), "another id in the body: 400");
    app.audit_written().await;
    let details: serde_json::Value =
        sqlx::query_scalar("SELECT details FROM audit_events WHERE reason = 'changed an upstream provider'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (details["before"]["name"].clone(), details["after"]["name"].clone()),
        (json!("corp"), json!("Corp"))
    );
    assert!(!details.to_string().contains("\"s\""), "never the secret");
}

#[tokio::test]
async fn the_admin_api_sets_a_clients_back_channel_logout_metadata() {
    let app = spawn_app().await;
    let token = token_with(&app, "ops", &app.url("/admin"), &["admin"]).await;
    let t = Some(token.as_str());
    let client = json!({
        "client_id": "rp1", "redirect_uris": ["https://rp1.example/cb"],
        "backchannel_logout_uri": "https://rp1.example/bcl", "backchannel_logout_session_required": true,
    });
    assert_eq!(call(&app, Method::POST, "/clients", t, Some(client)).await.0, 201);
    let (_, shown) = call(&app, Method::GET, "/clients/rp1", t, None).await;
    assert_eq!(
        (
            shown["backchannel_logout_uri"].clone(),
            shown["backchannel_logout_session_required"].clone()
        ),
        (json!("https://rp1.example/bcl"), json!(true)),
        "{shown}"
    );
    let plain_http = json!({
        "client_id": "rp2", "redirect_uris": ["https://rp2.example/cb"],
        "backchannel_logout_uri": "http://rp2.example/bcl",
    });
    let (status, body) = call(&app, Method::POST, "/clients", t, Some(plain_http)).await;
    assert_eq!(status, 400, "{body}");
    let cleared = json!({ "redirect_uris": ["https://rp1.example/cb"] });
    let (status, shown) = call(&app, Method::PUT, "/clients/rp1", t, Some(cleared)).await;
    assert_eq!(
        (status, shown["backchannel_logout_uri"].clone()),
        (200, Value::Null),
        "{shown}"
    );
}
