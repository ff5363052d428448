//! Passkeys in a real browser: headless Chromium with the WebDriver
//! WebAuthn extension's virtual authenticator (W3C WebAuthn §11: a CTAP2
//! platform authenticator with resident keys and user verification).
//! Screenshots: `target/screenshots/passkeys-*.png`.
//!
//! A page that starts the username field's autofill (conditional
//! mediation) is answered at once by a virtual authenticator holding a
//! credential for the site; to press a button instead, a test takes the
//! authenticator away before the page loads and puts it back after.

use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::browser::{browser, click, fill, relying_party, screenshot, wait_for_url};
use crate::support::{EXCHANGE_GRANTS, PASSWORD, TestApp, TestClient, auth_url, create_user, jwt_claims, query_param};

/// `{method} /session/{id}/{path}` with a JSON body: the WebDriver
/// extension commands fantoccini has no method for.
#[derive(Debug)]
struct SessionCmd {
    method: http::Method,
    path: String,
    body: Option<Value>,
}

impl WebDriverCompatibleCommand for SessionCmd {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/{}", session_id.unwrap_or_default(), self.path))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (self.method.clone(), self.body.as_ref().map(Value::to_string))
    }
}

/// A virtual authenticator of the browser's tab (W3C WebAuthn §11.3).
struct Authenticator<'a> {
    browser: &'a Client,
    id: String,
}

impl<'a> Authenticator<'a> {
    /// A platform authenticator with resident keys that verifies its user.
    async fn add(browser: &'a Client) -> Self {
        let body = json!({
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
            "hasUserVerification": true, "isUserConsenting": true, "isUserVerified": true,
        });
        let id = browser
            .issue_cmd(SessionCmd {
                method: http::Method::POST,
                path: "webauthn/authenticator".into(),
                body: Some(body),
            })
            .await
            .expect("a virtual authenticator (§11.3)");
        Self {
            browser,
            id: id.as_str().unwrap().to_owned(),
        }
    }

    async fn call(&self, method: http::Method, tail: &str, body: Option<Value>) -> Value {
        let path = format!("webauthn/authenticator/{}{tail}", self.id);
        self.browser
            .issue_cmd(SessionCmd { method, path, body })
            .await
            .expect("a virtual authenticator command")
    }

    async fn credentials(&self) -> Vec<Value> {
        let all = self.call(http::Method::GET, "/credentials", None).await;
        all.as_array().cloned().unwrap_or_default()
    }

    async fn set_user_verified(&self, verified: bool) {
        let body = json!({ "isUserVerified": verified });
        self.call(http::Method::POST, "/uv", Some(body)).await;
    }

    /// Removes the authenticator, keeping its credentials (§11.4, §11.7).
    async fn take_away(self) -> Vec<Value> {
        let credentials = self.credentials().await;
        self.call(http::Method::DELETE, "", None).await;
        credentials
    }

    /// A new authenticator holding these credentials (§11.6).
    async fn holding(browser: &'a Client, credentials: &[Value]) -> Self {
        let authenticator = Self::add(browser).await;
        for credential in credentials {
            authenticator
                .call(http::Method::POST, "/credential", Some(credential.clone()))
                .await;
        }
        authenticator
    }
}

/// A first-party client of a relying party the browser can land on.
async fn rp_client(app: &TestApp) -> TestClient {
    let rp = relying_party().await;
    let redirect_uri = format!("{rp}/callback");
    let input = lanyard::admin::clients::NewClientInput {
        client_id: "rp".into(),
        name: Some("Vault".into()),
        redirect_uris: vec![redirect_uri.clone()],
        grant_types: EXCHANGE_GRANTS.iter().map(|g| g.to_string()).collect(),
        scopes: vec!["openid".into()],
        first_party: true,
        ..Default::default()
    };
    let created = lanyard::admin::clients::create(&app.pool, &app.clock, &mut rand::rng(), input)
        .await
        .unwrap();
    app.settle().await;
    TestClient {
        id: created.client_id,
        secret: created.client_secret,
        redirect_uri,
    }
}

/// Waits for an element to be shown. A page that navigates meanwhile makes
/// chromedriver answer "aborted by navigation" instead of "no such element"
/// (one failed CI run): that is a reason to look again, not a failure.
async fn visible(b: &Client, css: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = b
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(&format!("{css}:not([hidden])")))
            .await;
        match found {
            Ok(_) => return,
            Err(e) if e.to_string().contains("aborted by navigation") && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{css} is shown: {e}"),
        }
    }
}

