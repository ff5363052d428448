//! Passkeys without a browser: the ceremonies' JSON endpoints refuse what
//! is not theirs (no CSRF token, another site, an unknown ceremony, a
//! credential that does not parse) with a 4xx JSON error; passkeys are off
//! for an IP-address issuer; a passkey makes the password alone not enough,
//! and what the second step offers; the admin's reset removes passkeys.
//! (The ceremonies themselves, with Chromium's virtual authenticator, are in
//! `passkeys_browser`.)

use serde_json::{Value, json};

use crate::support::{
    ClientSpec, TestApp, allow, auth_url, create_api, create_client, create_user, lanyard, location, spawn_app,
};
use crate::two_step::{set_up_authenticator, sign_in};

const API: &str = "https://vault.example";

/// The CSRF token a page gives its passkey script (`data-csrf`).
pub fn data_csrf(html: &str) -> String {
    let start = html.find("data-csrf=\"").expect("a passkey button with its CSRF token") + "data-csrf=\"".len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

/// POSTs JSON as the page's script does, with `csrf` in `X-CSRF-Token`.
pub async fn post_json(app: &TestApp, path: &str, csrf: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).json(body);
    if let Some(csrf) = csrf {
        req = req.header("X-CSRF-Token", csrf);
    }
    req.send().await.expect("request")
}

async fn json_error(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("a JSON error body");
    assert!(body["error_description"].is_string(), "{body}");
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

/// An assertion shaped like a browser's (W3C WebAuthn §5.2.2), signed by no one.
fn well_formed_assertion() -> Value {
    json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": { "authenticatorData": "AAAA", "clientDataJSON": "e30", "signature": "AAAA", "userHandle": null },
        "extensions": {}
    })
}

/// The sign-in page on a `localhost` app, and its passkey CSRF token.
async fn signin_page(app: &TestApp) -> String {
    let html = app.visit("/signin").await.text().await.unwrap();
    data_csrf(&html)
}

#[tokio::test]
async fn the_passkey_endpoints_refuse_a_request_without_the_pages_csrf_token() {
    let app = TestApp::builder().localhost().spawn().await;
    let csrf = signin_page(&app).await;
    let asked = json!({ "conditional": false });
    let res = post_json(&app, "/signin/passkey/options", Some(&csrf), &asked).await;
    assert_eq!(res.status(), 200, "positive control");
    let options: Value = res.json().await.unwrap();
    assert!(options["options"]["publicKey"]["challenge"].is_string(), "{options}");
    assert_eq!(options["options"]["publicKey"]["rpId"], "localhost");
    assert_eq!(options["options"]["publicKey"]["userVerification"], "required");
    for csrf in [None, Some("forged")] {
        let res = post_json(&app, "/signin/passkey/options", csrf, &asked).await;
        assert_eq!(json_error(res).await, (400, "invalid_request".to_owned()));
    }
}

#[tokio::test]
async fn a_cross_site_passkey_request_is_refused() {
    let app = TestApp::builder().localhost().spawn().await;
    let csrf = signin_page(&app).await;
    let res = app
        .client
        .post(app.url("/signin/passkey/options"))
        .header("X-CSRF-Token", &csrf)
        .header("Sec-Fetch-Site", "cross-site")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(res).await, (403, "access_denied".to_owned()));
}

#[tokio::test]
async fn an_unknown_ceremony_is_refused_with_400() {
    let app = TestApp::builder().localhost().spawn().await;
    let csrf = signin_page(&app).await;
    for ceremony in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        let body = json!({ "ceremony": ceremony, "credential": well_formed_assertion() });
        let res = post_json(&app, "/signin/passkey", Some(&csrf), &body).await;
        assert_eq!(json_error(res).await, (400, "invalid_request".to_owned()), "{ceremony}");
    }
}

#[tokio::test]
async fn a_garbage_credential_is_refused_with_400() {
    let app = TestApp::builder().localhost().spawn().await;
    let csrf = signin_page(&app).await;
    let res = post_json(&app, "/signin/passkey/options", Some(&csrf), &json!({})).await;
    let ceremony = res.json::<Value>().await.unwrap()["ceremony"].clone();
    for credential in [json!({ "nonsense": true }), json!("text"), json!(null)] {
        let body = json!({ "ceremony": ceremony, "credential": credential });
        let res = post_json(&app, "/signin/passkey", Some(&csrf), &body).await;
        assert_eq!(
            json_error(res).await,
            (400, "invalid_request".to_owned()),
            "{credential}"
        );
    }
    let res = app
        .client
        .post(app.url("/signin/passkey"))
        .header("X-CSRF-Token", &csrf)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(res).await, (400, "invalid_request".to_owned()), "not JSON");
}

