//! The admin web page over HTTP: access, CSRF, escaping, secrets shown once,
//! recent sign-in for sensitive changes.

use chrono::TimeDelta;

use crate::support::{PASSWORD, TestApp, count_rows, create_user, hidden_field, location, spawn_app};

/// An app with an admin `root` signed in through the sign-in page.
pub async fn admin_app() -> TestApp {
    let app = spawn_app().await;
    sign_in_admin(&app, "/admin").await;
    app
}

/// An admin `root` made and signed in through the sign-in page, which
/// returns to `back_to`.
pub async fn sign_in_admin(app: &TestApp, back_to: &str) {
    let input = lanyard::admin::users::NewUserInput {
        username: "root".into(),
        password: PASSWORD.into(),
        is_admin: true,
        claims: Default::default(),
    };
    lanyard::admin::users::create(&app.pool, &lanyard::clock::SystemClock, input)
        .await
        .unwrap();
    let page = app
        .visit(&format!("/signin?return_to={back_to}"))
        .await
        .text()
        .await
        .unwrap();
    let res = app.sign_in_on(&page, "root", PASSWORD).await;
    assert_eq!(location(&res), back_to, "back to the admin page");
}

pub async fn page(app: &TestApp, path: &str) -> String {
    let res = app.visit(path).await;
    assert_eq!(res.status(), 200, "{path}");
    res.text().await.unwrap()
}

#[tokio::test]
async fn the_admin_page_sends_a_stranger_to_sign_in_and_back() {
    let app = spawn_app().await;
    let res = app.visit("/admin/keys").await;
    assert_eq!(res.status(), 302);
    assert_eq!(location(&res), "/signin?return_to=%2Fadmin%2Fkeys");
}

#[tokio::test]
async fn a_user_without_the_admin_role_gets_403() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let page = app.visit("/signin").await.text().await.unwrap();
    app.sign_in_on(&page, "ada", PASSWORD).await;
    for path in [
        "/admin",
        "/admin/clients",
        "/admin/keys",
        "/admin/users",
        "/admin/audit",
    ] {
        assert_eq!(app.visit(path).await.status(), 403, "{path}");
    }
}

#[tokio::test]
async fn sign_in_never_returns_to_another_site() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    for evil in ["https://evil.example/admin", "//evil.example/admin", "/admin/../\\evil"] {
        let page = app
            .visit(&format!("/signin?return_to={}", urlencode(evil)))
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(hidden_field(&page, "return_to").unwrap_or_default(), "", "{evil}");
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn every_admin_page_renders_for_an_admin() {
    let app = admin_app().await;
    for path in [
        "/admin",
        "/admin/clients",
        "/admin/keys",
        "/admin/users",
        "/admin/audit",
    ] {
        let html = page(&app, path).await;
        assert!(html.contains("Lanyard admin"), "{path}");
        let scripts: Vec<&str> = html
            .match_indices("<script")
            .map(|(i, _)| &html[i..i + 60.min(html.len() - i)])
            .collect();
        assert!(
            scripts
                .iter()
                .all(|s| s.starts_with("<script src=\"/static/admin.js\" defer>")),
            "no inline script: {path}"
        );
    }
}

#[tokio::test]
async fn a_new_clients_secret_is_shown_once_and_stored_as_its_sha256() {
    let app = admin_app().await;
    let html = page(&app, "/admin/clients").await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    let form = [
        ("csrf", csrf.as_str()),
        ("client_id", "web"),
        ("name", "Web"),
        ("redirect_uris", "https://web.example/cb"),
        ("grant_type", "authorization_code"),
        ("scope", "openid"),
    ];
    let res = app.submit("/admin/clients", &form).await;
    assert_eq!(res.status(), 201);
    let html = res.text().await.unwrap();
    let start =
        html.find("<pre id=\"client-secret\">").expect("the secret is shown") + "<pre id=\"client-secret\">".len();
    let secret = &html[start..start + 43];
    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_hash FROM clients WHERE client_id = 'web'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, lanyard::crypto::secret::sha256(secret).to_vec());
    let again = page(&app, "/admin/clients").await;
    assert!(!again.contains(secret), "never rendered twice");
}