/// Signs the browser in with ada's password on the sign-in page alone.
async fn password(b: &Client, app: &TestApp) {
    b.goto(&app.url("/signin")).await.unwrap();
    fill(b, "#username", "ada").await;
    fill(b, "#password", PASSWORD).await;
    click(b, "form[action='/signin'] button[type=submit]").await;
    // Signed in, or at the second step: the answer has arrived.
    b.wait()
        .for_element(Locator::Css("form[action='/logout'], form[action='/signin/step']"))
        .await
        .unwrap();
}

/// Adds a passkey named `name` from the account page.
async fn register<'a>(b: &'a Client, app: &TestApp, name: &str) -> Authenticator<'a> {
    b.goto(&app.url("/account/passkeys")).await.unwrap();
    visible(b, "#passkey-add").await;
    let authenticator = Authenticator::add(b).await;
    fill(b, "#passkey-name", name).await;
    click(b, "#passkey-add").await;
    visible(b, "#passkeys-done").await;
    authenticator
}

async fn sign_out(b: &Client, app: &TestApp) {
    b.goto(&app.url("/logout")).await.unwrap();
    click(b, "button[name=confirm]").await;
    b.wait().for_element(Locator::Css("h1")).await.unwrap();
}

/// Ada, signed in with her password, with one passkey, then signed out;
/// the authenticator taken away (its credentials returned).
async fn ada_with_a_passkey(b: &Client, app: &TestApp) -> Vec<Value> {
    create_user(app, "ada").await;
    password(b, app).await;
    let authenticator = register(b, app, "Laptop").await;
    sign_out(b, app).await;
    authenticator.take_away().await
}

/// The sign-in page, loaded with no authenticator (so no autofill starts),
/// then an authenticator holding these credentials.
async fn signin_page_holding<'a>(b: &'a Client, app: &TestApp, saved: &[Value]) -> Authenticator<'a> {
    b.goto(&app.url("/signin")).await.unwrap();
    visible(b, "#passkey-signin").await;
    Authenticator::holding(b, saved).await
}

/// The error the page shows once a passkey was refused.
async fn passkey_error(b: &Client) -> String {
    visible(b, "#passkey-error").await;
    let shown = b.find(Locator::Css("#passkey-error")).await.unwrap();
    shown.text().await.unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// The id_token of the code the browser landed with.
async fn id_token_at(b: &Client, app: &TestApp, client: &TestClient, verifier: &str) -> String {
    let landed = wait_for_url(b, &client.redirect_uri).await;
    let code = query_param(landed.as_str(), "code").unwrap_or_else(|| panic!("a code: {landed}"));
    let tokens = app.redeem(client, &code, verifier).await;
    tokens["id_token"].as_str().unwrap().to_owned()
}

/// The claims of that id_token.
async fn claims_at(b: &Client, app: &TestApp, client: &TestClient, verifier: &str) -> Value {
    jwt_claims(&id_token_at(b, app, client, verifier).await)
}

#[tokio::test]
async fn a_passkey_added_on_the_account_page_signs_in_alone_at_the_phishing_resistant_level() {
    let app = TestApp::builder().localhost().spawn().await;
    let client = rp_client(&app).await;
    let b = browser().await;
    create_user(&app, "ada").await;
    password(&b, &app).await;

    let authenticator = register(&b, &app, "Laptop").await;
    screenshot(&b, "passkeys-01-account").await;
    assert!(b.source().await.unwrap().contains("Laptop"), "the list names it");
    assert_eq!(
        count(&app, "SELECT count(*) FROM passkeys WHERE name = 'Laptop'").await,
        1
    );
    assert_eq!(
        authenticator.credentials().await[0]["isResidentCredential"],
        true,
        "discoverable"
    );
    sign_out(&b, &app).await;
    let saved = authenticator.take_away().await;

    let auth = auth_url(&app, &client, "openid", &[]);
    b.goto(&auth.url).await.unwrap();
    visible(&b, "#passkey-signin").await;
    let _authenticator = Authenticator::holding(&b, &saved).await;
    screenshot(&b, "passkeys-02-signin").await;
    click(&b, "#passkey-signin").await;

    let claims = claims_at(&b, &app, &client, &auth.verifier).await;
    assert_eq!(claims["acr"], "phishing-resistant", "{claims}");
    assert_eq!(
        claims["amr"],
        json!(["hwk", "user", "mfa"]),
        "a device-bound passkey (RFC 8176)"
    );
    let used = "SELECT count(*) FROM passkeys WHERE last_used_at IS NOT NULL";
    assert_eq!(count(&app, used).await, 1, "its use recorded");
}

#[tokio::test]
async fn the_username_fields_autofill_signs_in_with_a_passkey() {
    let app = TestApp::builder().localhost().spawn().await;
    let b = browser().await;
    let saved = ada_with_a_passkey(&b, &app).await;
    let _authenticator = Authenticator::holding(&b, &saved).await;
    b.goto(&app.url("/signin")).await.unwrap();
    let html = b.source().await.unwrap();
    assert!(html.contains("autocomplete=\"username webauthn\""), "{html}");
    let signed_in = b
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath("//h1[text()='You are signed in']"))
        .await;
    assert!(
        signed_in.is_ok(),
        "conditional mediation signed in: {}",
        b.source().await.unwrap()
    );
}

