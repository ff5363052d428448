//! client_credentials, introspection (RFC 7662) and revocation (RFC 7009).

use serde_json::{Value, json};

use crate::support::{
    ClientSpec, TestApp, TestClient, allow, count_rows, create_api, create_client, create_service, create_user,
    error_of, jwt_claims, jwt_header, spawn_app,
};

const ORDERS: &str = "https://orders.example";
const BILLING: &str = "https://billing.example";

/// A service allowed `read write` of the orders API (ES256) and `pay` of billing (EdDSA),
/// and an introspector that is the orders API's resource server.
async fn setup() -> (TestApp, TestClient, TestClient) {
    let app = spawn_app().await;
    let service = create_service(&app, "svc").await;
    let introspector = create_service(&app, "orders-rs").await;
    create_api(&app, ORDERS, &["read", "write", "admin"], None, &["orders-rs"]).await;
    create_api(&app, BILLING, &["pay"], Some("EdDSA"), &[]).await;
    allow(&app, &service.id, ORDERS, &["read", "write"]).await;
    (app, service, introspector)
}

async fn service_token(app: &TestApp, client: &TestClient, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend_from_slice(extra);
    app.token(client, &form).await
}

async fn introspect(app: &TestApp, as_client: &TestClient, token: &str) -> Value {
    let res = app.post_as(as_client, "/introspect", &[("token", token)]).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_service_gets_a_token_for_its_only_api_with_itself_as_sub() {
    let (app, service, _) = setup().await;
    let res = service_token(&app, &service, &[]).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(body["refresh_token"].is_null() && body["id_token"].is_null());
    assert_eq!(body["scope"], "read write");
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "svc");
    assert_eq!(claims["client_id"], "svc");
    assert_eq!(claims["aud"], ORDERS);
    assert!(claims["grant_id"].is_null() && claims["auth_time"].is_null());
    assert_eq!(jwt_header(body["access_token"].as_str().unwrap())["typ"], "at+jwt");
}

#[tokio::test]
async fn several_apis_need_resource_and_each_token_uses_its_apis_algorithm() {
    let (app, service, _) = setup().await;
    allow(&app, &service.id, BILLING, &["pay"]).await;
    let res = service_token(&app, &service, &[]).await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("invalid_target")));
    assert!(body["error_description"].as_str().unwrap().contains("resource"));
    let body: Value = service_token(&app, &service, &[("resource", BILLING)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jwt_header(body["access_token"].as_str().unwrap())["alg"], "EdDSA");
    assert_eq!(body["scope"], "pay");
}

