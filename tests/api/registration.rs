//! Dynamic client registration (RFC 7591) and its management (RFC 7592).

use lanyard::config::ClientRegistration;
use serde_json::{Value, json};

use crate::support::*;

async fn app_with(mode: ClientRegistration) -> TestApp {
    TestApp::builder()
        .config(move |c| {
            c.client_registration = mode;
            c.trusted_proxies = vec![lanyard::config::Cidr::parse("127.0.0.1").unwrap()];
        })
        .spawn()
        .await
}

fn code_client() -> Value {
    json!({ "redirect_uris": ["https://rp.example.test/cb"], "client_name": "A tool" })
}

async fn register(app: &TestApp, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = app.client.post(app.url("/register")).json(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

async fn initial_token(app: &TestApp, args: &[&str]) -> Value {
    let mut all = vec!["client", "registration-token", "create", "--json"];
    all.extend_from_slice(args);
    lanyard(&all).run_on(&app.db).await.assert_ok().json()
}

#[tokio::test]
async fn registration_off_is_a_404_and_absent_from_discovery() {
    let app = app_with(ClientRegistration::Off).await;
    let res = register(&app, None, &code_client()).await;
    assert_eq!(res.status(), 404);
    let doc = app.get_json("/.well-known/openid-configuration").await;
    assert!(doc.get("registration_endpoint").is_none());
}

#[tokio::test]
async fn registration_endpoint_is_in_discovery_when_on() {
    let app = app_with(ClientRegistration::Open).await;
    let doc = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(doc["registration_endpoint"], json!(app.url("/register")));
}

#[tokio::test]
async fn token_mode_refuses_a_missing_or_unknown_initial_access_token() {
    let app = app_with(ClientRegistration::Token).await;
    for token in [None, Some("not-a-token")] {
        let res = register(&app, token, &code_client()).await;
        assert!(
            res.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
        assert_eq!(error_of(res).await, (401, "invalid_token".into()));
    }
}

#[tokio::test]
async fn an_initial_access_token_registers_as_many_clients_as_its_uses() {
    let app = app_with(ClientRegistration::Token).await;
    let made = initial_token(&app, &["--uses", "2"]).await;
    let token = made["initial_access_token"].as_str().unwrap();
    assert_eq!(register(&app, Some(token), &code_client()).await.status(), 201);
    assert_eq!(register(&app, Some(token), &code_client()).await.status(), 201);
    let used_up = register(&app, Some(token), &code_client()).await;
    assert_eq!(error_of(used_up).await, (401, "invalid_token".into()));
}

#[tokio::test]
async fn the_last_use_of_an_initial_access_token_registers_one_client_under_concurrency() {
    let app = app_with(ClientRegistration::Token).await;
    let made = initial_token(&app, &["--uses", "1"]).await;
    let token = made["initial_access_token"].as_str().unwrap();
    let body = code_client();
    let (a, b) = tokio::join!(register(&app, Some(token), &body), register(&app, Some(token), &body));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 401]);
}

#[tokio::test]
async fn an_expired_initial_access_token_is_refused() {
    let app = app_with(ClientRegistration::Token).await;
    let lifetime = Some(chrono::TimeDelta::seconds(60));
    let made = lanyard::admin::registration::create_token(&app.pool, &app.clock, &mut rand::rng(), lifetime, 5)
        .await
        .unwrap();
    app.clock.advance(chrono::TimeDelta::seconds(61));
    let res = register(&app, Some(&made.initial_access_token), &code_client()).await;
    assert_eq!(error_of(res).await, (401, "invalid_token".into()));
}

#[tokio::test]
async fn registration_token_create_prints_the_token_and_its_end() {
    let app = app_with(ClientRegistration::Token).await;
    let made = initial_token(&app, &["--uses", "3", "--expires-in", "600"]).await;
    assert_eq!(made["initial_access_token"].as_str().unwrap().len(), 43);
    assert!(made["expires_at"].as_str().is_some());
    assert_eq!(made["uses"], 3);
    let stored: (Vec<u8>,) = sqlx::query_as("SELECT token_hash FROM registration_tokens")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let token = made["initial_access_token"].as_str().unwrap();
    assert_eq!(stored.0, lanyard::crypto::secret::sha256(token).to_vec());
}

#[tokio::test]
async fn open_registration_is_throttled_per_address() {
    let app = app_with(ClientRegistration::Open).await;
    let from = |ip: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/register"))
                .header("x-forwarded-for", ip)
                .json(&code_client())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..10 {
        assert_eq!(from("2001:db8::1").await, 201);
    }
    assert_eq!(from("2001:db8::2").await, 429, "the same /64");
    assert_eq!(from("192.0.2.9").await, 201, "another address");
}

#[tokio::test]
async fn the_registration_response_holds_the_client_information() {
    let app = app_with(ClientRegistration::Open).await;
    let res = register(&app, None, &code_client()).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    let id = body["client_id"].as_str().unwrap();
    assert!(uuid::Uuid::try_parse(id).is_err());
    assert_eq!(body["client_secret"].as_str().unwrap().len(), 43);
    assert_eq!(body["client_secret_expires_at"], 0);
    assert!(body["client_id_issued_at"].as_i64().unwrap() > 0);
    assert_eq!(body["registration_access_token"].as_str().unwrap().len(), 43);
    assert_eq!(
        body["registration_client_uri"],
        json!(app.url(&format!("/register/{id}")))
    );
    assert_eq!(body["redirect_uris"], json!(["https://rp.example.test/cb"]));
    assert_eq!(body["client_name"], "A tool");
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(body["grant_types"], json!(["authorization_code"]));
    assert_eq!(body["response_types"], json!(["code"]));
}

#[tokio::test]
async fn a_public_client_registers_without_a_secret() {
    let app = app_with(ClientRegistration::Open).await;
    let mut body = code_client();
    body["token_endpoint_auth_method"] = json!("none");
    let body: Value = register(&app, None, &body).await.json().await.unwrap();
    assert_eq!(body["token_endpoint_auth_method"], "none");
    assert!(body.get("client_secret").is_none());
}

#[tokio::test]
async fn unknown_metadata_is_ignored_and_not_echoed() {
    let app = app_with(ClientRegistration::Open).await;
    let mut body = code_client();
    body["logo_uri"] = json!("https://rp.example.test/logo.png");
    body["x_custom"] = json!({ "a": 1 });
    let res = register(&app, None, &body).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert!(body.get("logo_uri").is_none() && body.get("x_custom").is_none());
}

async fn refused_with(app: &TestApp, change: Value) -> (u16, String) {
    let mut body = code_client();
    for (k, v) in change.as_object().unwrap() {
        body[k] = v.clone();
    }
    error_of(register(app, None, &body).await).await
}

#[tokio::test]
async fn a_redirect_uri_with_a_fragment_or_plain_http_is_an_invalid_redirect_uri() {
    let app = app_with(ClientRegistration::Open).await;
    for uri in ["https://rp.example.test/cb#frag", "http://rp.example.test/cb"] {
        let refused = refused_with(&app, json!({ "redirect_uris": [uri] })).await;
        assert_eq!(refused, (400, "invalid_redirect_uri".into()), "{uri}");
    }
}

#[tokio::test]
async fn response_types_inconsistent_with_grant_types_are_invalid_client_metadata() {
    let app = app_with(ClientRegistration::Open).await;
    let refused = refused_with(
        &app,
        json!({ "grant_types": ["refresh_token"], "response_types": ["code"] }),
    )
    .await;
    assert_eq!(refused, (400, "invalid_client_metadata".into()));
    let refused = refused_with(&app, json!({ "response_types": ["token"] })).await;
    assert_eq!(refused, (400, "invalid_client_metadata".into()));
}

#[tokio::test]
async fn an_unknown_auth_method_is_invalid_client_metadata() {
    let app = app_with(ClientRegistration::Open).await;
    let refused = refused_with(&app, json!({ "token_endpoint_auth_method": "tls_client_auth" })).await;
    assert_eq!(refused, (400, "invalid_client_metadata".into()));
}

#[tokio::test]
async fn a_bad_id_token_alg_is_invalid_client_metadata() {
    let app = app_with(ClientRegistration::Open).await;
    let refused = refused_with(&app, json!({ "id_token_signed_response_alg": "HS256" })).await;
    assert_eq!(refused, (400, "invalid_client_metadata".into()));
}

#[tokio::test]
async fn a_logout_or_jwks_uri_on_the_operators_network_is_invalid_client_metadata() {
    let app = app_with(ClientRegistration::Open).await;
    let mut public = code_client();
    public["backchannel_logout_uri"] = json!("https://rp.example.test/bcl");
    assert_eq!(
        register(&app, None, &public).await.status(),
        201,
        "a public host is fine"
    );

    for change in [
        json!({ "backchannel_logout_uri": "http://127.0.0.1:2375/containers/db/stop" }),
        json!({ "backchannel_logout_uri": "https://169.254.169.254/latest/meta-data" }),
        json!({ "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://10.0.0.5/keys" }),
    ] {
        let refused = refused_with(&app, change.clone()).await;
        assert_eq!(refused, (400, "invalid_client_metadata".into()), "{change}");
    }
}

#[tokio::test]
async fn client_credentials_is_not_offered_to_registered_clients() {
    let app = app_with(ClientRegistration::Open).await;
    let refused = refused_with(
        &app,
        json!({ "grant_types": ["authorization_code", "client_credentials"] }),
    )
    .await;
    assert_eq!(refused, (400, "invalid_client_metadata".into()));
}

async fn registered(app: &TestApp) -> Value {
    let res = register(app, None, &code_client()).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

fn manage(app: &TestApp, method: reqwest::Method, client: &Value, token: &str) -> reqwest::RequestBuilder {
    let uri = client["registration_client_uri"].as_str().unwrap();
    assert!(uri.starts_with(&app.address));
    app.client.request(method, uri).bearer_auth(token)
}

#[tokio::test]
async fn the_registration_access_token_reads_the_registration() {
    let app = app_with(ClientRegistration::Open).await;
    let client = registered(&app).await;
    let token = client["registration_access_token"].as_str().unwrap();
    let res = manage(&app, reqwest::Method::GET, &client, token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let read: Value = res.json().await.unwrap();
    assert_eq!(read["client_id"], client["client_id"]);
    assert_eq!(read["redirect_uris"], client["redirect_uris"]);
}

#[tokio::test]
async fn a_wrong_or_another_clients_registration_access_token_is_a_401() {
    let app = app_with(ClientRegistration::Open).await;
    let (client, other) = (registered(&app).await, registered(&app).await);
    let others = other["registration_access_token"].as_str().unwrap();
    for token in ["wrong", others] {
        let res = manage(&app, reqwest::Method::GET, &client, token).send().await.unwrap();
        assert_eq!(error_of(res).await, (401, "invalid_token".into()));
    }
    let res = app
        .client
        .get(app.url("/register/no-such-client"))
        .bearer_auth(others)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(res).await,
        (401, "invalid_token".into()),
        "a missing client is not revealed"
    );
}

#[tokio::test]
async fn an_update_replaces_the_metadata() {
    let app = app_with(ClientRegistration::Open).await;
    let client = registered(&app).await;
    let token = client["registration_access_token"].as_str().unwrap();
    let change = json!({
        "client_id": client["client_id"],
        "redirect_uris": ["https://rp.example.test/new"],
        "grant_types": ["authorization_code", "refresh_token"],
    });
    let res = manage(&app, reqwest::Method::PUT, &client, token)
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let after: Value = res.json().await.unwrap();
    assert_eq!(after["redirect_uris"], json!(["https://rp.example.test/new"]));
    assert_eq!(after["grant_types"], json!(["authorization_code", "refresh_token"]));
    assert_eq!(
        after["client_name"], after["client_id"],
        "an omitted name takes its default"
    );
    let wrong_id = json!({ "client_id": "someone-else", "redirect_uris": ["https://rp.example.test/cb"] });
    let res = manage(&app, reqwest::Method::PUT, &client, token)
        .json(&wrong_id)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await, (400, "invalid_client_metadata".into()));
}

#[tokio::test]
async fn a_delete_removes_the_client() {
    let app = app_with(ClientRegistration::Open).await;
    let client = registered(&app).await;
    let token = client["registration_access_token"].as_str().unwrap();
    let res = manage(&app, reqwest::Method::DELETE, &client, token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = manage(&app, reqwest::Method::GET, &client, token).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(count_rows(&app.db, "clients WHERE registered_via = 'dynamic'").await, 0);
}

#[tokio::test]
async fn registrations_are_audited() {
    let app = app_with(ClientRegistration::Open).await;
    let client = registered(&app).await;
    let (actor, kind): (String, String) =
        sqlx::query_as("SELECT actor, kind FROM audit_events WHERE client_id = $1 AND reason = 'registered a client'")
            .bind(client["client_id"].as_str().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (actor.as_str(), kind.as_str()),
        ("registration:open", "client_registration")
    );
}

#[tokio::test]
async fn a_registered_client_signs_in_through_the_consent_page() {
    let app = app_with(ClientRegistration::Open).await;
    create_user(&app, "alice").await;
    let client = registered(&app).await;
    let rp = TestClient {
        id: client["client_id"].as_str().unwrap().to_owned(),
        secret: client["client_secret"].as_str().map(str::to_owned),
        redirect_uri: "https://rp.example.test/cb".to_owned(),
    };
    let crate_rp = crate_client(&app, &rp).await;
    let (url, verifier, _state, _nonce) = crate_authorize(&crate_rp, &["email"]);
    let html = app.visit(url.as_str()).await.text().await.unwrap();
    let mut res = app.sign_in_on(&html, "alice", PASSWORD).await;
    while res.status().is_redirection() && location(&res).starts_with("/authorize") {
        res = app.visit(&location(&res)).await;
    }
    let html = res.text().await.unwrap();
    assert!(
        html.contains("action=\"/consent\""),
        "a third-party client asks for consent"
    );
    let csrf = hidden_field(&html, "csrf").unwrap();
    let request = hidden_field(&html, "request").unwrap();
    let res = app
        .submit(
            "/consent",
            &[("csrf", &csrf), ("request", &request), ("decision", "allow")],
        )
        .await;
    let res = app.visit(&location(&res)).await;
    let to = location(&res);
    let code = query_param(&to, "code").unwrap_or_else(|| panic!("a code in {to}"));
    let tokens = crate_redeem(&crate_rp, code, verifier).await;
    use openidconnect::OAuth2TokenResponse;
    assert!(!tokens.access_token().secret().is_empty());
}

/// The code flow of a registered client through the test browser (consent
/// given), then its code redeemed with `extra` token parameters.
async fn redeem_as(app: &TestApp, rp: &TestClient, scope: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let auth = auth_url(app, rp, scope, extra);
    let res = app.authorize(&auth.url, "alice").await;
    let to = location(&res);
    let code = query_param(&to, "code").unwrap_or_else(|| panic!("a code in {to}"));
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", rp.redirect_uri.as_str()),
        ("code_verifier", auth.verifier.as_str()),
    ];
    form.extend_from_slice(extra);
    app.token(rp, &form).await
}

#[tokio::test]
async fn a_registered_client_gets_no_api_token_until_an_admin_allows_it() {
    let app = app_with(ClientRegistration::Open).await;
    create_user(&app, "alice").await;
    let api = "https://api.example.test";
    create_api(&app, api, &["read"], None, &[]).await;
    let client = registered(&app).await;
    let rp = TestClient {
        id: client["client_id"].as_str().unwrap().to_owned(),
        secret: client["client_secret"].as_str().map(str::to_owned),
        redirect_uri: "https://rp.example.test/cb".to_owned(),
    };
    let refused = app
        .visit(&auth_url(&app, &rp, "openid read", &[("resource", api)]).url)
        .await;
    let to = location(&refused);
    assert_eq!(query_param(&to, "error").as_deref(), Some("invalid_target"), "{to}");
    allow(&app, &rp.id, api, &["read"]).await;
    let res = redeem_as(&app, &rp, "openid read", &[("resource", api)]).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(jwt_claims(body["access_token"].as_str().unwrap())["aud"], api);
}

#[tokio::test]
async fn an_admin_created_client_cannot_be_managed_with_a_registration_access_token() {
    let app = app_with(ClientRegistration::Open).await;
    let admin_made = create_client(&app, ClientSpec::default()).await;
    let other = registered(&app).await;
    let token = other["registration_access_token"].as_str().unwrap();
    let res = app
        .client
        .delete(app.url(&format!("/register/{}", admin_made.id)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await, (401, "invalid_token".into()));
}

#[tokio::test]
async fn the_admin_pages_show_registered_clients_and_their_registration_events() {
    let app = app_with(ClientRegistration::Open).await;
    let client = registered(&app).await;
    let id = client["client_id"].as_str().unwrap();
    crate::admin::sign_in_admin(&app, "/admin").await;
    let list = app.visit("/admin/clients").await.text().await.unwrap();
    assert!(list.contains("registered itself"), "{list}");
    let one = app.visit(&format!("/admin/clients/{id}")).await.text().await.unwrap();
    assert!(one.contains("id=\"registered-itself\""));
    let audit = app
        .visit("/admin/audit?kind=client_registration")
        .await
        .text()
        .await
        .unwrap();
    assert!(audit.contains(id) && audit.contains("registered a client"));
}

#[tokio::test]
async fn housekeeping_prunes_initial_access_tokens_past_their_end() {
    let app = app_with(ClientRegistration::Token).await;
    let made = |days: i64| {
        let app = &app;
        async move {
            lanyard::admin::registration::create_token(
                &app.pool,
                &app.clock,
                &mut rand::rng(),
                Some(chrono::TimeDelta::days(days)),
                1,
            )
            .await
            .unwrap()
        }
    };
    let (_short, _long) = (made(1).await, made(30).await);
    let limits = lanyard::maintenance::Housekeeping::default();
    let run = || async {
        for _ in 0..100 {
            if lanyard::maintenance::housekeep(&app.provider, &limits)
                .await
                .unwrap()
                .is_some()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("housekeeping never got its lock");
    };

    app.clock.advance(chrono::TimeDelta::days(9));
    run().await;

    let left: Vec<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar("SELECT expires_at FROM registration_tokens")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "the expired one went, the usable one stays");
}

#[tokio::test]
async fn an_update_keeps_the_settings_only_an_admin_may_set() {
    let app = app_with(ClientRegistration::Open).await;
    let api = "https://api.example.test";
    create_api(&app, api, &["read"], None, &[]).await;
    let client = registered(&app).await;
    let id = client["client_id"].as_str().unwrap();
    sqlx::query(
        "UPDATE clients SET first_party = true, dpop_nonce = true, dpop_bound = true, require_par = true
         WHERE client_id = $1",
    )
    .bind(id)
    .execute(&app.pool)
    .await
    .unwrap();
    allow(&app, id, api, &["read"]).await;
    let token = client["registration_access_token"].as_str().unwrap();
    // RFC 7592 §2.2: the client's own metadata, none of the admin's settings.
    let change = json!({ "client_id": id, "redirect_uris": ["https://rp.example.test/new"] });
    let res = manage(&app, reqwest::Method::PUT, &client, token)
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let after: Value = res.json().await.unwrap();
    assert_eq!(
        after["redirect_uris"],
        json!(["https://rp.example.test/new"]),
        "its own change"
    );
    let (first_party, dpop_nonce, dpop_bound, require_par): (bool, bool, bool, bool) =
        sqlx::query_as("SELECT first_party, dpop_nonce, dpop_bound, require_par FROM clients WHERE client_id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (first_party, dpop_nonce, dpop_bound, require_par),
        (true, true, true, true),
        "the admin's settings stay"
    );
    assert_eq!(after["require_pushed_authorization_requests"], true);
    assert_eq!(after["dpop_bound_access_tokens"], true);
    assert_eq!(
        count_rows(&app.db, &format!("client_api_access WHERE client_id = '{id}'")).await,
        1,
        "the API allowance stays"
    );
}

/// GET /register/{id} with `token`: its status.
async fn reads_with(app: &TestApp, client: &Value, token: &str) -> u16 {
    manage(app, reqwest::Method::GET, client, token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_cli_rotates_and_revokes_a_registration_access_token() {
    let app = app_with(ClientRegistration::Open).await;
    let client = registered(&app).await;
    let id = client["client_id"].as_str().unwrap();
    let old = client["registration_access_token"].as_str().unwrap();
    let run = lanyard(&["client", "registration-access-token", "rotate", id, "--json"])
        .run_on(&app.db)
        .await;
    let out = run.assert_ok().json();
    assert_eq!(out["client_id"], id);
    let new = out["registration_access_token"].as_str().unwrap().to_owned();
    assert_eq!(new.len(), 43);
    assert_eq!(reads_with(&app, &client, old).await, 401, "the old token");
    assert_eq!(reads_with(&app, &client, &new).await, 200, "the new token");
    let details: Value = sqlx::query_scalar(
        "SELECT details FROM audit_events WHERE actor = 'cli' AND client_id = $1
         AND reason = 'rotated a registration access token'",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(!details.to_string().contains(&new), "never the token");

    lanyard(&["client", "registration-access-token", "revoke", id, "--json"])
        .run_on(&app.db)
        .await
        .assert_ok();
    assert_eq!(reads_with(&app, &client, &new).await, 401, "revoked");
    assert_eq!(
        count_rows(&app.db, &format!("clients WHERE client_id = '{id}'")).await,
        1,
        "the client stays"
    );
    assert_eq!(
        count_rows(
            &app.db,
            "audit_events WHERE reason = 'revoked a registration access token'"
        )
        .await,
        1
    );
    // An admin-created client has no registration to manage.
    create_client(&app, ClientSpec::default()).await;
    lanyard(&["client", "registration-access-token", "rotate", "rp"])
        .run_on(&app.db)
        .await
        .assert_refused("registered itself");
}

#[tokio::test]
async fn the_admin_api_rotates_and_revokes_a_registration_access_token() {
    let app = app_with(ClientRegistration::Open).await;
    let client = registered(&app).await;
    let id = client["client_id"].as_str().unwrap();
    let old = client["registration_access_token"].as_str().unwrap();
    let admin = crate::admin_api::token_with(&app, "ops", &app.url("/admin"), &["admin"]).await;
    let path = format!("/clients/{id}/registration-access-token");
    let (status, out) = crate::admin_api::call(&app, reqwest::Method::POST, &path, Some(&admin), None).await;
    assert_eq!(status, 200, "{out}");
    let new = out["registration_access_token"].as_str().unwrap().to_owned();
    assert_eq!(reads_with(&app, &client, old).await, 401);
    assert_eq!(reads_with(&app, &client, &new).await, 200);
    let (status, _) = crate::admin_api::call(&app, reqwest::Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(status, 204);
    assert_eq!(reads_with(&app, &client, &new).await, 401);
    app.audit_written().await;
    assert_eq!(
        count_rows(
            &app.db,
            &format!("audit_events WHERE actor = 'api:ops' AND client_id = '{id}' AND reason LIKE '% a registration access token'")
        )
        .await,
        2
    );
    let (status, _) = crate::admin_api::call(
        &app,
        reqwest::Method::POST,
        "/clients/nobody/registration-access-token",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn invalid_metadata_does_not_use_up_an_initial_access_token() {
    let app = app_with(ClientRegistration::Token).await;
    let made = initial_token(&app, &["--uses", "1"]).await;
    let token = made["initial_access_token"].as_str().unwrap();
    let mut bad = code_client();
    bad["response_types"] = json!(["token"]);
    let refused = error_of(register(&app, Some(token), &bad).await).await;
    assert_eq!(refused, (400, "invalid_client_metadata".into()));
    assert_eq!(
        register(&app, Some(token), &code_client()).await.status(),
        201,
        "its one use is still there"
    );
}

/// The consent page `url` leads `username` to (signing in on the way).
async fn consent_page_for(app: &TestApp, url: &str, username: &str) -> String {
    let html = app.visit(url).await.text().await.unwrap();
    let mut res = app.sign_in_on(&html, username, PASSWORD).await;
    while res.status().is_redirection() && location(&res).starts_with("/authorize") {
        res = app.visit(&location(&res)).await;
    }
    let html = res.text().await.unwrap();
    assert!(html.contains("action=\"/consent\""), "{html}");
    html
}

#[tokio::test]
async fn the_consent_page_says_a_registered_client_is_unverified_and_where_the_code_goes() {
    let app = app_with(ClientRegistration::Open).await;
    create_user(&app, "alice").await;
    let client = registered(&app).await;
    let rp = TestClient {
        id: client["client_id"].as_str().unwrap().to_owned(),
        secret: client["client_secret"].as_str().map(str::to_owned),
        redirect_uri: "https://rp.example.test/cb".to_owned(),
    };
    let html = consent_page_for(&app, &auth_url(&app, &rp, "openid email", &[]).url, "alice").await;
    assert!(html.contains("This application registered itself"), "{html}");
    assert!(html.contains("Lanyard has not verified it"), "{html}");
    assert!(html.contains("rp.example.test"), "the host the code goes to: {html}");

    // An admin-registered third-party client: no such notice (positive control).
    let browser = app.with_browser(new_browser());
    let third = create_client(
        &app,
        ClientSpec {
            id: "partner",
            first_party: false,
            ..Default::default()
        },
    )
    .await;
    let html = consent_page_for(&browser, &auth_url(&app, &third, "openid email", &[]).url, "alice").await;
    assert!(!html.contains("registered itself"), "{html}");
}

/// The machine's host name when it resolves to an address that is not
/// public (as a container's does, to a loopback or private address) — a
/// name that passes every check of a URL's text.
async fn local_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()?
        .trim()
        .to_owned();
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((name.as_str(), 443)).await.ok()?.collect();
    let local = |ip: std::net::IpAddr| match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => v6.is_loopback(),
    };
    (!addrs.is_empty() && addrs.iter().all(|a| local(a.ip())) && !name.contains("localhost")).then_some(name)
}

/// A listener on the loopback that counts the connections it gets.
async fn counting_listener() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(socket);
        }
    });
    (port, count)
}

/// POST /token with a `private_key_jwt` assertion signed by a key `client` never registered.
async fn token_with_assertion(app: &TestApp, client: &str) -> u16 {
    use crate::private_key_jwt::{JWT_BEARER, Key};
    use lanyard::clock::Clock as _;
    let now = app.clock.now().timestamp();
    let assertion = Key::es256("k1").sign(&json!({
        "iss": client, "sub": client, "aud": app.url("/token"), "exp": now + 60, "iat": now,
        "jti": uuid::Uuid::new_v4().to_string(),
    }));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "x"),
        ("client_id", client),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion.as_str()),
    ];
    app.client
        .post(app.url("/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_registered_clients_jwks_uri_is_not_fetched_from_a_private_address_its_name_resolves_to() {
    let Some(name) = local_name().await else {
        eprintln!("skipped: the host name does not resolve to a local address here");
        return;
    };
    let (port, connections) = counting_listener().await;
    let app = app_with(ClientRegistration::Open).await;
    let jwks_uri = format!("https://{name}:{port}/jwks");
    let mut body = code_client();
    body["token_endpoint_auth_method"] = json!("private_key_jwt");
    body["jwks_uri"] = json!(jwks_uri);
    let res = register(&app, None, &body).await;
    assert_eq!(res.status(), 201, "the name itself passes");
    let id = res.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(token_with_assertion(&app, &id).await, 401);
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "resolved at the fetch to a local address: never connected"
    );
    // An admin-registered client's jwks_uri is the operator's choice: fetched.
    let input = lanyard::admin::clients::NewClientInput {
        client_id: "internal".into(),
        auth_method: Some("private_key_jwt".into()),
        grant_types: vec!["authorization_code".into()],
        redirect_uris: vec!["https://internal.example/cb".into()],
        jwks_uri: Some(jwks_uri.clone()),
        ..Default::default()
    };
    lanyard::admin::clients::create(&app.pool, &app.clock, &mut rand::rng(), input)
        .await
        .unwrap();
    app.settle().await;
    assert_eq!(token_with_assertion(&app, "internal").await, 401);
    assert!(
        connections.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "positive control: the same URI is contacted for an admin's client"
    );
}