#[tokio::test]
async fn a_passkey_serves_as_the_second_step_after_a_password() {
    let app = TestApp::builder().localhost().spawn().await;
    let client = rp_client(&app).await;
    let b = browser().await;
    let saved = ada_with_a_passkey(&b, &app).await;

    let auth = auth_url(&app, &client, "openid", &[]);
    b.goto(&auth.url).await.unwrap();
    fill(&b, "#username", "ada").await;
    fill(&b, "#password", PASSWORD).await;
    click(&b, "form[action='/signin'] button[type=submit]").await;
    visible(&b, "#passkey-step").await;
    screenshot(&b, "passkeys-03-second-step").await;
    assert!(
        b.find(Locator::Css("#code")).await.is_err(),
        "no code form: no authenticator app"
    );
    let _authenticator = Authenticator::holding(&b, &saved).await;
    click(&b, "#passkey-step").await;

    let claims = claims_at(&b, &app, &client, &auth.verifier).await;
    assert_eq!(claims["amr"], json!(["pwd", "hwk", "mfa"]), "{claims}");
    assert_eq!(claims["acr"], "phishing-resistant");
}

#[tokio::test]
async fn a_removed_passkey_no_longer_signs_in() {
    let app = TestApp::builder().localhost().spawn().await;
    let b = browser().await;
    create_user(&app, "ada").await;
    password(&b, &app).await;
    let authenticator = register(&b, &app, "Old phone").await;
    // Signed in with the password alone: removing the passkey asks for it first.
    click(&b, "form[action='/account/passkeys/remove'] button").await;
    visible(&b, "#passkey-step").await;
    click(&b, "#passkey-step").await;
    visible(&b, "form[action='/account/passkeys/remove'] button").await;
    click(&b, "form[action='/account/passkeys/remove'] button").await;
    b.wait()
        .for_element(Locator::XPath("//p[@id='passkeys-done' and contains(., 'removed')]"))
        .await
        .unwrap();
    screenshot(&b, "passkeys-04-removed").await;
    assert_eq!(count(&app, "SELECT count(*) FROM passkeys").await, 0);
    sign_out(&b, &app).await;
    let saved = authenticator.take_away().await;
    assert_eq!(saved.len(), 1, "the browser still holds it");

    let _authenticator = signin_page_holding(&b, &app, &saved).await;
    click(&b, "#passkey-signin").await;
    let error = passkey_error(&b).await;
    assert!(error.contains("not registered"), "{error}");
    screenshot(&b, "passkeys-05-removed-refused").await;
}

/// Runs a passwordless ceremony from the page and posts its answer twice;
/// returns both statuses and the second answer's body.
const REPLAY: &str = r#"
const done = arguments[arguments.length - 1];
const b64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const buf = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)).buffer;
const csrf = document.getElementById("passkey-signin").dataset.csrf;
const post = (path, body) => fetch(path, { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body) });
(async () => {
  const { ceremony, options } = await (await post("/signin/passkey/options", { conditional: false })).json();
  options.publicKey.challenge = buf(options.publicKey.challenge);
  const cred = await navigator.credentials.get({ publicKey: options.publicKey });
  const r = cred.response;
  const credential = { id: cred.id, rawId: b64(cred.rawId), type: cred.type, extensions: {},
    response: { authenticatorData: b64(r.authenticatorData), clientDataJSON: b64(r.clientDataJSON), signature: b64(r.signature), userHandle: b64(r.userHandle) } };
  const first = await post("/signin/passkey", { ceremony, credential });
  const second = await post("/signin/passkey", { ceremony, credential });
  done([first.status, second.status, await second.json()]);
})().catch((e) => done(String(e)));
"#;

#[tokio::test]
async fn a_replayed_ceremony_is_refused() {
    let app = TestApp::builder().localhost().spawn().await;
    let b = browser().await;
    let saved = ada_with_a_passkey(&b, &app).await;
    let _authenticator = signin_page_holding(&b, &app, &saved).await;
    let answers = b.execute_async(REPLAY, vec![]).await.unwrap();
    assert_eq!(answers[0], 200, "the first answer signs in: {answers}");
    assert_eq!(answers[1], 400, "the same ceremony again: {answers}");
    assert_eq!(answers[2]["error"], "invalid_request", "{answers}");
}

