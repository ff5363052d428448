//! Sign-in: one form, same answer for unknown users and wrong passwords,
//! throttling, disabled users, CSRF, and the session cookie.

use chrono::TimeDelta;

use crate::support::{
    ClientSpec, PASSWORD, TestApp, TestClient, auth_url, create_client, create_user, hidden_field, spawn_app,
};

async fn setup() -> (TestApp, TestClient) {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let client = create_client(&app, ClientSpec::default()).await;
    (app, client)
}

/// The sign-in page of a fresh authorization request.
async fn signin_page(app: &TestApp, client: &TestClient) -> String {
    let auth = auth_url(app, client, "openid", &[]);
    app.visit(&auth.url).await.text().await.unwrap()
}

#[tokio::test]
async fn an_unknown_user_and_a_wrong_password_get_the_same_answer() {
    let (app, client) = setup().await;
    let page = signin_page(&app, &client).await;
    let wrong = app.sign_in_on(&page, "ada", "wrong password").await;
    let (wrong_status, wrong_body) = (wrong.status(), wrong.text().await.unwrap());
    let page = signin_page(&app, &client).await;
    let unknown = app.sign_in_on(&page, "nobody", "wrong password").await;
    let (unknown_status, unknown_body) = (unknown.status(), unknown.text().await.unwrap());
    assert_eq!(wrong_status, 401);
    assert_eq!(unknown_status, wrong_status);
    let message = "Unknown username or wrong password.";
    assert!(wrong_body.contains(message) && unknown_body.contains(message));
}

#[tokio::test]
async fn five_failures_lock_the_account_with_429_until_the_window_passes() {
    let (app, client) = setup().await;
    for _ in 0..5 {
        let page = signin_page(&app, &client).await;
        assert_eq!(app.sign_in_on(&page, "ada", "wrong").await.status(), 401);
    }
    let page = signin_page(&app, &client).await;
    let res = app.sign_in_on(&page, "ada", PASSWORD).await;
    assert_eq!(res.status(), 429, "even the right password waits");
    assert!(res.text().await.unwrap().contains("Too many"));
    app.clock.advance(TimeDelta::minutes(16));
    let page = signin_page(&app, &client).await;
    assert_eq!(
        app.sign_in_on(&page, "ada", PASSWORD).await.status(),
        303,
        "never a permanent lock-out"
    );
}

#[tokio::test]
async fn a_disabled_user_is_refused() {
    let (app, client) = setup().await;
    let mut conn = app.pool.acquire().await.unwrap();
    let user = lanyard::store::users::find_by_username(&mut conn, "ada")
        .await
        .unwrap()
        .unwrap();
    lanyard::store::users::set_disabled(&mut conn, user.id, Some(chrono::Utc::now()))
        .await
        .unwrap();
    let page = signin_page(&app, &client).await;
    let res = app.sign_in_on(&page, "ada", PASSWORD).await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("disabled"));
}