#[tokio::test]
async fn passkeys_are_off_when_the_issuer_host_is_an_ip_address() {
    let app = spawn_app().await;
    create_user(&app, "ada").await;
    let html = app.visit("/signin").await.text().await.unwrap();
    assert!(!html.contains("passkey"), "no passkey button: {html}");
    assert!(html.contains("autocomplete=\"username\""), "{html}");
    sign_in(&app, "ada").await;
    let html = app.visit("/account/passkeys").await.text().await.unwrap();
    assert!(html.contains("passkeys are off"), "{html}");
    assert!(
        html.contains("http://localhost:PORT"),
        "the page says what to do: {html}"
    );
    assert!(!html.contains("id=\"passkey-add\""), "{html}");
}

#[tokio::test]
async fn adding_a_passkey_needs_a_recent_sign_in() {
    let app = TestApp::builder().localhost().spawn().await;
    create_user(&app, "ada").await;
    sign_in(&app, "ada").await;
    let html = app.visit("/account/passkeys").await.text().await.unwrap();
    let csrf = data_csrf(&html);
    let res = post_json(&app, "/account/passkeys/options", Some(&csrf), &json!({})).await;
    assert_eq!(res.status(), 200, "positive control");
    let options: Value = res.json().await.unwrap();
    let selection = &options["options"]["publicKey"]["authenticatorSelection"];
    assert_eq!(
        selection["residentKey"], "required",
        "a discoverable credential: {options}"
    );
    assert_eq!(selection["userVerification"], "required", "{options}");
    sqlx::query("UPDATE sessions SET auth_time = auth_time - interval '1 hour'")
        .execute(&app.pool)
        .await
        .unwrap();
    let res = post_json(&app, "/account/passkeys/options", Some(&csrf), &json!({})).await;
    assert_eq!(json_error(res).await, (401, "login_required".to_owned()));
}

/// What a second-step page offers: (the passkey, the code form).
fn offered(html: &str) -> (bool, bool) {
    (
        html.contains("id=\"passkey-step\""),
        html.contains("action=\"/signin/step\""),
    )
}