#[tokio::test]
async fn service_scopes_only_narrow_and_foreign_apis_are_invalid_target() {
    let (app, service, _) = setup().await;
    let body: Value = service_token(&app, &service, &[("scope", "read")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["scope"], "read");
    assert_eq!(
        error_of(service_token(&app, &service, &[("scope", "admin")]).await).await,
        (400, "invalid_scope".into())
    );
    assert_eq!(
        error_of(service_token(&app, &service, &[("resource", BILLING)]).await).await,
        (400, "invalid_target".into())
    );
    assert_eq!(
        error_of(service_token(&app, &service, &[("resource", "not a uri")]).await).await,
        (400, "invalid_target".into())
    );
}

#[tokio::test]
async fn client_credentials_writes_nothing_to_the_database() {
    let (app, service, _) = setup().await;
    let tables = [
        "grants",
        "refresh_tokens",
        "audit_events",
        "sessions",
        "token_counters",
        "revoked_access_tokens",
    ];
    let mut before = Vec::new();
    for t in tables {
        before.push(count_rows(&app.db, t).await);
    }
    for _ in 0..3 {
        assert_eq!(service_token(&app, &service, &[]).await.status(), 200);
    }
    for (t, n) in tables.iter().zip(before) {
        assert_eq!(count_rows(&app.db, t).await, n, "{t}");
    }
}

#[tokio::test]
async fn introspection_requires_client_authentication() {
    let (app, service, _) = setup().await;
    let token = service_token(&app, &service, &[]).await.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .client
        .post(app.url("/introspect"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await, (401, "invalid_client".into()));
    let res = app.post_as(&service, "/introspect", &[]).await;
    assert_eq!(error_of(res).await, (400, "invalid_request".into()), "no token");
}

#[tokio::test]
async fn the_issued_to_client_and_the_apis_resource_servers_see_an_active_token() {
    let (app, service, introspector) = setup().await;
    let other = create_service(&app, "other").await;
    let token = service_token(&app, &service, &[]).await.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for who in [&service, &introspector] {
        let answer = introspect(&app, who, &token).await;
        assert_eq!(answer["active"], true, "{}", who.id);
        for member in ["scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti"] {
            assert!(!answer[member].is_null(), "{member}");
        }
    }
    assert_eq!(
        introspect(&app, &other, &token).await,
        json!({"active": false}),
        "not yours, not your API"
    );
}

#[tokio::test]
async fn expired_malformed_and_id_tokens_are_inactive_and_nothing_else() {
    let (app, _, _) = setup().await;
    create_user(&app, "ada").await;
    let rp = create_client(&app, ClientSpec::default()).await;
    let tokens = app.tokens(&rp, "openid offline_access", "ada").await;
    let answer = introspect(&app, &rp, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["username"], "ada");
    let refresh = introspect(&app, &rp, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (refresh["active"].as_bool(), refresh["token_type"].as_str()),
        (Some(true), Some("refresh_token"))
    );
    for token in [tokens["id_token"].as_str().unwrap(), "garbage", "a.b.c"] {
        assert_eq!(introspect(&app, &rp, token).await, json!({"active": false}), "{token}");
    }
    app.clock.advance(chrono::TimeDelta::seconds(901));
    assert_eq!(
        introspect(&app, &rp, tokens["access_token"].as_str().unwrap()).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_grant_and_nothing_else() {
    let (app, _, _) = setup().await;
    create_user(&app, "ada").await;
    let rp = create_client(&app, ClientSpec::default()).await;
    let first = app.tokens(&rp, "openid offline_access", "ada").await;
    let second = app.tokens(&rp, "openid offline_access", "ada").await;
    let res = app
        .post_as(
            &rp,
            "/revoke",
            &[
                ("token", first["refresh_token"].as_str().unwrap()),
                ("token_type_hint", "refresh_token"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        introspect(&app, &rp, first["access_token"].as_str().unwrap()).await["active"],
        false
    );
    assert_eq!(
        introspect(&app, &rp, first["refresh_token"].as_str().unwrap()).await["active"],
        false
    );
    assert_eq!(
        app.userinfo(first["access_token"].as_str().unwrap()).await.status(),
        401
    );
    assert_eq!(
        introspect(&app, &rp, second["access_token"].as_str().unwrap()).await["active"],
        true,
        "another grant"
    );
}

#[tokio::test]
async fn revoking_an_access_token_revokes_its_grant() {
    let (app, _, _) = setup().await;
    create_user(&app, "ada").await;
    let rp = create_client(&app, ClientSpec::default()).await;
    let tokens = app.tokens(&rp, "openid offline_access", "ada").await;
    assert_eq!(
        app.post_as(&rp, "/revoke", &[("token", tokens["access_token"].as_str().unwrap())])
            .await
            .status(),
        200
    );
    assert_eq!(
        introspect(&app, &rp, tokens["refresh_token"].as_str().unwrap()).await["active"],
        false
    );
}

#[tokio::test]
async fn revoking_a_service_token_deny_lists_its_jti_only() {
    let (app, service, _) = setup().await;
    let a = service_token(&app, &service, &[]).await.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = service_token(&app, &service, &[]).await.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.post_as(&service, "/revoke", &[("token", &a)]).await.status(), 200);
    assert_eq!(introspect(&app, &service, &a).await, json!({"active": false}));
    assert_eq!(introspect(&app, &service, &b).await["active"], true);
    assert_eq!(count_rows(&app.db, "revoked_access_tokens").await, 1);
}

#[tokio::test]
async fn unknown_tokens_revoke_fine_and_another_clients_token_is_refused() {
    let (app, service, introspector) = setup().await;
    for token in ["garbage", "a.b.c"] {
        assert_eq!(
            app.post_as(&service, "/revoke", &[("token", token)]).await.status(),
            200
        );
    }
    let token = service_token(&app, &service, &[]).await.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app.post_as(&introspector, "/revoke", &[("token", &token)]).await;
    assert_eq!(error_of(res).await, (400, "unauthorized_client".into()));
    assert_eq!(introspect(&app, &service, &token).await["active"], true, "no effect");
    let res = app
        .client
        .post(app.url("/revoke"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await, (401, "invalid_client".into()));
}

#[tokio::test]
async fn token_type_hint_is_only_a_hint() {
    let (app, service, _) = setup().await;
    let token = service_token(&app, &service, &[]).await.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post_as(
            &service,
            "/introspect",
            &[("token", &token), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["active"],
        true,
        "a wrong hint does not matter"
    );
}

#[tokio::test]
async fn introspection_and_revocation_take_only_form_bodies() {
    let (app, service, _) = setup().await;
    for path in ["/introspect", "/revoke"] {
        let res = app
            .client
            .post(app.url(path))
            .basic_auth(&service.id, service.secret.as_deref())
            .json(&json!({"token": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(res).await, (400, "invalid_request".into()), "{path}");
    }
}

/// RFC 7662 §2.1: the caller of the introspection endpoint authenticates;
/// a public client cannot, so it is refused like a bad secret.
#[tokio::test]
async fn a_public_client_cannot_introspect() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let spa = crate::support::create_public_client(&app, "spa").await;
    let tokens = app.tokens(&spa, "openid", "ada").await;
    let access = tokens["access_token"].as_str().unwrap();
    let res = app
        .client
        .post(app.url("/introspect"))
        .form(&[("token", access), ("client_id", "spa")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await, (401, "invalid_client".into()));
}