#[tokio::test]
async fn a_sign_in_without_the_forms_csrf_token_is_refused() {
    let (app, client) = setup().await;
    let page = signin_page(&app, &client).await;
    let request = hidden_field(&page, "request").unwrap();
    for token in ["", "forged-token"] {
        let res = app
            .submit(
                "/signin",
                &[
                    ("csrf", token),
                    ("request", &request),
                    ("username", "ada"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(res.status(), 400, "{token:?}");
        assert!(
            res.headers()
                .get_all("set-cookie")
                .iter()
                .all(|c| !c.to_str().unwrap().contains("lanyard_session"))
        );
    }
    // A token from another browser does not fit this one.
    let other = app.with_browser(crate::support::new_browser());
    let res = other.sign_in_on(&page, "ada", PASSWORD).await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn a_cross_site_post_to_the_sign_in_form_is_refused() {
    let (app, client) = setup().await;
    let page = signin_page(&app, &client).await;
    let form = [
        ("csrf", hidden_field(&page, "csrf").unwrap()),
        ("request", hidden_field(&page, "request").unwrap()),
        ("username", "ada".into()),
        ("password", PASSWORD.into()),
    ];
    let res = app
        .client
        .post(app.url("/signin"))
        .header("Sec-Fetch-Site", "cross-site")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn the_session_cookie_is_httponly_lax_and_new_at_every_sign_in() {
    let (app, client) = setup().await;
    let page = signin_page(&app, &client).await;
    let res = app.sign_in_on(&page, "ada", PASSWORD).await;
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("lanyard_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let first = cookie.split(';').next().unwrap().to_owned();
    let auth = auth_url(&app, &client, "openid", &[("prompt", "login")]);
    let page = app.visit(&auth.url).await.text().await.unwrap();
    let res = app.sign_in_on(&page, "ada", PASSWORD).await;
    let second = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("lanyard_session="))
        .unwrap();
    assert_ne!(first, second.split(';').next().unwrap(), "a new cookie");
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE ended_at IS NULL")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(live, 1, "one live session");
    let old = reqwest::Client::new()
        .get(app.url("/signin"))
        .header("cookie", &first)
        .send()
        .await
        .unwrap();
    assert!(
        !old.text().await.unwrap().contains("form action=\"/logout\""),
        "the old cookie no longer signs in"
    );
}

#[tokio::test]
async fn signing_in_again_as_the_same_person_keeps_the_session_and_its_grants() {
    let (app, client) = setup().await;
    let tokens = app.tokens(&client, "openid", "ada").await;
    let sid = crate::support::jwt_claims(tokens["id_token"].as_str().unwrap())["sid"].clone();
    // A re-authentication (prompt=login) of the same person.
    let again = app.tokens_with(&client, "openid", "ada", &[("prompt", "login")]).await;
    let claims = crate::support::jwt_claims(again["id_token"].as_str().unwrap());
    assert_eq!(claims["sid"], sid, "the same session");
    let refreshed = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(refreshed.status(), 200, "the first sign-in's grant lives on");
    // Someone else signing in on this browser ends that session.
    create_user(&app, "bob").await;
    let other = app.tokens_with(&client, "openid", "bob", &[("prompt", "login")]).await;
    assert_ne!(
        crate::support::jwt_claims(other["id_token"].as_str().unwrap())["sid"],
        sid
    );
    let ended: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE ended_at IS NOT NULL")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(ended, 1, "ada's session ended when bob signed in");
}

#[tokio::test]
async fn a_session_ends_after_its_idle_lifetime() {
    let (app, client) = setup().await;
    app.code_for(&client, "openid", "ada").await;
    app.clock.advance(TimeDelta::seconds(7201));
    let auth = auth_url(&app, &client, "openid", &[]);
    let res = app.visit(&auth.url).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("action=\"/signin\""));
}

#[tokio::test]
async fn a_session_ends_after_its_absolute_lifetime_however_active() {
    let (app, client) = setup().await;
    app.code_for(&client, "openid", "ada").await;
    for _ in 0..7 {
        app.clock.advance(TimeDelta::seconds(6000));
        let auth = auth_url(&app, &client, "openid", &[]);
        assert_eq!(app.visit(&auth.url).await.status(), 302, "still signed in");
    }
    app.clock.advance(TimeDelta::seconds(6000));
    let auth = auth_url(&app, &client, "openid", &[]);
    assert_eq!(app.visit(&auth.url).await.status(), 200, "past 12 hours: sign in again");
}

#[tokio::test]
async fn pages_carry_the_csp_and_are_never_cached_or_cors_readable() {
    let (app, client) = setup().await;
    let auth = auth_url(&app, &client, "openid", &[]);
    let res = app
        .client
        .get(&auth.url)
        .header("Origin", "https://rp.example")
        .send()
        .await
        .unwrap();
    let h = res.headers();
    assert_eq!(
        h["content-security-policy"],
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    );
    assert!(!h["content-security-policy"].to_str().unwrap().contains("form-action"));
    assert_eq!(h["cache-control"], "no-store");
    assert!(h.get("access-control-allow-origin").is_none());
    let html = res.text().await.unwrap();
    assert!(
        !html.contains("<script") && !html.contains("style="),
        "no inline script or style"
    );
}

#[tokio::test]
async fn an_address_is_throttled_only_after_100_failures_and_only_through_trusted_proxies() {
    let app = TestApp::builder()
        .config(|c| c.trusted_proxies = vec![lanyard::config::Cidr::parse("127.0.0.1").unwrap()])
        .spawn()
        .await;
    create_user(&app, "ada").await;
    let client = create_client(&app, ClientSpec::default()).await;
    let page = signin_page(&app, &client).await;
    let form = |user: String, password: &str| {
        vec![
            ("csrf", hidden_field(&page, "csrf").unwrap()),
            ("request", hidden_field(&page, "request").unwrap()),
            ("username", user),
            ("password", password.to_owned()),
        ]
    };
    let from = |ip: &str, user: String, password: &str| {
        app.client
            .post(app.url("/signin"))
            .header("X-Forwarded-For", ip)
            .form(&form(user, password))
            .send()
    };
    // 100 failures from one office address, each on another account (no per-account delay).
    for i in 0..100 {
        assert_eq!(
            from("203.0.113.7", format!("guess{i}"), "wrong")
                .await
                .unwrap()
                .status(),
            401
        );
    }
    assert_eq!(
        from("203.0.113.7", "ada".into(), PASSWORD).await.unwrap().status(),
        429,
        "that address waits"
    );
    assert_eq!(
        from("198.51.100.1", "ada".into(), PASSWORD).await.unwrap().status(),
        303,
        "others are not locked out"
    );
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    let (app, client) = setup().await;
    let page = signin_page(&app, &client).await;
    let form = [
        ("csrf", hidden_field(&page, "csrf").unwrap()),
        ("request", hidden_field(&page, "request").unwrap()),
        ("username", "nobody".into()),
        ("password", "x".into()),
    ];
    app.client
        .post(app.url("/signin"))
        .header("X-Forwarded-For", "203.0.113.9")
        .form(&form)
        .send()
        .await
        .unwrap();
    app.audit_written().await;
    let ips: Vec<Option<String>> = sqlx::query_scalar("SELECT ip FROM audit_events WHERE kind = 'sign_in'")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(ips, vec![Some("127.0.0.1".to_owned())], "the peer, not the header");
}

#[tokio::test]
async fn the_sign_in_page_works_on_its_own_and_then_says_who_is_signed_in() {
    let (app, _) = setup().await;
    let page = app.visit("/signin").await.text().await.unwrap();
    assert!(page.contains("action=\"/signin\""));
    let res = app.sign_in_on(&page, "ada", PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(crate::support::location(&res), "/signin");
    let page = app.visit("/signin").await.text().await.unwrap();
    assert!(page.contains("You are signed in") && page.contains("ada"), "{page}");
    let csrf = hidden_field(&page, "csrf").unwrap();
    let res = app.submit("/logout", &[("confirm", "yes"), ("csrf", &csrf)]).await;
    assert_eq!(res.status(), 200);
    assert!(
        app.visit("/signin")
            .await
            .text()
            .await
            .unwrap()
            .contains("action=\"/signin\""),
        "signed out"
    );
}
