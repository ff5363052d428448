//! The account page `/account` over HTTP: each change works, needs the
//! form's CSRF token and a recent sign-in, is audited with the person as
//! actor, and touches only the person's own account.

use chrono::TimeDelta;
use serde_json::Value;
use uuid::Uuid;

use crate::support::{
    ClientSpec, PASSWORD, TestApp, TestClient, allow, auth_url, create_api, create_client, create_user, error_of,
    hidden_field, jwt_claims, location, new_browser, query_param, spawn_app,
};

const ORDERS: &str = "https://orders.example";

/// Signs `username` in on the app's browser through `/signin?return_to=/account`.
async fn sign_in(app: &TestApp, username: &str) {
    let page = app.visit("/signin?return_to=/account").await.text().await.unwrap();
    let res = app.sign_in_on(&page, username, PASSWORD).await;
    assert_eq!(location(&res), "/account", "back to the account page");
}

/// An app with ada signed in on its browser.
async fn ada_signed_in() -> (TestApp, Uuid) {
    let app = spawn_app().await;
    let sub = create_user(&app, "ada").await;
    sign_in(&app, "ada").await;
    (app, sub)
}

/// The account page as the browser sees it (it must render).
async fn page(app: &TestApp) -> String {
    let res = app.visit("/account").await;
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

/// POSTs an account form with the page's CSRF token.
async fn change(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let csrf = hidden_field(&page(app).await, "csrf").unwrap();
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    app.submit(path, &form).await
}

/// The same app in another browser, where `username` signs in too.
async fn another_browser(app: &TestApp, username: &str) -> TestApp {
    // A second later, so sessions are told apart by when they started.
    app.clock.advance(TimeDelta::seconds(1));
    let other = app.with_browser(new_browser());
    sign_in(&other, username).await;
    other
}

async fn user_claim(app: &TestApp, sub: Uuid, column: &str) -> Option<String> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {column} FROM users WHERE id = $1")))
        .bind(sub)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

fn done(what: &str) -> String {
    format!("/account?done={what}")
}

#[tokio::test]
async fn the_account_page_sends_a_stranger_to_sign_in_and_back() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let res = app.visit("/account").await;
    assert_eq!(res.status(), 302);
    assert_eq!(location(&res), "/signin?return_to=%2Faccount");
    sign_in(&app, "ada").await;
    let html = page(&app).await;
    assert!(html.contains("Your account") && html.contains("this browser"), "{html}");
    assert!(
        html.contains("Two-step sign-in and passkeys"),
        "the slot for sign-in methods"
    );
    let stranger = app.with_browser(new_browser());
    let res = stranger.submit("/account/profile", &[("name", "Mallory")]).await;
    assert_eq!(res.status(), 303, "a form without a session");
    assert_eq!(location(&res), "/signin?return_to=%2Faccount");
    let signed_in = app.visit("/signin").await.text().await.unwrap();
    assert!(
        signed_in.contains("href=\"/account\""),
        "linked from the signed-in page"
    );
}

#[tokio::test]
async fn a_profile_edit_reaches_the_id_token_and_userinfo() {
    let (app, sub) = ada_signed_in().await;
    let res = change(
        &app,
        "/account/profile",
        &[
            ("name", "Ada King"),
            ("website", "https://ada.example"),
            ("locale", "en-GB"),
        ],
    )
    .await;
    assert_eq!(location(&res), done("profile"));
    assert!(
        app.visit(&done("profile"))
            .await
            .text()
            .await
            .unwrap()
            .contains("Your profile is saved.")
    );
    assert_eq!(
        user_claim(&app, sub, "website").await.as_deref(),
        Some("https://ada.example")
    );
    assert_eq!(
        user_claim(&app, sub, "given_name").await,
        None,
        "a blank field clears its claim"
    );
    let client = create_client(&app, ClientSpec::default()).await;
    let tokens = app.tokens(&client, "openid profile", "ada").await;
    assert_eq!(jwt_claims(tokens["id_token"].as_str().unwrap())["name"], "Ada King");
    let userinfo: Value = app
        .userinfo(tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["name"], "Ada King");
    assert_eq!(userinfo["website"], "https://ada.example");
}