/// A passkey row as registration stores it (its credential is not used here).
async fn give_passkey(app: &TestApp, user: uuid::Uuid, name: &str) {
    sqlx::query(
        "INSERT INTO passkeys (id, user_id, credential_id, passkey, name, backup_eligible, backup_state, created_at)
         VALUES ($1, $2, $3, '{}', $4, false, false, now())",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(user)
    .bind(uuid::Uuid::new_v4().as_bytes().to_vec())
    .bind(name)
    .execute(&app.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_person_with_a_passkey_is_asked_for_it_after_the_password() {
    let app = TestApp::builder().localhost().spawn().await;
    let ada = create_user(&app, "ada").await;
    assert_eq!(
        sign_in(&app, "ada").await.status(),
        303,
        "positive control: no factor yet"
    );
    give_passkey(&app, ada, "Laptop").await;
    let other = app.with_browser(crate::support::new_browser());
    let res = sign_in(&other, "ada").await;
    assert_eq!(res.status(), 200, "a second step, no session yet");
    let html = res.text().await.unwrap();
    assert_eq!(
        offered(&html),
        (true, false),
        "a passkey, no code form without an app: {html}"
    );
}

#[tokio::test]
async fn a_phishing_resistant_step_up_offers_only_the_passkey() {
    let app = TestApp::builder().localhost().spawn().await;
    let ada = create_user(&app, "ada").await;
    sign_in(&app, "ada").await;
    let authenticator = set_up_authenticator(&app).await;
    give_passkey(&app, ada, "Phone").await;
    let rp = create_client(&app, ClientSpec::exchanging()).await;
    create_api(&app, API, &["open"], None, &["rp"]).await;
    allow(&app, "rp", API, &["open"]).await;
    let other = app.with_browser(crate::support::new_browser());
    let html = sign_in(&other, "ada").await.text().await.unwrap();
    assert_eq!(offered(&html), (true, true), "both: {html}");
    let res = crate::two_step::second_step(&other, &html, &authenticator.next_code(&app)).await;
    assert_eq!(res.status(), 303, "signed in with a code");
    lanyard(&["api", "update", API, "--min-acr", "phishing-resistant"])
        .db(&app.db)
        .run()
        .await
        .assert_ok();
    app.settle().await;
    let auth = auth_url(&other, &rp, "openid", &[("resource", API)]);
    let res = other.visit(&auth.url).await;
    let html = res.text().await.unwrap();
    assert!(html.contains("Confirm it is you"), "a step-up, not a refusal: {html}");
    assert_eq!(
        offered(&html),
        (true, false),
        "a code cannot reach phishing-resistant: {html}"
    );
}

#[tokio::test]
async fn resetting_the_second_factors_removes_the_passkeys() {
    let app = TestApp::builder().localhost().spawn().await;
    let ada = create_user(&app, "ada").await;
    give_passkey(&app, ada, "Security key").await;
    let listed = lanyard(&["user", "mfa", "ada", "--json"]).db(&app.db).run().await;
    listed.assert_ok();
    assert_eq!(
        listed.json()["passkeys"][0]["name"],
        "Security key",
        "{}",
        listed.stdout
    );
    let listed = lanyard(&["user", "mfa", "ada"]).db(&app.db).run().await;
    assert!(listed.stdout.contains("passkey \"Security key\""), "{}", listed.stdout);
    lanyard(&["user", "mfa", "ada", "--reset"])
        .db(&app.db)
        .run()
        .await
        .assert_ok();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM passkeys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(
        location(&sign_in(&app, "ada").await),
        "/signin",
        "the password alone signs in again"
    );
}

#[tokio::test]
async fn a_passkey_is_renamed_and_removed_without_javascript() {
    let app = TestApp::builder().localhost().spawn().await;
    let ada = create_user(&app, "ada").await;
    sign_in(&app, "ada").await;
    give_passkey(&app, ada, "Laptop").await;
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM passkeys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let (id, name_of) = (id.to_string(), "SELECT name FROM passkeys");
    let html = app.visit("/account/passkeys").await.text().await.unwrap();
    let csrf = crate::support::hidden_field(&html, "csrf").unwrap();
    let long = "x".repeat(65);
    let res = app
        .submit(
            "/account/passkeys/rename",
            &[("csrf", &csrf), ("id", &id), ("name", &long)],
        )
        .await;
    assert_eq!(res.status(), 400, "a name of 65 characters");
    let res = app
        .submit(
            "/account/passkeys/rename",
            &[("csrf", "forged"), ("id", &id), ("name", "Work")],
        )
        .await;
    assert_eq!(res.status(), 400, "CSRF");
    let res = app
        .submit(
            "/account/passkeys/rename",
            &[("csrf", &csrf), ("id", &id), ("name", " Work ")],
        )
        .await;
    assert_eq!(location(&res), "/account/passkeys?done=renamed");
    let name: String = sqlx::query_scalar(name_of).fetch_one(&app.pool).await.unwrap();
    assert_eq!(name, "Work");
    let res = app
        .submit("/account/passkeys/remove", &[("csrf", &csrf), ("id", &id)])
        .await;
    assert_eq!(
        location(&res),
        "/signin/step?return_to=%2Faccount%2Fpasskeys",
        "a session signed in with the password alone proves the passkey first"
    );
    // As a step-up with the passkey would leave the session (the browser
    // tests do it with a real authenticator).
    sqlx::query("UPDATE sessions SET amr = '{pwd,hwk,mfa}'")
        .execute(&app.pool)
        .await
        .unwrap();
    let res = app
        .submit("/account/passkeys/remove", &[("csrf", &csrf), ("id", &id)])
        .await;
    assert_eq!(location(&res), "/account/passkeys?done=removed");
    let res = app
        .submit("/account/passkeys/remove", &[("csrf", &csrf), ("id", &id)])
        .await;
    assert_eq!(res.status(), 404, "gone");
    app.audit_written().await;
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE kind = 'account' AND reason LIKE '%passkey'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(audited, 2, "renamed and removed, audited");
}

#[tokio::test]
async fn codes_typed_for_a_passkey_person_never_hold_up_their_passkey() {
    let app = TestApp::builder().localhost().spawn().await;
    let ada = create_user(&app, "ada").await;
    give_passkey(&app, ada, "Laptop").await;
    // Whoever knows the password types codes at the second step.
    let other = app.with_browser(crate::support::new_browser());
    let html = sign_in(&other, "ada").await.text().await.unwrap();
    for _ in 0..7 {
        // No code form on the page: a crafted post, with the page's token.
        let form = [
            ("csrf", data_csrf(&html)),
            ("mode", "sign-in".into()),
            ("code", "000000".into()),
        ];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = other.submit("/signin/step", &form).await;
        let status = res.status();
        assert_eq!(
            status,
            401,
            "no code to guess: refused, never counted: {}",
            res.text().await.unwrap()
        );
    }
    let counted: i64 = sqlx::query_scalar("SELECT count(*) FROM login_throttle WHERE key LIKE 'second-step:%'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(counted, 0, "the passkey's budget is untouched");
}

#[tokio::test]
async fn with_passkeys_off_a_passkey_person_still_needs_a_second_step() {
    let app = spawn_app().await; // an IP-address issuer: passkeys are off
    let ada = create_user(&app, "ada").await;
    give_passkey(&app, ada, "Laptop").await;
    let res = sign_in(&app, "ada").await;
    assert_eq!(res.status(), 200, "not let in with the password alone");
    assert!(
        !res.cookies()
            .any(|c| c.name() == "lanyard_session" && !c.value().is_empty())
    );
}

#[tokio::test]
async fn a_session_that_proved_a_code_may_change_passkeys() {
    let app = TestApp::builder().localhost().spawn().await;
    let ada = create_user(&app, "ada").await;
    sign_in(&app, "ada").await;
    let totp = set_up_authenticator(&app).await;
    give_passkey(&app, ada, "Lost phone").await;
    let browser = crate::two_step::signed_in_with_code(&app, "ada", &totp).await;
    let html = browser.visit("/account/passkeys").await.text().await.unwrap();
    let res = post_json(
        &browser,
        "/account/passkeys/options",
        Some(&data_csrf(&html)),
        &json!({}),
    )
    .await;
    assert_eq!(
        res.status(),
        200,
        "a code proves a second factor: no loop back to the step"
    );
    let csrf = crate::support::hidden_field(&html, "csrf").unwrap();
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM passkeys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let res = browser
        .submit("/account/passkeys/remove", &[("csrf", &csrf), ("id", &id.to_string())])
        .await;
    assert_eq!(
        location(&res),
        "/account/passkeys?done=removed",
        "the lost passkey removed"
    );
}

#[tokio::test]
async fn a_passkey_name_cannot_hide_or_reverse_text() {
    let app = TestApp::builder().localhost().spawn().await;
    let ada = create_user(&app, "ada").await;
    sign_in(&app, "ada").await;
    give_passkey(&app, ada, "Laptop").await;
    sqlx::query("UPDATE sessions SET amr = '{pwd,hwk,mfa}'")
        .execute(&app.pool)
        .await
        .unwrap();
    let html = app.visit("/account/passkeys").await.text().await.unwrap();
    let csrf = crate::support::hidden_field(&html, "csrf").unwrap();
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM passkeys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    for name in ["Work\u{202E}enohp", "Wo\u{200B}rk"] {
        let res = app
            .submit(
                "/account/passkeys/rename",
                &[("csrf", &csrf), ("id", &id.to_string()), ("name", name)],
            )
            .await;
        assert_eq!(res.status(), 400, "{name:?}");
    }
}

#[tokio::test]
async fn refused_passkeys_count_against_their_address_as_wrong_passwords_do() {
    let app = TestApp::builder().localhost().spawn().await;
    let csrf = signin_page(&app).await;
    let res = post_json(&app, "/signin/passkey/options", Some(&csrf), &json!({})).await;
    let ceremony = res.json::<Value>().await.unwrap()["ceremony"].clone();
    let body = json!({ "ceremony": ceremony, "credential": well_formed_assertion() });
    assert_eq!(
        post_json(&app, "/signin/passkey", Some(&csrf), &body).await.status(),
        400
    );
    let counted: i32 = sqlx::query_scalar("SELECT attempts FROM login_throttle WHERE key = 'ip:127.0.0.1'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(counted, 1, "a refused passkey is a failure of its address");
    sqlx::query("UPDATE login_throttle SET attempts = 100 WHERE key = 'ip:127.0.0.1'")
        .execute(&app.pool)
        .await
        .unwrap();
    let res = post_json(&app, "/signin/passkey", Some(&csrf), &body).await;
    assert_eq!(
        json_error(res).await,
        (429, "too_many_attempts".to_owned()),
        "past the address's budget"
    );
}