#[tokio::test]
async fn a_passkey_that_does_not_verify_its_user_is_refused() {
    let app = TestApp::builder().localhost().spawn().await;
    let b = browser().await;
    let saved = ada_with_a_passkey(&b, &app).await;
    let authenticator = signin_page_holding(&b, &app, &saved).await;
    authenticator.set_user_verified(false).await;
    click(&b, "#passkey-signin").await;
    let error = passkey_error(&b).await;
    assert!(error.contains("not used"), "{error}");
    let live = "SELECT count(*) FROM sessions WHERE ended_at IS NULL";
    assert_eq!(count(&app, live).await, 0, "no session");
}

#[tokio::test]
async fn a_cloned_authenticator_is_refused_and_audited() {
    let app = TestApp::builder().localhost().spawn().await;
    let b = browser().await;
    let mut saved = ada_with_a_passkey(&b, &app).await;
    // A copy of the key made before its last use: its counter is behind.
    saved[0]["signCount"] = json!(0);
    let _authenticator = signin_page_holding(&b, &app, &saved).await;
    click(&b, "#passkey-signin").await;
    let error = passkey_error(&b).await;
    assert!(error.contains("signature counter"), "{error}");
    app.audit_written().await;
    let events = "SELECT count(*) FROM audit_events WHERE kind = 'security' AND outcome = 'refused'";
    assert_eq!(count(&app, events).await, 1, "a security event");
    assert_eq!(
        count(&app, "SELECT count(*) FROM passkeys").await,
        1,
        "kept: no lock-out by a clone"
    );
}

#[tokio::test]
async fn an_api_at_phishing_resistant_refuses_a_code_sign_in_and_the_session_steps_up_with_a_passkey() {
    const API: &str = "https://vault.example/api";
    let app = TestApp::builder().localhost().spawn().await;
    let client = rp_client(&app).await;
    create_user(&app, "ada").await;
    crate::two_step::sign_in(&app, "ada").await;
    let totp = crate::two_step::set_up_authenticator(&app).await;
    crate::support::create_api(&app, API, &["open"], None, &["rp"]).await;
    crate::support::allow(&app, "rp", API, &["open"]).await;
    crate::support::lanyard(&["api", "update", API, "--min-acr", "phishing-resistant"])
        .db(&app.db)
        .run()
        .await
        .assert_ok();
    app.settle().await;
    let b = browser().await;
    password(&b, &app).await;
    fill(&b, "#code", &totp.next_code(&app)).await;
    click(&b, "form[action='/signin/step'] button[type=submit]").await;
    let authenticator = register(&b, &app, "Laptop").await;
    let saved = authenticator.take_away().await;

    let plain = auth_url(&app, &client, "openid", &[]);
    b.goto(&plain.url).await.unwrap();
    let id_token = id_token_at(&b, &app, &client, &plain.verifier).await;
    assert_eq!(jwt_claims(&id_token)["acr"], "mfa", "password and code");
    let refused = app.exchange(&client, &id_token, &[("resource", API)]).await;
    let (status, error) = crate::support::error_of(refused).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "insufficient_user_authentication"),
        "RFC 9470"
    );
    let auth = auth_url(&app, &client, "openid", &[("resource", API)]);
    b.goto(&auth.url).await.unwrap();
    visible(&b, "#passkey-step").await;
    screenshot(&b, "passkeys-06-step-up").await;
    assert!(
        b.find(Locator::Css("#code")).await.is_err(),
        "a code cannot reach phishing-resistant"
    );
    let _authenticator = Authenticator::holding(&b, &saved).await;
    click(&b, "#passkey-step").await;
    let id_token = id_token_at(&b, &app, &client, &auth.verifier).await;
    let claims = jwt_claims(&id_token);
    assert_eq!(claims["acr"], "phishing-resistant", "{claims}");
    assert_eq!(claims["amr"], json!(["pwd", "otp", "hwk", "mfa"]), "{claims}");
    let res = app.exchange(&client, &id_token, &[("resource", API)]).await;
    assert_eq!(res.status(), 200, "the API's level is reached");
}

#[tokio::test]
async fn a_disabled_persons_passkey_is_refused_before_its_use_is_recorded() {
    let app = TestApp::builder().localhost().spawn().await;
    let b = browser().await;
    let saved = ada_with_a_passkey(&b, &app).await;
    crate::support::lanyard(&["user", "disable", "ada"])
        .db(&app.db)
        .run()
        .await
        .assert_ok();
    let _authenticator = signin_page_holding(&b, &app, &saved).await;
    click(&b, "#passkey-signin").await;
    let error = passkey_error(&b).await;
    assert!(error.contains("disabled"), "{error}");
    let used = "SELECT count(*) FROM passkeys WHERE last_used_at IS NOT NULL";
    assert_eq!(count(&app, used).await, 0, "nothing recorded for a disabled account");
}