#[tokio::test]
async fn a_bad_profile_value_is_shown_again_with_a_message_and_saves_nothing() {
    let (app, sub) = ada_signed_in().await;
    let res = change(
        &app,
        "/account/profile",
        &[("name", "Ada King"), ("website", "javascript:alert(1)")],
    )
    .await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(html.contains("is not an http(s) URL"), "{html}");
    assert!(html.contains("value=\"Ada King\""), "the form keeps what was typed");
    assert_eq!(user_claim(&app, sub, "name").await.as_deref(), Some("ada Example"));
    let long = "x".repeat(513);
    let res = change(&app, "/account/profile", &[("name", &long)]).await;
    assert_eq!(res.status(), 400, "the admin's length rule");
}

#[tokio::test]
async fn a_non_editable_claim_cannot_be_set_by_a_crafted_post() {
    let (app, sub) = ada_signed_in().await;
    for crafted in [
        [("email", "mallory@evil.example"), ("name", "Ada")],
        [("email_verified", "on"), ("name", "Ada")],
        [("sub", "00000000-0000-0000-0000-000000000000"), ("name", "Ada")],
    ] {
        let res = change(&app, "/account/profile", &crafted).await;
        assert_eq!(res.status(), 400, "{crafted:?}");
        assert!(res.text().await.unwrap().contains("not a claim you may edit"));
    }
    assert_eq!(user_claim(&app, sub, "email").await.as_deref(), Some("ada@example.com"));
    assert_eq!(
        user_claim(&app, sub, "name").await.as_deref(),
        Some("ada Example"),
        "nothing saved"
    );
    let res = change(&app, "/account/profile", &[("name", "Ada")]).await;
    assert_eq!(location(&res), done("profile"), "positive control");
}

#[tokio::test]
async fn the_editable_claims_follow_the_setting_and_a_changed_email_is_unverified() {
    let app = TestApp::builder()
        .config(|c| c.account_editable_claims = vec![lanyard::model::ProfileClaim::Email])
        .spawn()
        .await;
    let sub = create_user(&app, "ada").await;
    sign_in(&app, "ada").await;
    let html = page(&app).await;
    assert!(
        html.contains("name=\"email\"") && !html.contains("name=\"name\""),
        "{html}"
    );
    let res = change(&app, "/account/profile", &[("email", "ada@king.example")]).await;
    assert_eq!(location(&res), done("profile"));
    let verified: bool = sqlx::query_scalar("SELECT email_verified FROM users WHERE id = $1")
        .bind(sub)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!verified, "the person proved nothing about the new address");
    let res = change(&app, "/account/profile", &[("name", "Ada")]).await;
    assert_eq!(res.status(), 400, "name is not in the setting");
}

/// Failed attempts counted on ada's account in the sign-in throttle.
async fn counted_attempts(app: &TestApp) -> i32 {
    sqlx::query_scalar("SELECT coalesce(max(attempts), 0) FROM login_throttle WHERE key = $1")
        .bind(lanyard::protocol::signin::account_key("ada"))
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

fn password_form<'a>(current: &'a str, new: &'a str, again: &'a str) -> [(&'static str, &'a str); 3] {
    [
        ("current_password", current),
        ("new_password", new),
        ("new_password_again", again),
    ]
}

#[tokio::test]
async fn a_wrong_current_password_is_refused_and_counted_in_the_throttle() {
    let (app, _) = ada_signed_in().await;
    assert_eq!(counted_attempts(&app).await, 0);
    let res = change(
        &app,
        "/account/password",
        &password_form("wrong", "a new secret phrase", "a new secret phrase"),
    )
    .await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("Your current password is wrong."));
    assert_eq!(counted_attempts(&app).await, 1, "counted like a failed sign-in");
    let other = app.with_browser(new_browser());
    let html = other.visit("/signin").await.text().await.unwrap();
    assert_eq!(
        other.sign_in_on(&html, "ada", "a new secret phrase").await.status(),
        401,
        "unchanged"
    );
}