#[tokio::test]
async fn a_client_name_is_shown_escaped() {
    let app = admin_app().await;
    let html = page(&app, "/admin/clients").await;
    let form = [
        ("csrf", hidden_field(&html, "csrf").unwrap()),
        ("client_id", "xss".into()),
        ("name", "<script>alert(1)</script>".into()),
        ("grant_type", "client_credentials".into()),
    ];
    let res = app
        .client
        .post(app.url("/admin/clients"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let html = page(&app, "/admin/clients").await;
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;"), "escaped");
}

/// Bad posts to the admin pages: a missing or forged CSRF token, a value the
/// rules refuse. Each is a 400 that saves nothing; a validation error is shown
/// by its field and keeps what was typed.
#[tokio::test]
async fn the_admin_pages_refuse_bad_posts_and_save_nothing() {
    let app = admin_app().await;
    let html = page(&app, "/admin/clients").await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    let web = |csrf| {
        vec![
            ("csrf", csrf),
            ("client_id", "web"),
            ("grant_type", "client_credentials"),
        ]
    };
    // (case, path, form, what the page shows)
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a [&'a str]);
    let cases: Vec<Case> = vec![
        ("no CSRF token on a new client", "/admin/clients", web(""), &[]),
        (
            "a forged CSRF token on a new client",
            "/admin/clients",
            web("forged"),
            &[],
        ),
        (
            "no CSRF token on key rotation",
            "/admin/keys/rotate",
            vec![("csrf", "")],
            &[],
        ),
        (
            "a forged CSRF token on key rotation",
            "/admin/keys/rotate",
            vec![("csrf", "forged")],
            &[],
        ),
        (
            "a non-loopback http redirect URI",
            "/admin/clients",
            vec![
                ("csrf", csrf.as_str()),
                ("client_id", "web"),
                ("redirect_uris", "http://web.example/cb"),
                ("grant_type", "authorization_code"),
            ],
            &["role=\"alert\"", "non-loopback", "value=\"web\""],
        ),
    ];
    for (case, path, form, shows) in &cases {
        let res = app.submit(path, form).await;
        assert_eq!(res.status(), 400, "{case}");
        let html = res.text().await.unwrap();
        for needle in *shows {
            assert!(html.contains(needle), "{case}: the page shows {needle}");
        }
    }
    assert_eq!(count_rows(&app.db, "clients").await, 0);
    // Positive control: the client form with the page's token and a good URI saves.
    let good = [
        ("csrf", csrf.as_str()),
        ("client_id", "web"),
        ("redirect_uris", "https://web.example/cb"),
        ("grant_type", "authorization_code"),
    ];
    assert_eq!(
        app.submit("/admin/clients", &good).await.status(),
        201,
        "positive control"
    );
    assert_eq!(count_rows(&app.db, "clients").await, 1);
}

#[tokio::test]
async fn rotating_keys_needs_a_recent_sign_in_and_changes_the_jwks() {
    let app = admin_app().await;
    let before = app.get_json("/jwks").await["keys"].as_array().unwrap().len();
    let html = page(&app, "/admin/keys").await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    sqlx::query("UPDATE signing_keys SET created_at = $1 WHERE state = 'next'")
        .bind(lanyard::clock::Clock::now(&app.clock))
        .execute(&app.pool)
        .await
        .unwrap();
    // Too soon for cached JWKS: the page explains and asks a second time.
    let res = app.submit("/admin/keys/rotate", &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 409);
    let html = res.text().await.unwrap();
    assert!(html.contains("name=\"force\""), "{html}");
    assert_eq!(app.get_json("/jwks").await["keys"].as_array().unwrap().len(), before);
    let res = app
        .submit("/admin/keys/rotate", &[("csrf", &csrf), ("force", "yes")])
        .await;
    assert_eq!(location(&res), "/admin/keys?done=rotated");
    assert_eq!(
        app.get_json("/jwks").await["keys"].as_array().unwrap().len(),
        before + 3
    );
    app.clock.advance(TimeDelta::minutes(16));
    let res = app.submit("/admin/keys/rotate", &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303);
    assert!(
        location(&res).starts_with("/signin?reauth=1&return_to=%2Fadmin%2Fkeys"),
        "{}",
        location(&res)
    );
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE kind = 'admin' AND actor = 'root'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(events, 1, "one change, audited with who made it");
}

#[tokio::test]
async fn the_audit_log_filters_by_type() {
    let app = admin_app().await;
    let html = page(&app, "/admin/audit?kind=sign_in").await;
    assert!(html.contains("<td>sign_in</td>"));
    let html = page(&app, "/admin/audit?kind=token_exchange").await;
    assert!(!html.contains("<td>sign_in</td>"));
}

#[tokio::test]
async fn creating_a_user_on_the_page_follows_the_cli_rules() {
    let app = admin_app().await;
    let html = page(&app, "/admin/users").await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    let res = app
        .submit(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "grace"),
                ("password", "cobol rules"),
                ("email", "grace@example.com"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/admin/users?created=grace");
    let res = app
        .submit(
            "/admin/users",
            &[("csrf", &csrf), ("username", "GRACE"), ("password", "x")],
        )
        .await;
    assert_eq!(res.status(), 400, "a duplicate, regardless of case");
    assert_eq!(count_rows(&app.db, "users").await, 2);
}

#[tokio::test]
async fn audit_events_older_than_the_retention_are_pruned() {
    let app = admin_app().await;
    app.audit_written().await;
    let before = count_rows(&app.db, "audit_events").await;
    assert!(before > 0);
    let days = app.config.audit_retention_days;
    let limits = lanyard::maintenance::Housekeeping::default();
    app.clock.advance(TimeDelta::days(i64::from(days) - 1));
    let pruned = lanyard::maintenance::housekeep(&app.provider, &limits)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pruned["audit_events"], 0, "still within retention");
    app.clock.advance(TimeDelta::days(2));
    let pruned = lanyard::maintenance::housekeep(&app.provider, &limits)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pruned["audit_events"] as i64, before);
    assert_eq!(count_rows(&app.db, "audit_events").await, 0);
}

/// Registers `web` on the page (first-party, code + exchange) and returns its secret.
pub async fn register_web(app: &TestApp) -> String {
    let html = page(app, "/admin/clients").await;
    let form = [
        ("csrf", hidden_field(&html, "csrf").unwrap()),
        ("client_id", "web".into()),
        ("name", "Web".into()),
        ("redirect_uris", "https://web.example/cb".into()),
        ("grant_type", "authorization_code".into()),
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange".into()),
        ("scope", "openid".into()),
        ("first_party", "on".into()),
    ];
    let html = app
        .client
        .post(app.url("/admin/clients"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = html.find("<pre id=\"client-secret\">").unwrap() + "<pre id=\"client-secret\">".len();
    html[start..start + 43].to_owned()
}

#[tokio::test]
async fn an_edited_redirect_uri_replaces_the_old_one_at_authorize() {
    let app = admin_app().await;
    register_web(&app).await;
    let html = page(&app, "/admin/clients/web").await;
    let form = [
        ("csrf", hidden_field(&html, "csrf").unwrap()),
        ("name", "Web".into()),
        ("redirect_uris", "https://web.example/new-cb".into()),
        ("grant_type", "authorization_code".into()),
        ("scope", "openid".into()),
        ("auth_method", "client_secret_basic".into()),
        ("id_token_alg", "ES256".into()),
    ];
    let res = app
        .client
        .post(app.url("/admin/clients/web"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/admin/clients/web?done=saved");
    let authorize = |uri: &str| {
        format!(
            "/authorize?response_type=code&client_id=web&scope=openid&redirect_uri={}",
            urlencode(uri)
        )
    };
    assert_eq!(
        app.visit(&authorize("https://web.example/cb")).await.status(),
        400,
        "the old URI is refused"
    );
    assert_ne!(app.visit(&authorize("https://web.example/new-cb")).await.status(), 400);
    let alg: String = sqlx::query_scalar("SELECT id_token_alg FROM clients WHERE client_id = 'web'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(alg, "ES256");
    let details: serde_json::Value =
        sqlx::query_scalar("SELECT details FROM audit_events WHERE reason = 'changed a client'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        details["before"]["redirect_uris"],
        serde_json::json!(["https://web.example/cb"]),
        "before and after are audited"
    );
    assert_eq!(
        details["after"]["redirect_uris"],
        serde_json::json!(["https://web.example/new-cb"])
    );
}

#[tokio::test]
async fn an_invalid_edit_saves_nothing() {
    let app = admin_app().await;
    register_web(&app).await;
    let html = page(&app, "/admin/clients/web").await;
    let form = [
        ("csrf", hidden_field(&html, "csrf").unwrap()),
        ("redirect_uris", "http://web.example/cb".into()),
        ("grant_type", "authorization_code".into()),
    ];
    let res = app
        .client
        .post(app.url("/admin/clients/web"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let uris: Vec<String> = sqlx::query_scalar("SELECT redirect_uris FROM clients WHERE client_id = 'web'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(uris, ["https://web.example/cb"]);
}

#[tokio::test]
async fn allowing_an_api_scope_on_the_page_lets_the_exchange_succeed() {
    let app = admin_app().await;
    let secret = register_web(&app).await;
    crate::support::create_api(&app, "https://orders.example", &["read", "write"], None, &[]).await;
    create_user(&app, "ada").await;
    let web = crate::support::TestClient {
        id: "web".into(),
        secret: Some(secret),
        redirect_uri: "https://web.example/cb".into(),
    };
    let browser = app.with_browser(crate::support::new_browser());
    let (code, auth) = {
        let auth = crate::support::auth_url(&browser, &web, "openid", &[]);
        let res = browser.authorize(&auth.url, "ada").await;
        (crate::support::query_param(&location(&res), "code").unwrap(), auth)
    };
    let id_token = app.redeem(&web, &code, &auth.verifier).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = app
        .exchange(&web, &id_token, &[("resource", "https://orders.example")])
        .await;
    assert_eq!(crate::support::error_of(refused).await.1, "invalid_target");
    let html = page(&app, "/admin/clients/web").await;
    let form = [
        ("csrf", hidden_field(&html, "csrf").unwrap()),
        ("audience", "https://orders.example".into()),
        ("scope", "read".into()),
    ];
    let res = app
        .client
        .post(app.url("/admin/clients/web/access"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = app
        .exchange(&web, &id_token, &[("resource", "https://orders.example")])
        .await;
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["scope"], "read");
}

#[tokio::test]
async fn rotating_a_secret_shows_the_new_one_once_and_retires_the_old() {
    let app = admin_app().await;
    let old = register_web(&app).await;
    let html = page(&app, "/admin/clients/web").await;
    let res = app
        .submit(
            "/admin/clients/web/secret",
            &[("csrf", &hidden_field(&html, "csrf").unwrap())],
        )
        .await;
    let html = res.text().await.unwrap();
    let start = html.find("<pre id=\"client-secret\">").unwrap() + "<pre id=\"client-secret\">".len();
    let new = html[start..start + 43].to_owned();
    assert_ne!(new, old);
    let try_secret = |secret: String| {
        let app = &app;
        async move {
            let c = crate::support::TestClient {
                id: "web".into(),
                secret: Some(secret),
                redirect_uri: String::new(),
            };
            app.token(&c, &[("grant_type", "authorization_code"), ("code", "x")])
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(try_secret(old).await, 401);
    assert_eq!(
        try_secret(new.clone()).await,
        400,
        "authenticated; the code is just bad"
    );
    assert!(
        !page(&app, "/admin/clients/web").await.contains(&new),
        "never rendered twice"
    );
}

#[tokio::test]
async fn deleting_a_client_needs_its_id_typed() {
    let app = admin_app().await;
    register_web(&app).await;
    let html = page(&app, "/admin/clients/web").await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    assert_eq!(
        app.submit("/admin/clients/web/delete", &[("csrf", &csrf), ("confirm", "nope")])
            .await
            .status(),
        400
    );
    assert_eq!(count_rows(&app.db, "clients").await, 1);
    assert_eq!(
        location(
            &app.submit("/admin/clients/web/delete", &[("csrf", &csrf), ("confirm", "web")])
                .await
        ),
        "/admin/clients"
    );
    assert_eq!(count_rows(&app.db, "clients").await, 0);
}

/// ada, signed in once through a third-party client (so she has a consent and a grant).
async fn ada_with_a_grant(app: &TestApp) -> (uuid::Uuid, serde_json::Value) {
    let sub = create_user(app, "ada").await;
    let rp = crate::support::create_client(
        app,
        crate::support::ClientSpec {
            first_party: false,
            ..Default::default()
        },
    )
    .await;
    let browser = app.with_browser(crate::support::new_browser());
    let tokens = browser.tokens(&rp, "openid offline_access", "ada").await;
    (sub, tokens)
}

async fn act(app: &TestApp, sub: uuid::Uuid, action: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let html = page(app, &format!("/admin/users/{sub}")).await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(extra);
    app.submit(&format!("/admin/users/{sub}/{action}"), &form).await
}

#[tokio::test]
async fn a_disabled_user_cannot_sign_in_until_enabled() {
    let app = admin_app().await;
    let (sub, _) = ada_with_a_grant(&app).await;
    assert_eq!(
        location(&act(&app, sub, "disable", &[]).await),
        format!("/admin/users/{sub}?done=disable")
    );
    let other = app.with_browser(crate::support::new_browser());
    let html = other.visit("/signin").await.text().await.unwrap();
    assert_eq!(other.sign_in_on(&html, "ada", PASSWORD).await.status(), 403);
    act(&app, sub, "enable", &[]).await;
    let html = other.visit("/signin").await.text().await.unwrap();
    assert_eq!(other.sign_in_on(&html, "ada", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn the_last_admin_keeps_the_role_and_cannot_be_disabled() {
    let app = admin_app().await;
    let root: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE username = 'root'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(act(&app, root, "unadmin", &[]).await.status(), 400);
    assert_eq!(act(&app, root, "disable", &[]).await.status(), 400);
    let (ada, _) = ada_with_a_grant(&app).await;
    act(&app, ada, "admin", &[]).await;
    assert_eq!(
        act(&app, root, "unadmin", &[]).await.status(),
        303,
        "now another admin exists"
    );
}

#[tokio::test]
async fn withdrawing_a_consent_revokes_its_grants() {
    let app = admin_app().await;
    let (sub, tokens) = ada_with_a_grant(&app).await;
    let html = page(&app, &format!("/admin/users/{sub}")).await;
    assert!(html.contains("<code>rp</code>"), "the consent and grant are listed");
    let consent: uuid::Uuid = sqlx::query_scalar("SELECT id FROM consents WHERE user_id = $1")
        .bind(sub)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    act(&app, sub, "consent", &[("consent", &consent.to_string())]).await;
    assert_eq!(
        app.userinfo(tokens["access_token"].as_str().unwrap()).await.status(),
        401
    );
    assert_eq!(count_rows(&app.db, "consents").await, 0);
}

#[tokio::test]
async fn ending_a_grant_revokes_its_tokens() {
    let app = admin_app().await;
    let (sub, tokens) = ada_with_a_grant(&app).await;
    let grant: uuid::Uuid = sqlx::query_scalar("SELECT id FROM grants WHERE user_id = $1")
        .bind(sub)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    act(&app, sub, "grant", &[("grant", &grant.to_string())]).await;
    assert_eq!(
        app.userinfo(tokens["access_token"].as_str().unwrap()).await.status(),
        401
    );
}

#[tokio::test]
async fn an_admin_resets_a_password_and_clears_a_throttle() {
    let app = admin_app().await;
    let (sub, _) = ada_with_a_grant(&app).await;
    let other = app.with_browser(crate::support::new_browser());
    for _ in 0..5 {
        let html = other.visit("/signin").await.text().await.unwrap();
        other.sign_in_on(&html, "ada", "wrong").await;
    }
    assert!(
        page(&app, &format!("/admin/users/{sub}"))
            .await
            .contains("Clear 5 failed sign-ins")
    );
    act(&app, sub, "throttle", &[]).await;
    act(&app, sub, "password", &[("password", "a new password")]).await;
    let html = other.visit("/signin").await.text().await.unwrap();
    assert_eq!(other.sign_in_on(&html, "ada", "a new password").await.status(), 303);
}

#[tokio::test]
async fn edited_claims_reach_the_id_token_and_bad_ones_save_nothing() {
    let app = admin_app().await;
    let (sub, _) = ada_with_a_grant(&app).await;
    let res = act(
        &app,
        sub,
        "claims",
        &[
            ("name", "Ada King"),
            ("email", "ada@king.example"),
            ("birthdate", "1815-12-10"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let res = act(&app, sub, "claims", &[("birthdate", "someday")]).await;
    assert_eq!(res.status(), 400);
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
        .bind(sub)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("Ada King"));
}

#[tokio::test]
async fn an_api_is_registered_and_edited_on_the_page() {
    let app = admin_app().await;
    let html = page(&app, "/admin/apis").await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    let form = [
        ("csrf", csrf.as_str()),
        ("audience", "https://orders.example"),
        ("name", "Orders"),
        ("scopes", "read=Read your orders\nwrite"),
        ("alg", "EdDSA"),
    ];
    let res = app.submit("/admin/apis", &form).await;
    assert_eq!(res.status(), 303);
    let edit = location(&res);
    let html = page(&app, &edit).await;
    assert!(html.contains("read=Read your orders"));
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "Orders"),
        ("scopes", "read=Read orders\nadmin"),
        ("access_token_ttl", "120"),
        ("alg", "ES256"),
    ];
    assert_eq!(location(&app.submit(&edit, &form).await), format!("{edit}?done=saved"));
    let scopes: Vec<String> = sqlx::query_scalar(
        "SELECT s.name FROM api_scopes s JOIN apis a ON a.id = s.api_id WHERE a.audience = 'https://orders.example' ORDER BY s.name",
    )
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(scopes, ["admin", "read"], "write is gone, admin is new");
    let ttl: Option<i32> =
        sqlx::query_scalar("SELECT access_token_ttl FROM apis WHERE audience = 'https://orders.example'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(ttl, Some(120));
    // The same validation as the CLI: not an absolute URI.
    let form = [("csrf", csrf.as_str()), ("audience", "orders"), ("scopes", "read")];
    let res = app.submit("/admin/apis", &form).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("absolute URI"));
    assert_eq!(
        count_rows(&app.db, "apis").await,
        2,
        "orders and the built-in admin API"
    );
}

#[tokio::test]
async fn a_hostile_client_name_is_escaped_on_every_page_that_shows_it() {
    let app = admin_app().await;
    let evil = "<script>alert(1)</script>";
    let html = page(&app, "/admin/clients").await;
    let form = [
        ("csrf", hidden_field(&html, "csrf").unwrap()),
        ("client_id", "evil".into()),
        ("name", evil.into()),
        ("redirect_uris", "https://evil.example/cb".into()),
        ("grant_type", "authorization_code".into()),
        ("scope", "openid".into()),
        ("auth_method", "client_secret_post".into()),
    ];
    app.client
        .post(app.url("/admin/clients"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let method: String = sqlx::query_scalar("SELECT auth_method FROM clients WHERE client_id = 'evil'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(method, "client_secret_post", "the method chosen on the form");
    let stranger = app.with_browser(crate::support::new_browser());
    create_user(&app, "ada").await;
    let authorize =
        "/authorize?response_type=code&client_id=evil&scope=openid&redirect_uri=https%3A%2F%2Fevil.example%2Fcb";
    let signin = stranger.visit(authorize).await.text().await.unwrap();
    let res = stranger.sign_in_on(&signin, "ada", PASSWORD).await;
    let consent = stranger.visit(&location(&res)).await.text().await.unwrap();
    let logout = stranger.visit("/logout?client_id=evil").await.text().await.unwrap();
    for (name, html) in [
        ("clients", page(&app, "/admin/clients").await),
        ("client", page(&app, "/admin/clients/evil").await),
        ("sign-in", signin),
        ("consent", consent),
        ("logout", logout),
    ] {
        assert!(!html.contains(evil), "{name} shows it raw");
        assert!(html.contains("&lt;script&gt;"), "{name} shows it escaped");
    }
}

/// Numbers in admin URLs go through checked arithmetic: too large means
/// "no limit" (or an empty page), never a panic.
#[tokio::test]
async fn huge_numbers_in_admin_queries_answer_normally() {
    let app = admin_app().await;
    for path in [
        "/admin/audit?hours=9223372036854775807",
        "/admin/audit?hours=99999999999999999999",
        "/admin/audit?page=9223372036854775807",
        "/admin/users?page=9223372036854775807",
        "/admin/clients?page=9223372036854775807",
        "/admin/apis?page=9223372036854775807",
    ] {
        page(&app, path).await;
    }
}

/// Client ids are unreserved characters only; one made before that rule (or
/// by hand in SQL) still gets percent-encoded links that lead to its page.
#[tokio::test]
async fn a_client_id_is_percent_encoded_in_every_admin_url() {
    let app = admin_app().await;
    let refused = lanyard::admin::clients::create(
        &app.pool,
        &lanyard::clock::SystemClock,
        &mut rand::rng(),
        lanyard::admin::clients::NewClientInput {
            client_id: "../admin?x#y".into(),
            grant_types: vec!["client_credentials".into()],
            ..Default::default()
        },
    )
    .await;
    assert!(
        matches!(refused, Err(lanyard::admin::AdminError::Invalid(_))),
        "{refused:?}"
    );
    let legacy = "legacy/app?x=1#y";
    sqlx::query(
        "INSERT INTO clients (client_id, name, auth_method, grant_types, scopes, created_at, updated_at)
         VALUES ($1, 'Legacy', 'none', '{authorization_code}', '{openid}', now(), now())",
    )
    .bind(legacy)
    .execute(&app.pool)
    .await
    .unwrap();
    app.settle().await;
    let encoded = "legacy%2Fapp%3Fx%3D1%23y";
    let list = page(&app, "/admin/clients").await;
    assert!(list.contains(&format!("href=\"/admin/clients/{encoded}\"")), "{list}");
    let one = page(&app, &format!("/admin/clients/{encoded}")).await;
    assert!(
        one.contains(&format!("action=\"/admin/clients/{encoded}/delete\"")),
        "{one}"
    );
    assert!(!one.contains("action=\"/admin/clients/legacy/app"), "{one}");
}

/// OIDC Core §5.1.1: the formatted address and the street address may hold
/// several lines. The page edits every member of the address, and keeps
/// the lines exactly as typed (a browser's textarea sends "\r\n").
#[tokio::test]
async fn the_admin_page_edits_every_address_member_and_keeps_its_lines() {
    let app = admin_app().await;
    let (sub, _) = ada_with_a_grant(&app).await;
    let html = page(&app, &format!("/admin/users/{sub}")).await;
    assert!(html.contains("<textarea id=\"address_formatted\""), "{html}");
    let formatted = "12 St James's Square\r\nLondon SW1Y 4JH\r\nUnited Kingdom";
    let res = act(
        &app,
        sub,
        "claims",
        &[
            ("address_formatted", formatted),
            ("address_street_address", "12 St James's Square\r\nFlat 2"),
            ("address_locality", "London"),
            ("address_region", "Westminster"),
            ("address_postal_code", "SW1Y 4JH"),
            ("address_country", "GB"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let row: (String, String, String, String, String) = sqlx::query_as(
        "SELECT address_formatted, address_street_address, address_locality, address_region, address_postal_code
         FROM users WHERE id = $1",
    )
    .bind(sub)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(row.0, formatted);
    assert_eq!(row.1, "12 St James's Square\r\nFlat 2");
    assert_eq!(
        (row.2.as_str(), row.3.as_str(), row.4.as_str()),
        ("London", "Westminster", "SW1Y 4JH")
    );
    let html = page(&app, &format!("/admin/users/{sub}")).await;
    assert!(html.contains("London SW1Y 4JH"), "shown again for the next edit");
}

/// What a user holds: a signed-in browser, a refresh token, a UserInfo token
/// and an API token from an exchange.
struct Holdings {
    browser: TestApp,
    client: crate::support::TestClient,
    refresh: String,
    userinfo_token: String,
    api_token: String,
}

async fn ada_holding_everything(app: &TestApp) -> (uuid::Uuid, Holdings) {
    let sub = create_user(app, "ada").await;
    let client = crate::support::create_client(app, crate::support::ClientSpec::exchanging()).await;
    crate::support::create_api(app, "https://orders.example", &["read"], None, &[]).await;
    crate::support::allow(app, &client.id, "https://orders.example", &["read"]).await;
    let browser = app.with_browser(crate::support::new_browser());
    let tokens = browser.tokens(&client, "openid offline_access", "ada").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let res = app
        .exchange(&client, id_token, &[("resource", "https://orders.example")])
        .await;
    let exchanged: serde_json::Value = res.json().await.unwrap();
    let holdings = Holdings {
        browser,
        refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
        userinfo_token: tokens["access_token"].as_str().unwrap().to_owned(),
        api_token: exchanged["access_token"].as_str().unwrap().to_owned(),
        client,
    };
    (sub, holdings)
}

/// Asserts that nothing the user held works any more.
async fn assert_all_ended(app: &TestApp, h: &Holdings) {
    let auth = crate::support::auth_url(app, &h.client, "openid", &[("prompt", "none")]);
    let res = h.browser.visit(&auth.url).await;
    let to = location(&res);
    assert_eq!(
        crate::support::query_param(&to, "error").as_deref(),
        Some("login_required"),
        "{to}"
    );
    let res = app
        .token(
            &h.client,
            &[("grant_type", "refresh_token"), ("refresh_token", &h.refresh)],
        )
        .await;
    assert_eq!(crate::support::error_of(res).await, (400, "invalid_grant".into()));
    assert_eq!(app.userinfo(&h.userinfo_token).await.status(), 401);
    let res = app.post_as(&h.client, "/introspect", &[("token", &h.api_token)]).await;
    let answer: serde_json::Value = res.json().await.unwrap();
    assert_eq!(answer, serde_json::json!({ "active": false }), "the exchanged token");
}

#[tokio::test]
async fn resetting_a_password_ends_every_session_and_grant() {
    let app = admin_app().await;
    let (sub, holdings) = ada_holding_everything(&app).await;
    let res = app
        .post_as(&holdings.client, "/introspect", &[("token", &holdings.api_token)])
        .await;
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["active"], true);
    let res = act(&app, sub, "password", &[("password", "a new password")]).await;
    assert_eq!(res.status(), 303);
    assert_all_ended(&app, &holdings).await;
}

#[tokio::test]
async fn disabling_ends_every_session_and_grant_for_good() {
    let app = admin_app().await;
    let (sub, holdings) = ada_holding_everything(&app).await;
    act(&app, sub, "disable", &[]).await;
    act(&app, sub, "enable", &[]).await;
    assert_all_ended(&app, &holdings).await;
}

/// Allowing the admin API to a client makes it an administrator: like
/// rotating a secret, it needs a sign-in younger than 15 minutes.
#[tokio::test]
async fn allowing_the_admin_api_to_a_client_needs_a_recent_sign_in() {
    let app = admin_app().await;
    crate::support::create_service(&app, "ops").await;
    let html = page(&app, "/admin/clients/ops").await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    let admin_api = app.url("/admin");
    app.clock.advance(TimeDelta::minutes(16));
    let form = [
        ("csrf", csrf.as_str()),
        ("audience", admin_api.as_str()),
        ("scope", "admin"),
    ];
    let res = app.submit("/admin/clients/ops/access", &form).await;
    assert!(location(&res).starts_with("/signin?reauth=1"), "{}", location(&res));
    let allowed: i64 = sqlx::query_scalar("SELECT count(*) FROM client_api_access WHERE client_id = 'ops'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(allowed, 0, "nothing allowed");
}

#[tokio::test]
async fn what_an_api_asks_of_dpop_is_set_on_its_page() {
    let app = admin_app().await;
    let html = page(&app, "/admin/apis").await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    let form = [
        ("csrf", csrf.as_str()),
        ("audience", "https://orders.example"),
        ("scopes", "read"),
        ("require_dpop", "on"),
        ("min_acr", "mfa"),
    ];
    let edit = location(&app.submit("/admin/apis", &form).await);
    let html = page(&app, &edit).await;
    assert!(html.contains(r#"name="require_dpop" checked"#), "shown as set");
    assert!(html.contains("<option selected>mfa</option>"), "the level shown as set");
    assert!(!html.contains(r#"name="dpop_nonce" checked"#));
    let form = [("csrf", csrf.as_str()), ("scopes", "read"), ("dpop_nonce", "on")];
    assert_eq!(location(&app.submit(&edit, &form).await), format!("{edit}?done=saved"));
    let (required, nonce): (bool, bool) =
        sqlx::query_as("SELECT require_dpop, dpop_nonce FROM apis WHERE audience = 'https://orders.example'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((required, nonce), (false, true), "an unchecked box is off");
}

#[tokio::test]
async fn a_clients_keys_are_set_on_the_page_and_its_secret_goes() {
    let app = admin_app().await;
    let pair = josekit::jws::ES256.generate_key_pair().unwrap();
    let public = serde_json::json!({ "keys": [serde_json::Value::Object(pair.to_jwk_public_key().as_ref().clone())] });
    let html = page(&app, "/admin/clients").await;
    let form = [
        ("csrf", hidden_field(&html, "csrf").unwrap()),
        ("client_id", "svc".into()),
        ("grant_type", "client_credentials".into()),
        ("auth_method", "private_key_jwt".into()),
        ("jwks", public.to_string()),
    ];
    let res = app
        .client
        .post(app.url("/admin/clients"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let html = res.text().await.unwrap();
    assert!(!html.contains("id=\"client-secret\""), "no secret shown: it has none");
    let stored = || async {
        sqlx::query_as::<_, (String, Option<Vec<u8>>, Option<serde_json::Value>, Option<String>)>(
            "SELECT auth_method, secret_hash, jwks, jwks_uri FROM clients WHERE client_id = 'svc'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    assert_eq!(stored().await, ("private_key_jwt".into(), None, Some(public), None));

    // The page shows the keys and no secret rotation; the keys move to a jwks_uri.
    let html = page(&app, "/admin/clients/svc").await;
    assert!(
        html.contains("&quot;kty&quot;") && !html.contains("Rotate the secret"),
        "{html}"
    );
    let edit = |method: &str, uri: &str| {
        [
            ("csrf", hidden_field(&html, "csrf").unwrap()),
            ("grant_type", "client_credentials".into()),
            ("auth_method", method.into()),
            ("jwks_uri", uri.into()),
        ]
    };
    let res = app
        .client
        .post(app.url("/admin/clients/svc"))
        .form(&edit("private_key_jwt", "https://svc.example/jwks"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/admin/clients/svc?done=saved");
    assert_eq!(
        stored().await,
        (
            "private_key_jwt".into(),
            None,
            None,
            Some("https://svc.example/jwks".into())
        )
    );

    // Back to a secret: the keys go and the new secret is shown once.
    let res = app
        .client
        .post(app.url("/admin/clients/svc"))
        .form(&edit("client_secret_basic", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let start =
        html.find("<pre id=\"client-secret\">").expect("the secret is shown") + "<pre id=\"client-secret\">".len();
    let secret = &html[start..start + 43];
    let (method, hash, jwks, uri) = stored().await;
    assert_eq!(
        (method.as_str(), hash, jwks, uri),
        (
            "client_secret_basic",
            Some(lanyard::crypto::secret::sha256(secret).to_vec()),
            None,
            None
        )
    );
}

#[tokio::test]
async fn a_clients_back_channel_logout_uri_is_set_on_the_page() {
    let app = admin_app().await;
    register_web(&app).await;
    let html = page(&app, "/admin/clients/web").await;
    assert!(
        html.contains("name=\"backchannel_logout_uri\""),
        "the field is on the page"
    );
    let form = |uri: &str| {
        vec![
            ("csrf", hidden_field(&html, "csrf").unwrap()),
            ("name", "Web".to_owned()),
            ("redirect_uris", "https://web.example/cb".to_owned()),
            ("grant_type", "authorization_code".to_owned()),
            ("scope", "openid".to_owned()),
            ("auth_method", "client_secret_basic".to_owned()),
            ("backchannel_logout_uri", uri.to_owned()),
            ("backchannel_logout_session_required", "on".to_owned()),
        ]
    };
    let post = |form: Vec<(&'static str, String)>| app.client.post(app.url("/admin/clients/web")).form(&form).send();
    let refused = post(form("http://web.example/bcl")).await.unwrap();
    assert_eq!(refused.status(), 400, "plain http on a public host");
    let res = post(form("https://web.example/bcl")).await.unwrap();
    assert_eq!(location(&res), "/admin/clients/web?done=saved");
    let stored: (Option<String>, bool) = sqlx::query_as(
        "SELECT backchannel_logout_uri, backchannel_logout_session_required FROM clients WHERE client_id = 'web'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, (Some("https://web.example/bcl".into()), true));
    let again = page(&app, "/admin/clients/web").await;
    assert!(again.contains("value=\"https://web.example/bcl\""), "shown again");
}