#[tokio::test]
async fn password_guesses_on_the_account_page_share_the_sign_in_budget() {
    let (app, _) = ada_signed_in().await;
    for _ in 0..lanyard::protocol::signin::ACCOUNT_LIMIT {
        let res = change(
            &app,
            "/account/password",
            &password_form("wrong", "a new secret phrase", "a new secret phrase"),
        )
        .await;
        assert_eq!(res.status(), 401);
    }
    let res = change(
        &app,
        "/account/password",
        &password_form(PASSWORD, "a new secret phrase", "a new secret phrase"),
    )
    .await;
    assert_eq!(res.status(), 429, "even the right password waits out the window");
    let stranger = app.with_browser(new_browser());
    let html = stranger.visit("/signin").await.text().await.unwrap();
    assert_eq!(
        stranger.sign_in_on(&html, "ada", PASSWORD).await.status(),
        429,
        "the sign-in page counts the same guesses"
    );
}

#[tokio::test]
async fn a_new_password_must_be_typed_twice_alike_and_follow_the_rules() {
    let (app, _) = ada_signed_in().await;
    let res = change(
        &app,
        "/account/password",
        &password_form(PASSWORD, "a new secret phrase", "a new secret phrasE"),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("the two new passwords differ"));
    let long = "p".repeat(1025);
    let res = change(&app, "/account/password", &password_form(PASSWORD, &long, &long)).await;
    assert_eq!(res.status(), 400, "the admin's and CLI's length rule");
    assert_eq!(counted_attempts(&app).await, 0, "a refused form costs no guess");
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_and_keeps_this_one() {
    let (app, _) = ada_signed_in().await;
    let other = another_browser(&app, "ada").await;
    let client = create_client(&app, ClientSpec::default()).await;
    let offline = other.tokens(&client, "openid offline_access", "ada").await;
    let res = change(
        &app,
        "/account/password",
        &password_form(PASSWORD, "a new secret phrase", "a new secret phrase"),
    )
    .await;
    assert_eq!(location(&res), done("password"));
    let html = app.visit(&done("password")).await.text().await.unwrap();
    assert!(
        html.contains("Your other sessions have ended."),
        "this browser stays: {html}"
    );
    assert_eq!(
        other.visit("/account").await.status(),
        302,
        "the other browser is signed out"
    );
    let res = app
        .refresh(&client, offline["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(
        error_of(res).await,
        (400, "invalid_grant".into()),
        "its offline grant too"
    );
    let fresh = app.with_browser(new_browser());
    let html = fresh.visit("/signin").await.text().await.unwrap();
    assert_eq!(fresh.sign_in_on(&html, "ada", PASSWORD).await.status(), 401);
    let html = fresh.visit("/signin").await.text().await.unwrap();
    assert_eq!(
        fresh.sign_in_on(&html, "ada", "a new secret phrase").await.status(),
        303
    );
}

/// The id of the session the other browser holds.
async fn other_session(app: &TestApp, sub: Uuid) -> Uuid {
    sqlx::query_scalar(
        "SELECT id FROM sessions WHERE user_id = $1 AND ended_at IS NULL ORDER BY created_at DESC LIMIT 1",
    )
    .bind(sub)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn ending_another_session_makes_it_unusable_and_ends_its_grants() {
    let (app, sub) = ada_signed_in().await;
    let other = another_browser(&app, "ada").await;
    let client = create_client(&app, ClientSpec::default()).await;
    let tokens = other.tokens(&client, "openid", "ada").await;
    let id = other_session(&app, sub).await;
    let html = page(&app).await;
    assert!(html.contains(&id.to_string()), "both sessions are listed");
    let res = change(&app, "/account/sessions/end", &[("session", &id.to_string())]).await;
    assert_eq!(location(&res), done("session"));
    assert_eq!(other.visit("/account").await.status(), 302, "signed out");
    let res = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(
        error_of(res).await,
        (400, "invalid_grant".into()),
        "its online grant ended"
    );
    assert_eq!(
        app.userinfo(tokens["access_token"].as_str().unwrap()).await.status(),
        401
    );
    assert_eq!(
        page(&app).await.matches("class=\"badge\"").count(),
        1,
        "this one stays, alone"
    );
}

#[tokio::test]
async fn signing_out_everywhere_else_keeps_this_browser() {
    let (app, _) = ada_signed_in().await;
    let second = another_browser(&app, "ada").await;
    let third = another_browser(&app, "ada").await;
    let res = change(&app, "/account/sessions/end-others", &[]).await;
    assert_eq!(location(&res), done("others"));
    assert_eq!(second.visit("/account").await.status(), 302);
    assert_eq!(third.visit("/account").await.status(), 302);
    assert_eq!(app.visit("/account").await.status(), 200);
}

#[tokio::test]
async fn another_persons_session_cannot_be_ended() {
    let (app, _) = ada_signed_in().await;
    let bob = create_user(&app, "bob").await;
    let bobs_browser = another_browser(&app, "bob").await;
    let bobs = other_session(&app, bob).await;
    let res = change(&app, "/account/sessions/end", &[("session", &bobs.to_string())]).await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        bobs_browser.visit("/account").await.status(),
        200,
        "bob is still signed in"
    );
}

/// A third-party client to which ada consented `openid offline_access` and
/// `read` of the orders API; returns it and its token response.
async fn ada_connects_an_app(app: &TestApp) -> (TestClient, Value) {
    create_api(app, ORDERS, &["read"], None, &[]).await;
    let spec = ClientSpec {
        id: "third",
        first_party: false,
        grants: crate::support::EXCHANGE_GRANTS,
        ..Default::default()
    };
    let third = create_client(app, spec).await;
    allow(app, &third.id, ORDERS, &["read"]).await;
    let auth = auth_url(app, &third, "openid offline_access read", &[("resource", ORDERS)]);
    let res = app.authorize(&auth.url, "ada").await;
    let code = query_param(&location(&res), "code").unwrap();
    let tokens = app.redeem(&third, &code, &auth.verifier).await;
    (third, tokens)
}

async fn introspect(app: &TestApp, client: &TestClient, token: &str) -> Value {
    app.post_as(client, "/introspect", &[("token", token)])
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn withdrawing_an_app_ends_its_refresh_tokens_and_exchanged_tokens() {
    let (app, _) = ada_signed_in().await;
    let (third, tokens) = ada_connects_an_app(&app).await;
    let exchanged = app
        .assert_exchanges(&third, tokens["id_token"].as_str().unwrap(), &[("resource", ORDERS)])
        .await;
    let exchanged = exchanged["access_token"].as_str().unwrap();
    assert_eq!(
        introspect(&app, &third, exchanged).await["active"],
        true,
        "positive control"
    );
    let html = page(&app).await;
    assert!(
        html.contains("third app") && html.contains("stay connected while you are signed out"),
        "the scopes in words: {html}"
    );
    assert!(
        html.contains("https://orders.example</span>: read"),
        "the API and its scopes: {html}"
    );
    let res = change(&app, "/account/apps/withdraw", &[("client_id", "third")]).await;
    assert_eq!(location(&res), done("app"));
    let res = app
        .refresh(&third, tokens["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(error_of(res).await, (400, "invalid_grant".into()));
    assert_eq!(
        introspect(&app, &third, exchanged).await,
        serde_json::json!({ "active": false })
    );
    let code_token = tokens["access_token"].as_str().unwrap();
    assert_eq!(introspect(&app, &third, code_token).await["active"], false);
    assert!(!page(&app).await.contains("third app"), "no longer listed");
    let consents: i64 = sqlx::query_scalar("SELECT count(*) FROM consents")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(consents, 0);
}

#[tokio::test]
async fn an_app_without_a_consent_of_the_person_cannot_be_withdrawn() {
    let (app, _) = ada_signed_in().await;
    let res = change(&app, "/account/apps/withdraw", &[("client_id", "nobody")]).await;
    assert_eq!(res.status(), 404);
}

/// Every change the page makes, with a form that would otherwise succeed.
fn every_change(session: &str) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    vec![
        ("/account/sessions/end", vec![("session", session.to_owned())]),
        ("/account/sessions/end-others", vec![]),
        ("/account/profile", vec![("name", "Ada King".into())]),
        ("/account/apps/withdraw", vec![("client_id", "third".into())]),
        (
            "/account/password",
            password_form(PASSWORD, "a new secret phrase", "a new secret phrase")
                .iter()
                .map(|(k, v)| (*k, v.to_string()))
                .collect(),
        ),
    ]
}

/// ada, with another session and a connected app: something for every change.
async fn ada_with_everything() -> (TestApp, TestApp, String) {
    let (app, sub) = ada_signed_in().await;
    let other = another_browser(&app, "ada").await;
    let session = other_session(&app, sub).await.to_string();
    ada_connects_an_app(&app).await;
    (app, other, session)
}

/// Asserts that none of `every_change` happened.
async fn assert_nothing_changed(app: &TestApp, other: &TestApp) {
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM users WHERE username = 'ada'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("ada Example"));
    assert_eq!(other.visit("/account").await.status(), 200, "the other session lives");
    let consents: i64 = sqlx::query_scalar("SELECT count(*) FROM consents")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(consents, 1);
    let fresh = app.with_browser(new_browser());
    let html = fresh.visit("/signin").await.text().await.unwrap();
    assert_eq!(
        fresh.sign_in_on(&html, "ada", PASSWORD).await.status(),
        303,
        "the old password"
    );
}

#[tokio::test]
async fn every_change_needs_the_forms_csrf_token() {
    let (app, other, session) = ada_with_everything().await;
    for (path, fields) in every_change(&session) {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = app.submit(path, &fields).await;
        assert_eq!(res.status(), 400, "{path} without a token");
        let mut forged = fields.clone();
        forged.push(("csrf", "forged"));
        assert_eq!(
            app.submit(path, &forged).await.status(),
            400,
            "{path} with a forged token"
        );
        let csrf = hidden_field(&page(&app).await, "csrf").unwrap();
        let mut cross = fields.clone();
        cross.push(("csrf", &csrf));
        let res = app
            .client
            .post(app.url(path))
            .header("sec-fetch-site", "cross-site")
            .form(&cross)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{path} from another site");
    }
    assert_nothing_changed(&app, &other).await;
    let res = change(&app, "/account/profile", &[("name", "Ada King")]).await;
    assert_eq!(location(&res), done("profile"), "positive control: with its token");
}

#[tokio::test]
async fn every_change_needs_a_recent_sign_in() {
    let (app, other, session) = ada_with_everything().await;
    let csrf = hidden_field(&page(&app).await, "csrf").unwrap();
    app.clock.advance(TimeDelta::minutes(16));
    for (path, fields) in every_change(&session) {
        let mut form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        form.push(("csrf", &csrf));
        let res = app.submit(path, &form).await;
        assert_eq!(res.status(), 303, "{path}");
        assert_eq!(location(&res), "/signin?reauth=1&return_to=%2Faccount", "{path}");
    }
    assert_nothing_changed(&app, &other).await;
    // Signing in again (the sign-in page asks for the password) brings ada back, and the change works.
    let html = app
        .visit("/signin?reauth=1&return_to=%2Faccount")
        .await
        .text()
        .await
        .unwrap();
    let res = app.sign_in_on(&html, "ada", PASSWORD).await;
    assert_eq!(location(&res), "/account");
    let res = change(&app, "/account/profile", &[("name", "Ada King")]).await;
    assert_eq!(location(&res), done("profile"));
}

#[tokio::test]
async fn every_change_is_audited_with_the_person_as_actor() {
    let (app, other, session) = ada_with_everything().await;
    drop(other);
    for (path, fields) in every_change(&session) {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = change(&app, path, &fields).await;
        assert_eq!(res.status(), 303, "{path}");
    }
    app.audit_written().await;
    let mut reasons: Vec<String> = sqlx::query_scalar(
        "SELECT reason FROM audit_events WHERE kind = 'account' AND actor = 'ada' AND outcome = 'ok'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "end other sessions",
            "end session",
            "password",
            "profile",
            "withdraw consent"
        ]
    );
}
